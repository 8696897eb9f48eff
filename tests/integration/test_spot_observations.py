"""Intermittent observations through Kafka, the consumer and Cassandra: a sick patient
observed every 2 minutes alarms at the first observation (IEC 60601-1-8 alarm condition
delays are for continuous signals), and a partial reading does not reset consciousness
or supplemental oxygen to alert / air."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer

import vitals
from tests.helpers import KAFKA, committed_and_end, start_consumer, wait_until

pytestmark = pytest.mark.services
DEFAULT_RULES = Path(vitals.__file__).parent / "default_rules.yaml"

T0 = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
SICK = {
    "heart_rate": 135,
    "spo2": 88,
    "blood_pressure": {"systolic": 85, "diastolic": 50},
    "respiratory_rate": 28,
    "temperature": 39.5,
    "consciousness": "V",
    "on_oxygen": True,
}


def send(topic: str, messages: list[dict]) -> None:
    p = KafkaProducer(bootstrap_servers=KAFKA, acks="all")
    for m in messages:
        p.send(topic, key=m["patient_id"].encode(), value=json.dumps(m).encode())
    p.flush()
    p.close()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def consume_all(topics, keyspace, expected: int) -> None:
    """Run the consumer with the shipped default rules (delays, grace) until all committed."""
    c = start_consumer(topics, keyspace, "--rules", str(DEFAULT_RULES))
    try:
        wait_until(
            lambda: committed_and_end(topics.vitals, topics.group) == (expected, expected),
            60,
            f"{expected} records committed",
        )
    finally:
        c.stop()


def test_a_sick_patient_observed_every_two_minutes_alarms_at_the_first_observation(
    topics, keyspace, session
):
    pid = f"SPOT-{uuid.uuid4().hex[:6]}"
    send(
        topics.vitals,
        [{"patient_id": pid, "timestamp": at(120 * i).isoformat(), **SICK} for i in range(3)],
    )
    consume_all(topics, keyspace, 3)
    rows = session.execute(
        f"SELECT timestamp, rule, kind FROM {keyspace}.patient_alerts "
        "WHERE patient_id = %s AND day IN (%s, %s)",
        (pid, T0.date(), at(240).date()),
    ).all()
    raised = {(r.rule, r.timestamp.replace(tzinfo=UTC)) for r in rows if r.kind == "raised"}
    rules = ["high_heart_rate", "low_spo2", "low_systolic", "high_respiratory_rate", "fever"]
    assert raised == {(rule, T0) for rule in [*rules, "news2"]}


def test_a_partial_reading_keeps_consciousness_and_oxygen_and_stores_them_as_unobserved(
    topics, keyspace, session
):
    pid = f"SICK-{uuid.uuid4().hex[:6]}"
    first = {"patient_id": pid, "timestamp": at(0).isoformat(), **SICK}
    partial = {"patient_id": pid, "timestamp": at(10).isoformat(), "heart_rate": 137}
    send(topics.vitals, [first, partial])
    consume_all(topics, keyspace, 2)
    row = session.execute(
        f"SELECT news2, consciousness, on_oxygen FROM {keyspace}.patient_vitals "
        "WHERE patient_id = %s AND day = %s AND timestamp = %s",
        (pid, at(10).date(), at(10)),
    ).one()
    assert (row.news2, row.consciousness, row.on_oxygen) == (19, None, None)  # not 14, A, air
    latest = session.execute(
        f"SELECT heart_rate, consciousness, on_oxygen FROM {keyspace}.patient_latest "
        "WHERE patient_id = %s",
        (pid,),
    ).one()
    assert (latest.heart_rate, latest.consciousness, latest.on_oxygen) == (137, "V", True)


def alerts_of(session, keyspace, pid: str) -> set[tuple[str, str, datetime]]:
    rows = session.execute(
        f"SELECT timestamp, rule, kind FROM {keyspace}.patient_alerts "
        "WHERE patient_id = %s AND day IN (%s, %s)",
        (pid, at(0).date(), at(120).date()),
    ).all()
    return {(r.rule, r.kind, r.timestamp.replace(tzinfo=UTC)) for r in rows}


def test_a_cuff_result_dated_before_the_newest_reading_alarms(topics, keyspace, session):
    """The cuff cycle completes after that minute's HR/SpO2 readings (a late reading)."""
    pid = f"LATE-{uuid.uuid4().hex[:6]}"
    stream = [
        {"patient_id": pid, "timestamp": at(s).isoformat(), "heart_rate": 80, "spo2": 97}
        for s in range(0, 65, 5)
    ]
    cuff = {"patient_id": pid, "timestamp": at(30).isoformat()}
    send(topics.vitals, [*stream, {**cuff, "blood_pressure": {"systolic": 62, "diastolic": 38}}])
    consume_all(topics, keyspace, len(stream) + 1)
    assert ("low_systolic", "raised", at(30)) in alerts_of(session, keyspace, pid)


def test_a_two_reading_artifact_after_a_consumer_restart_does_not_alarm(topics, keyspace, session):
    """The new owner seeds the heart rate's newest time: the stream keeps its 15 s delay."""
    pid = f"ART-{uuid.uuid4().hex[:6]}"

    def hr(s: int, v: int) -> dict:
        return {"patient_id": pid, "timestamp": at(s).isoformat(), "heart_rate": v}

    send(topics.vitals, [hr(s, 80) for s in range(11)])
    consume_all(topics, keyspace, 11)
    send(topics.vitals, [hr(11, 175), hr(12, 175)] + [hr(s, 80) for s in range(13, 41)])
    consume_all(topics, keyspace, 41)
    assert {a for a in alerts_of(session, keyspace, pid) if a[0] == "high_heart_rate"} == set()
