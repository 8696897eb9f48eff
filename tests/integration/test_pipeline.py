"""The pipeline against the real servers: produce → Kafka → consumer group → Cassandra."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer

from tests.helpers import (
    CASSANDRA_PORT,
    KAFKA,
    ROOT,
    committed_and_end,
    read_topic,
    start_consumer,
    stored_rows,
    vitals_env,
    wait_until,
)
from vitals.producer import VitalsProducer
from vitals.sources import Ward

pytestmark = pytest.mark.services


def ids(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:6].upper()
    return [f"{tag}-{i:03d}" for i in range(1, n + 1)]


def produce(kafka_settings, topic: str, patients: list[str], per_patient: int) -> list:
    ward = Ward(patients, seed=1)
    sent = []
    start = datetime.now(UTC) - timedelta(hours=1)
    with VitalsProducer(kafka=kafka_settings, topic=topic) as producer:
        for i in range(per_patient):
            for pid in patients:
                r = ward.next_reading(pid, start + timedelta(seconds=i))
                producer.send(r)
                sent.append(r)
    assert producer.stats.acked == len(sent) and producer.stats.failed == 0
    return sent


def test_two_consumers_in_one_group_store_exactly_what_was_sent(
    kafka_settings, topics, keyspace, session
):
    patients = ids(3)
    a = start_consumer(topics, keyspace)
    b = start_consumer(topics, keyspace)
    sent = produce(kafka_settings, topics.vitals, patients, 200)

    wait_until(
        lambda: committed_and_end(topics.vitals, topics.group)[0] == 600,
        60,
        "the group to commit all 600 readings",
    )
    rows = stored_rows(session, keyspace, patients)
    assert len(rows) == 600
    by_key = {(r.patient_id, r.timestamp.replace(tzinfo=UTC)): r for r in rows}
    for s in sent:
        row = by_key[(s.patient_id, s.timestamp)]
        assert (row.heart_rate, row.spo2, row.systolic, row.diastolic) == (
            s.heart_rate,
            s.spo2,
            s.systolic,
            s.diastolic,
        )
        assert (row.respiratory_rate, round(row.temperature, 1)) == (
            s.respiratory_rate,
            s.temperature,
        )
        assert row.day == s.timestamp.date()
    assert a.stop() == 0 and b.stop() == 0
    for member in (a, b):
        assigned = [ln for ln in member.err if ln.startswith("Partitions assigned:")]
        assert any(topics.vitals in ln for ln in assigned), member.text()


def test_seed_json_from_a_plain_kafka_client_is_stored(topics, keyspace, session):
    pid = ids(1)[0]
    seed_message = {
        "patient_id": pid,
        "timestamp": "2025-10-26T10:30:15.123456+00:00",
        "heart_rate": 95,
        "spo2": 98,
        "blood_pressure": {"systolic": 120, "diastolic": 80},
        "respiratory_rate": 16,
        "temperature": 36.8,
    }
    p = KafkaProducer(bootstrap_servers=KAFKA)
    p.send(topics.vitals, json.dumps(seed_message).encode()).get(10)
    p.close()
    c = start_consumer(topics, keyspace)
    wait_until(lambda: stored_rows(session, keyspace, [pid]), 30, "the seed message stored")
    c.stop()
    (row,) = stored_rows(session, keyspace, [pid])
    assert row.timestamp == datetime(2025, 10, 26, 10, 30, 15, 123000)
    assert (row.heart_rate, row.spo2, row.systolic, row.diastolic) == (95, 98, 120, 80)
    assert (row.respiratory_rate, round(row.temperature, 1)) == (16, 36.8)
    assert str(row.day) == "2025-10-26"


def test_a_reading_without_timestamp_takes_its_kafka_record_time(topics, keyspace, session):
    pid = ids(1)[0]
    msg = {
        "patient_id": pid,
        "heart_rate": 70,
        "spo2": 97,
        "systolic": 118,
        "diastolic": 76,
        "respiratory_rate": 14,
        "temperature": 36.6,
    }
    produced_ms = 1_761_474_615_250
    p = KafkaProducer(bootstrap_servers=KAFKA)
    p.send(topics.vitals, json.dumps(msg).encode(), timestamp_ms=produced_ms).get(10)
    p.close()
    c = start_consumer(topics, keyspace)
    wait_until(lambda: stored_rows(session, keyspace, [pid]), 30, "the message stored")
    c.stop()
    (row,) = stored_rows(session, keyspace, [pid])
    assert row.timestamp == datetime(2025, 10, 26, 10, 30, 15, 250000)


def test_garbage_goes_to_the_dead_letter_topic_while_valid_readings_are_stored(
    kafka_settings, topics, keyspace, session
):
    pid = ids(1)[0]
    good = {
        "patient_id": pid,
        "timestamp": "2025-10-26T10:00:00+00:00",
        "heart_rate": 80,
        "spo2": 97,
        "blood_pressure": {"systolic": 120, "diastolic": 80},
        "respiratory_rate": 15,
        "temperature": 36.7,
    }
    garbage = [
        (b"not json at all", "not valid JSON"),
        (b"\xff\xfe\xfd", "not valid UTF-8"),
        (b"[1, 2, 3]", "expected a JSON object"),
        (json.dumps({**good, "heart_rate": -5}).encode(), "heart_rate: -5"),
        (json.dumps({**good, "spo2": "98"}).encode(), "spo2: expected a number"),
        (
            json.dumps({k: v for k, v in good.items() if k != "patient_id"}).encode(),
            "patient_id: missing",
        ),
    ]
    p = KafkaProducer(bootstrap_servers=KAFKA)
    for i, (bad, _reason) in enumerate(garbage):
        ok = {**good, "timestamp": f"2025-10-26T10:00:{i:02d}+00:00"}
        p.send(topics.vitals, key=pid.encode(), value=json.dumps(ok).encode())
        p.send(topics.vitals, key=pid.encode(), value=bad)
    p.send(topics.vitals, key=pid.encode(), value=None)  # a tombstone
    p.flush()
    p.close()
    c = start_consumer(topics, keyspace)
    dead = read_topic(topics.dlq, len(garbage) + 1)
    c.stop()
    assert len(stored_rows(session, keyspace, [pid])) == len(garbage)
    for record, (bad, reason) in zip(dead, [*garbage, (None, "empty message")], strict=True):
        headers = dict(record.headers)
        assert record.value == bad
        assert reason in headers["vitals.error"].decode()
        assert headers["vitals.source.topic"].decode() == topics.vitals
        assert int(headers["vitals.source.offset"]) >= 0


def test_sigint_commits_and_a_restarted_consumer_rereads_nothing(
    kafka_settings, topics, keyspace, session
):
    patients = ids(4)
    produce(kafka_settings, topics.vitals, patients, 50)
    c = start_consumer(topics, keyspace)
    wait_until(lambda: len(stored_rows(session, keyspace, patients)) == 200, 30, "200 rows")
    assert c.stop(signal.SIGINT) == 0
    committed, end = committed_and_end(topics.vitals, topics.group)
    assert committed == end == 200
    again = start_consumer(topics, keyspace)
    assert again.stop(signal.SIGINT) == 0
    assert "consumed 0," in again.text()


def test_csv_in_the_seed_format_replays(topics, keyspace, session):
    env = vitals_env(topics, keyspace)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vitals",
            "produce",
            "--mode",
            "csv",
            "--csv",
            str(ROOT / "sample_data" / "vitals.csv"),
            "--interval",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("SENT ") == 12
    c = start_consumer(topics, keyspace)
    wait_until(lambda: committed_and_end(topics.vitals, topics.group)[0] == 12, 30, "12 commits")
    c.stop()
    assert len(stored_rows(session, keyspace, ["P001", "P002", "P003"])) >= 12


def test_a_csv_with_a_bad_row_names_its_line_and_sends_nothing(topics, keyspace, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "patient_id,heart_rate,spo2,systolic,diastolic,respiratory_rate,temperature\n"
        "P001,78,98,122,79,15,36.8\n"
        "P002,ninety,96,131,84,18,37.2\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "vitals", "produce", "--mode", "csv", "--csv", str(bad)],
        env=vitals_env(topics, keyspace),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == f"Error: {bad}:3: heart_rate: 'ninety' is not a number"
    assert committed_and_end(topics.vitals, topics.group)[1] == 0


@pytest.mark.skipif(
    shutil.which("cqlsh", path=str(Path(sys.executable).parent)) is None,
    reason="cqlsh is installed by requirements-dev.txt",
)
def test_staff_read_the_rows_back_with_cqlsh(kafka_settings, topics, keyspace, session):
    pid = ids(1)[0]
    produce(kafka_settings, topics.vitals, [pid], 5)
    c = start_consumer(topics, keyspace)
    wait_until(lambda: len(stored_rows(session, keyspace, [pid])) == 5, 30, "5 rows")
    c.stop()
    cqlsh = str(Path(sys.executable).parent / "cqlsh")
    out = subprocess.run(
        [
            cqlsh,
            "127.0.0.1",
            str(CASSANDRA_PORT),
            "-e",
            f"SELECT patient_id, heart_rate FROM {keyspace}.patient_vitals "
            f"WHERE patient_id = '{pid}' LIMIT 10;",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(pid) == 5
    assert "(5 rows)" in out.stdout
