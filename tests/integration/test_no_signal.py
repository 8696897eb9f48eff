"""Values that mean "no signal", end to end: asystole alarms at once, a probe off is technical."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from tests.helpers import (
    KAFKA,
    committed_and_end,
    read_topic,
    start_consumer,
    vitals_env,
    wait_until,
)

pytestmark = pytest.mark.services

NORMAL = {
    "heart_rate": 72,
    "spo2": 97,
    "blood_pressure": {"systolic": 122, "diastolic": 76},
    "respiratory_rate": 15,
    "temperature": 36.8,
}


def test_asystole_and_a_probe_off_raise_their_alarms_within_one_poll(topics, keyspace, session):
    pid = f"NS-{uuid.uuid4().hex[:6]}"
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    messages = [
        NORMAL,
        {**NORMAL, "heart_rate": 0},
        {**NORMAL, "spo2": 0},
        {**NORMAL, "status": {"spo2": "probe_off"}},
    ]
    p = KafkaProducer(bootstrap_servers=KAFKA, acks="all")
    for i, m in enumerate(messages):
        doc = {"patient_id": pid, "timestamp": (t0 + timedelta(seconds=5 * i)).isoformat(), **m}
        p.send(topics.vitals, key=pid.encode(), value=json.dumps(doc).encode())
    p.flush()
    p.close()
    env = vitals_env(topics, keyspace)
    env.pop("VITALS_RULES", None)  # the shipped default rules
    c = start_consumer(topics, keyspace, env=env)
    try:
        wait_until(
            lambda: committed_and_end(topics.vitals, topics.group) == (4, 4), 60, "4 committed"
        )
    finally:
        c.stop()
    published = [json.loads(r.value) for r in read_topic(topics.alerts, 2)]
    got = {(a["rule"], a["kind"], a["severity"]) for a in published}
    assert ("no_pulse", "raised", "high") in got  # at the reading with heart rate 0
    assert ("spo2_no_signal", "raised", "low") in got
    rows = session.execute(
        f"SELECT rule, severity, message FROM {keyspace}.active_alerts WHERE patient_id = %s",
        (pid,),
    ).all()
    technical = [r for r in rows if r.rule.startswith("spo2_")]
    assert technical and technical[0].message.endswith("(technical)")
    stored = session.execute(
        f"SELECT heart_rate, spo2, status FROM {keyspace}.patient_vitals WHERE patient_id = %s",
        (pid,),
    ).all()
    seen = [(r.heart_rate, r.spo2, dict(r.status or {})) for r in stored]
    assert (0, 97, {}) in seen  # asystole is kept as a reading
    assert (72, None, {"spo2": "no_signal"}) in seen  # SpO2 0: no value, a technical status
