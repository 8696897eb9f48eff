"""`vitals init --retention-days`: the tables' default_time_to_live, read back from
system_schema, and a reading written under a 2-second retention gone after it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from tests.conftest import ROOT, vitals_env, wait_until

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


def test_retention_sets_the_time_series_tables_ttl_and_says_so(topics, keyspace, session):
    done = init(topics, keyspace, "--retention-days", "30")
    assert done.returncode == 0, done.stderr
    assert "readings and alert history are kept 30 days" in done.stdout
    t = ttls(session, keyspace)
    assert t["patient_vitals"] == t["patient_alerts"] == 30 * 86_400
    assert t["patient_latest"] == 0  # the board's latest state is not history
    # without the option, init leaves the retention as it was
    again = init(topics, keyspace)
    assert again.returncode == 0, again.stderr
    assert "kept" not in again.stdout
    assert ttls(session, keyspace)["patient_vitals"] == 30 * 86_400


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
    assert "kept forever" in back.stdout
    assert ttls(session, keyspace)["patient_vitals"] == 0


def test_a_negative_retention_is_refused(topics, keyspace):
    done = init(topics, keyspace, "--retention-days", "-1")
    assert done.returncode == 2
    assert "Invalid value for '--retention-days'" in done.stderr


def test_the_time_series_tables_are_compacted_by_day(keyspace, session):
    rows = session.execute(
        "SELECT table_name, compaction FROM system_schema.tables WHERE keyspace_name = %s",
        (keyspace,),
    )
    compaction = {r.table_name: r.compaction for r in rows}
    for table in ("patient_vitals", "patient_alerts"):
        assert compaction[table]["class"].endswith("TimeWindowCompactionStrategy"), compaction
        assert compaction[table]["compaction_window_unit"] == "DAYS"
        assert compaction[table]["compaction_window_size"] == "1"
