"""`vitals init --retention-days/--alert-retention-days/--audit-retention-days`: the tables'
default_time_to_live, read back from system_schema (each kind on its own clock, the defaults
of a new keyspace), and a reading written under a 2-second retention gone after it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest

from tests.helpers import ROOT, vitals_env, wait_until

pytestmark = pytest.mark.services

TWO_SECONDS_IN_DAYS = 2 / 86_400


def init(topics, keyspace, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vitals", "init", "--partitions", "1", *args],
        env=vitals_env(topics, keyspace),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def ttls(session, keyspace: str) -> dict[str, int]:
    rows = session.execute(
        "SELECT table_name, default_time_to_live FROM system_schema.tables "
        "WHERE keyspace_name = %s",
        (keyspace,),
    )
    return {r.table_name: r.default_time_to_live for r in rows}


DAY = 86_400
ALERT_TABLES = ("patient_alerts", "alarm_audio_pauses")
AUDIT_TABLES = ("access_audit", "access_audit_by_hour")


def test_retention_sets_the_readings_ttl_only_and_says_so(topics, keyspace, session):
    done = init(topics, keyspace, "--retention-days", "30")
    assert done.returncode == 0, done.stderr
    assert "Cassandra: readings kept 30 days (rows written from now on)" in done.stdout
    t = ttls(session, keyspace)
    assert t["patient_vitals"] == 30 * DAY
    assert [t[x] for x in ALERT_TABLES + AUDIT_TABLES] == [0, 0, 0, 0]  # their own options
    assert t["patient_latest"] == 0  # the board's latest state is not history
    # without the option, init leaves the retention as it was
    again = init(topics, keyspace)
    assert again.returncode == 0, again.stderr
    assert "kept" not in again.stdout
    assert ttls(session, keyspace)["patient_vitals"] == 30 * 86_400


def test_alert_history_and_the_audit_trail_keep_their_own_retention(topics, keyspace, session):
    done = init(
        topics, keyspace, "--retention-days", "30", "--alert-retention-days", "2922",
        "--audit-retention-days", "2192",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Cassandra: alert history kept 2922 days" in done.stdout
    assert "Cassandra: audit trail kept 2192 days" in done.stdout
    t = ttls(session, keyspace)
    assert t["patient_vitals"] == 30 * DAY
    assert [t[x] for x in ALERT_TABLES] == [2922 * DAY] * 2
    assert [t[x] for x in AUDIT_TABLES] == [2192 * DAY] * 2


def test_a_new_keyspace_gets_the_stated_defaults_and_a_second_init_keeps_them(topics, session):
    fresh = f"t_{uuid.uuid4().hex[:12]}"
    try:
        done = init(topics, fresh)
        assert done.returncode == 0, done.stderr
        assert "Cassandra: alert history kept 2922 days" in done.stdout
        assert "Cassandra: audit trail kept 2192 days" in done.stdout
        assert "readings kept" not in done.stdout
        t = ttls(session, fresh)
        assert t["patient_vitals"] == 0  # readings: until --retention-days says otherwise
        assert [t[x] for x in ALERT_TABLES + AUDIT_TABLES] == [2922 * DAY] * 2 + [2192 * DAY] * 2
        init(topics, fresh, "--audit-retention-days", "400")
        again = init(topics, fresh)  # an existing keyspace: every retention left as set
        assert again.returncode == 0, again.stderr
        assert "kept" not in again.stdout
        assert ttls(session, fresh)["access_audit"] == 400 * DAY
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {fresh}", timeout=60)


def test_a_reading_is_gone_after_the_retention(topics, keyspace, session):
    done = init(topics, keyspace, "--retention-days", f"{TWO_SECONDS_IN_DAYS:.10f}")
    assert done.returncode == 0, done.stderr
    assert ttls(session, keyspace)["patient_vitals"] == 2
    now = datetime.now(UTC)
    session.execute(
        f"INSERT INTO {keyspace}.patient_vitals (patient_id, day, timestamp, heart_rate) "
        "VALUES (%s, %s, %s, 80)",
        ("RET-1", now.date(), now),
    )
    select = f"SELECT heart_rate FROM {keyspace}.patient_vitals WHERE patient_id = %s AND day = %s"
    assert session.execute(select, ("RET-1", now.date())).one().heart_rate == 80
    wait_until(
        lambda: session.execute(select, ("RET-1", now.date())).one() is None,
        20,
        "the reading expired",
    )
    back = init(topics, keyspace, "--retention-days", "0")
    assert "readings kept forever" in back.stdout
    assert ttls(session, keyspace)["patient_vitals"] == 0


@pytest.mark.parametrize(
    "option", ["--retention-days", "--alert-retention-days", "--audit-retention-days"]
)
def test_a_negative_retention_is_refused(topics, keyspace, option):
    done = init(topics, keyspace, option, "-1")
    assert done.returncode == 2
    assert f"Invalid value for '{option}'" in done.stderr


def test_the_time_series_tables_are_compacted_by_day(keyspace, session):
    rows = session.execute(
        "SELECT table_name, compaction FROM system_schema.tables WHERE keyspace_name = %s",
        (keyspace,),
    )
    compaction = {r.table_name: r.compaction for r in rows}
    for table in ("patient_vitals", "patient_alerts", *AUDIT_TABLES):
        assert compaction[table]["class"].endswith("TimeWindowCompactionStrategy"), compaction
        assert compaction[table]["compaction_window_unit"] == "DAYS"
        assert compaction[table]["compaction_window_size"] == "1"
