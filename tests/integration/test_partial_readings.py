"""Readings as monitors send them, against the real servers: any subset of the vitals.

A vital not measured is stored as absent (left unset: no null cell, no tombstone),
NEWS2 uses each parameter's freshest value within its window or is stored as
incomplete, and ``vitals init`` upgrades an existing schema in place.
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from tests.helpers import KAFKA, committed_and_end, read_topic, start_consumer, wait_until

pytestmark = pytest.mark.services

T0 = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
FULL = {
    "heart_rate": 80,
    "spo2": 97,
    "blood_pressure": {"systolic": 120, "diastolic": 80},
    "respiratory_rate": 16,
    "temperature": 36.8,
}


def send(topic: str, messages: list[dict]) -> None:
    p = KafkaProducer(bootstrap_servers=KAFKA, acks="all")
    for m in messages:
        p.send(topic, key=m["patient_id"].encode(), value=json.dumps(m).encode())
    p.flush()
    p.close()


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def consume_all(topics, keyspace, expected: int) -> None:
    c = start_consumer(topics, keyspace)
    try:
        wait_until(
            lambda: committed_and_end(topics.vitals, topics.group) == (expected, expected),
            60,
            f"{expected} records committed",
        )
    finally:
        c.stop()


def row(session, keyspace: str, pid: str, minutes: float):
    ts = T0 + timedelta(minutes=minutes)
    return session.execute(
        f"SELECT * FROM {keyspace}.patient_vitals WHERE patient_id = %s AND day = %s "
        "AND timestamp = %s",
        (pid, ts.date(), ts),
    ).one()


def test_a_pulse_oximeter_reading_is_stored_with_its_two_vitals_and_nothing_else(
    topics, keyspace, session
):
    pid = f"OX-{uuid.uuid4().hex[:6]}"
    send(topics.vitals, [{"patient_id": pid, "timestamp": at(0), "heart_rate": 72, "spo2": 96}])
    consume_all(topics, keyspace, 1)
    r = row(session, keyspace, pid, 0)
    assert (r.heart_rate, r.spo2) == (72, 96)
    assert (r.systolic, r.diastolic, r.respiratory_rate, r.temperature) == (None,) * 4
    assert r.news2 is None  # never scored as if the missing parameters were normal
    assert r.news2_missing == {"respiratory_rate", "blood_pressure", "temperature"}


def test_an_absent_vital_writes_no_cell_so_it_cannot_erase_a_value(topics, keyspace, session):
    """Replaying a partial message over a complete row of the same time keeps every value:
    absent vitals were left unset, not written as null (a null would be a tombstone)."""
    pid = f"UN-{uuid.uuid4().hex[:6]}"
    full = {"patient_id": pid, "timestamp": at(0), **FULL}
    partial = {"patient_id": pid, "timestamp": at(0), "heart_rate": 81}
    send(topics.vitals, [full, partial])
    consume_all(topics, keyspace, 2)
    r = row(session, keyspace, pid, 0)
    assert (r.heart_rate, r.spo2, r.systolic, round(r.temperature, 1)) == (81, 97, 120, 36.8)
    latest = session.execute(
        f"SELECT spo2, WRITETIME(spo2), heart_rate FROM {keyspace}.patient_latest "
        "WHERE patient_id = %s",
        (pid,),
    ).one()
    assert latest.spo2 == 97
    assert latest.writetime_spo2 == int(T0.timestamp() * 1_000_000)  # when it was measured


def test_news2_uses_a_blood_pressure_ten_minutes_old_and_is_incomplete_past_its_window(
    topics, keyspace, session
):
    pid = f"BP-{uuid.uuid4().hex[:6]}"
    no_bp = {k: v for k, v in FULL.items() if k != "blood_pressure"}
    send(
        topics.vitals,
        [
            {
                "patient_id": pid,
                "timestamp": at(0),
                **FULL,
                "blood_pressure": {"systolic": 95, "diastolic": 60},
            },
            {"patient_id": pid, "timestamp": at(10), **no_bp},
            {"patient_id": pid, "timestamp": at(61), **no_bp},
        ],
    )
    consume_all(topics, keyspace, 3)
    first, ten, late = (row(session, keyspace, pid, m) for m in (0, 10, 61))
    assert first.news2 == 2 and first.news2_basis is None  # systolic 95 scores 2; all its own
    assert ten.news2 == 2 and ten.news2_basis["blood_pressure"] == 600
    assert ten.systolic is None  # the row holds what this reading measured
    assert late.news2 is None and late.news2_missing == {"blood_pressure"}
    latest = session.execute(
        f"SELECT news2, news2_incomplete, systolic FROM {keyspace}.patient_latest "
        "WHERE patient_id = %s",
        (pid,),
    ).one()
    assert (latest.news2_incomplete, latest.systolic) == ("blood_pressure", 95)


def test_nulls_in_optional_fields_are_absent_and_a_reading_without_vitals_is_dead_lettered(
    topics, keyspace, session
):
    pid = f"NU-{uuid.uuid4().hex[:6]}"
    send(
        topics.vitals,
        [
            {
                "patient_id": pid,
                "timestamp": at(0),
                **FULL,
                "temperature": None,
                "consciousness": None,
                "on_oxygen": None,
            },
            {"patient_id": pid, "timestamp": at(1), "heart_rate": None, "consciousness": "V"},
        ],
    )
    consume_all(topics, keyspace, 2)
    r = row(session, keyspace, pid, 0)
    # null consciousness / oxygen: not observed, left unset (never stored as alert / air)
    assert (r.temperature, r.consciousness, r.on_oxygen, r.heart_rate) == (None, None, None, 80)
    (dead,) = read_topic(topics.dlq, 1)
    assert dict(dead.headers)["vitals.error"].decode().startswith("no vital measured")


def test_vitals_init_upgrades_an_existing_schema_in_place(cassandra_base, tmp_path):
    """A keyspace made by the first version (cql 001–004) gains the new columns and tables
    without losing a row; running it again changes nothing."""
    from vitals.errors import ConfigError
    from vitals.store import CQL_DIR, Writer, apply_schema, connect

    old = tmp_path / "cql"
    old.mkdir()
    for f in sorted(CQL_DIR.glob("00[1-4]_*.cql")):
        shutil.copy(f, old / f.name)
    name = f"t_up_{uuid.uuid4().hex[:8]}"
    cluster, session = connect(cassandra_base, keyspace=None)
    try:
        apply_schema(session, name, cql_dir=old)
        session.execute(
            f"INSERT INTO {name}.patient_vitals (patient_id, day, timestamp, heart_rate) "
            "VALUES ('P1', '2026-01-01', '2026-01-01 08:00:00+0000', 70)"
        )
        session.set_keyspace(name)
        with pytest.raises(
            ConfigError, match=r"lacks tables or columns of this version .* run `vitals init`"
        ):
            Writer(session)  # a consumer on the old schema says what to do, no traceback
        apply_schema(session, name)
        apply_schema(session, name)  # idempotent
        Writer(session)
        r = session.execute(
            f"SELECT heart_rate, news2_missing, status FROM {name}.patient_vitals"
        ).one()
        assert (r.heart_rate, r.news2_missing, r.status) == (70, None, None)
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)
        cluster.shutdown()
