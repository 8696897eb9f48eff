"""No record can stop a consumer: a corpus of malformed records against the real servers.

Two consumers of one group read a topic where every kind of malformed record a
device, a gateway or a careless script can send is interleaved with valid
readings. Both stay alive, every valid reading is stored exactly once, every
bad record is on the dead-letter topic exactly once, with its original bytes and
a reason, and the group commits to the end of the topic.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from tests.helpers import (
    KAFKA,
    Topics,
    committed_and_end,
    read_topic,
    start_consumer,
    stored_rows,
    wait_until,
)

pytestmark = pytest.mark.services

BIG = 16 * 1024 * 1024  # the test topic accepts a 10 MB record; the broker default is 1 MB


@pytest.fixture
def big_topics(kafka_settings) -> Topics:
    """Readings topic (3 partitions) that accepts records up to 16 MB, plus alerts and DLQ."""
    tag = uuid.uuid4().hex[:10]
    t = Topics(f"t.{tag}.vitals", f"t.{tag}.alerts", f"t.{tag}.dlq", f"g.{tag}")
    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    admin.create_topics(
        [
            NewTopic(t.vitals, 3, 1, topic_configs={"max.message.bytes": str(BIG)}),
            NewTopic(t.alerts, 3, 1),
            NewTopic(t.dlq, 1, 1),
        ]
    )
    yield t
    try:
        admin.delete_topics([t.vitals, t.alerts, t.dlq])
    finally:
        admin.close()


def reading(pid: str, second: int, **changes: object) -> dict:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return {
        "patient_id": pid,
        "timestamp": (base + timedelta(seconds=second)).isoformat(),
        "heart_rate": 80,
        "spo2": 97,
        "blood_pressure": {"systolic": 120, "diastolic": 80},
        "respiratory_rate": 15,
        "temperature": 36.7,
        **changes,
    }


def malformed(pid: str) -> list[tuple[str, bytes | None, bytes | None, str]]:
    """``(kind, key, value, expected reason)``: at least 20 kinds of bad record."""
    k = pid.encode()
    good = json.dumps(reading(pid, 0)).encode()
    swap = lambda field, v: json.dumps(reading(pid, 0, **{field: v})).encode()  # noqa: E731
    return [
        (
            "invalid UTF-8 inside a string",
            k,
            b'{"patient_id": "BAD\xff\xfe", "heart_rate": 80}',
            "not valid UTF-8",
        ),
        ("invalid UTF-8 as the whole value", k, b"\xff\xfe\xfd\x80", "not valid UTF-8"),
        ("a lone surrogate escape", k, good.replace(pid.encode(), b"\\ud800", 1), "not valid JSON"),
        (
            "a raw NUL byte in a string",
            k,
            good.replace(pid.encode(), b"P\x00", 1),
            "not valid JSON",
        ),
        (
            "an escaped NUL in the patient id",
            k,
            good.replace(pid.encode(), b"P\\u0000", 1),
            "patient_id",
        ),
        (
            "a 10 MB value",
            k,
            good.replace(
                b'"heart_rate": 80', b'"heart_rate": "' + b"9" * (10 * 1024 * 1024) + b'"'
            ),
            "heart_rate: expected a number",
        ),
        (
            "10,000-deep nesting",
            k,
            good[:-1] + b', "n": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
            "nested more than",
        ),
        ("heart_rate as a string", k, swap("heart_rate", "80"), "heart_rate: expected a number"),
        ("spo2 as a boolean", k, swap("spo2", True), "spo2: expected a number"),
        (
            "blood_pressure as a list",
            k,
            swap("blood_pressure", [120, 80]),
            "blood_pressure: expected",
        ),
        (
            "systolic as null beside a diastolic",
            k,
            swap("blood_pressure", {"systolic": None, "diastolic": 80}),
            "blood_pressure: systolic missing",
        ),
        (
            "respiratory_rate as an object",
            k,
            swap("respiratory_rate", {"v": 15}),
            "respiratory_rate: expected a number",
        ),
        ("temperature as a list", k, swap("temperature", [36.8]), "temperature: expected a number"),
        (
            "a blood pressure both nested and flat",
            k,
            json.dumps({**reading(pid, 0), "systolic": 130, "diastolic": 70}).encode(),
            "blood_pressure: given both nested and as systolic/diastolic at the top level",
        ),
        (
            "a misspelt vital",
            k,
            json.dumps({**reading(pid, 0), "sp02": 82}).encode(),
            "sp02: unknown field (did you mean 'spo2'?)",
        ),
        (
            "no vital at all",
            k,
            json.dumps({"patient_id": pid, "consciousness": "A"}).encode(),
            "no vital measured",
        ),
        ("patient_id as a number", k, swap("patient_id", 7), "patient_id: expected a string"),
        ("a Kafka tombstone (null value)", k, None, "empty message"),
        ("zero bytes", k, b"", "empty message"),
        ("a record with no key and no JSON", None, b"garbage without a key", "not valid JSON"),
        ("truncated JSON", k, good[: len(good) // 2], "not valid JSON"),
        ("a JSON array", k, b"[1, 2, 3]", "expected a JSON object"),
        ("a JSON string", k, b'"P001,80,97"', "expected a JSON object"),
        (
            "a number beyond float range",
            k,
            good.replace(b'"heart_rate": 80', b'"heart_rate": 1e400'),
            "heart_rate",
        ),
        (
            "a 400-digit integer",
            k,
            good.replace(b'"heart_rate": 80', b'"heart_rate": 1' + b"0" * 400),
            "heart_rate",
        ),
        ("NaN", k, good.replace(b'"heart_rate": 80', b'"heart_rate": NaN'), "not valid JSON"),
        (
            "a vital given twice",
            k,
            good[:-1] + b', "heart_rate": 150}',
            "heart_rate: given more than once",
        ),
        ("a time without a zone", k, swap("timestamp", "2025-10-26T10:30:15"), "has no time zone"),
        (
            "a time past year 9999 in UTC",
            k,
            swap("timestamp", "9999-12-31T23:59:59-05:00"),
            "out of the range",
        ),
        ("an impossible heart rate", k, swap("heart_rate", 999), "heart_rate: 999"),
        (
            "diastolic above systolic",
            k,
            swap("blood_pressure", {"systolic": 80, "diastolic": 120}),
            "not below systolic",
        ),
        ("a 10 KB patient id", k, swap("patient_id", "P" * 10_000), "is not a patient id"),
        (
            "a patient id a URL would split",
            k,
            swap("patient_id", "W3/12"),
            "patient_id: 'W3/12' is not a patient id (1–64 printable ASCII characters, single "
            "inner spaces, no '/'",
        ),
    ]


def test_no_record_stops_a_consumer_and_none_is_lost_or_repeated(
    kafka_settings, big_topics, keyspace, session
):
    topics = big_topics
    pids = [f"MAL-{uuid.uuid4().hex[:6]}-{i}" for i in range(4)]
    bad = malformed(pids[0])
    assert len({kind for kind, *_ in bad}) >= 20
    valid: list[tuple[bytes | None, dict]] = []
    # a valid reading before and after every bad record, spread over patients (partitions);
    # two of them carry a vital's name elsewhere in the message: still valid, still stored
    for i in range(len(bad) + 1):
        pid = pids[i % len(pids)]
        extra = {}
        if i == 3:
            extra = {"device": {"last_alarm": {"param": "spo2"}}}
        if i == 4:
            extra = {"device": {"serial": "MX-0042", "timestamp": "2025-10-26T10:30:00Z"}}
        valid.append((None if i == 5 else pid.encode(), reading(pid, i, **extra)))
    producer = KafkaProducer(bootstrap_servers=KAFKA, max_request_size=BIG, acks="all")
    futures = []
    for i, (key, doc) in enumerate(valid):
        futures.append(producer.send(topics.vitals, key=key, value=json.dumps(doc).encode()))
        if i < len(bad):
            _, bkey, bvalue, _ = bad[i]
            futures.append(producer.send(topics.vitals, key=bkey, value=bvalue))
    producer.flush()
    producer.close()
    assert all(f.succeeded() for f in futures), [f.exception for f in futures if f.failed()]

    one = start_consumer(topics, keyspace)
    two = start_consumer(topics, keyspace)
    try:
        try:
            dead = read_topic(topics.dlq, len(bad), timeout=90)
        except AssertionError:
            print("ONE", one.text()[-3000:], "TWO", two.text()[-3000:])
            raise
        wait_until(
            lambda: committed_and_end(topics.vitals, topics.group)[0] == len(valid) + len(bad),
            90,
            "the group committed every record",
        )
        assert one.proc.poll() is None and two.proc.poll() is None, one.text() + two.text()
    finally:
        codes = (one.stop(), two.stop())
    assert codes == (0, 0), one.text() + two.text()
    assert "Traceback" not in one.text() + two.text()

    rows = stored_rows(session, keyspace, pids)
    assert len(rows) == len(valid)
    assert sorted((r.patient_id, r.timestamp) for r in rows) == sorted(
        (d["patient_id"], datetime.fromisoformat(d["timestamp"]).replace(tzinfo=None))
        for _, d in valid
    )
    extra = read_topic(topics.dlq, len(bad), timeout=5)
    assert len(extra) == len(bad), "every bad record on the dead-letter topic exactly once"
    by_offset = {
        (dict(r.headers)["vitals.source.partition"], dict(r.headers)["vitals.source.offset"]): r
        for r in dead
    }
    assert len(by_offset) == len(bad)
    sent_bad = {kind: (value, reason) for kind, _, value, reason in bad}
    seen: set[str] = set()
    for record in dead:
        headers = dict(record.headers)
        error = headers["vitals.error"].decode()
        assert headers["vitals.error.class"] == b"InvalidReading"
        matches = [
            kind
            for kind, (value, reason) in sent_bad.items()
            if kind not in seen and reason in error and _same_bytes(record, value)
        ]
        assert matches, f"unexpected dead letter: {error} ({(record.value or b'')[:60]!r})"
        seen.add(matches[0])
    assert seen == set(sent_bad)


def _same_bytes(record, value: bytes | None) -> bool:
    """The original bytes, or for a value longer than the DLQ keeps, its head, size and SHA-256."""
    import hashlib

    headers = dict(record.headers)
    if "vitals.value.truncated" in headers:
        return (
            value is not None
            and int(headers["vitals.value.truncated"]) == len(value)
            and headers["vitals.value.sha256"].decode() == hashlib.sha256(value).hexdigest()
            and value.startswith(record.value)
        )
    return record.value == (value or None) if value is None else record.value == value


def test_a_failure_while_evaluating_one_reading_dead_letters_it_and_the_rest_go_on(
    kafka_settings, topics, keyspace, cassandra_settings, session, monkeypatch
):
    """A defect that one reading meets in scoring or rules is that reading's problem only."""
    from vitals.config import ConsumerSettings
    from vitals.consumer import VitalsConsumer
    from vitals.rules import RuleEngine, load_default_rules
    from vitals.store import Writer, connect

    healthy, cursed = f"OK-{uuid.uuid4().hex[:6]}", f"BUG-{uuid.uuid4().hex[:6]}"
    real_assess = RuleEngine.assess

    def assess(self, r):
        if r.patient_id == cursed and r.heart_rate == 99:
            raise ZeroDivisionError("a defect only this reading meets")
        return real_assess(self, r)

    monkeypatch.setattr(RuleEngine, "assess", assess)
    producer = KafkaProducer(bootstrap_servers=KAFKA)
    for i in range(10):
        for pid in (healthy, cursed):
            doc = reading(pid, i, heart_rate=99 if i == 4 else 80)
            producer.send(topics.vitals, key=pid.encode(), value=json.dumps(doc).encode())
    producer.flush()
    producer.close()

    cluster, own_session = connect(cassandra_settings)
    consumer = VitalsConsumer(
        kafka=kafka_settings,
        settings=replace(
            ConsumerSettings(),
            topic=topics.vitals,
            group=topics.group,
            alerts_topic=topics.alerts,
            dlq_topic=topics.dlq,
        ),
        writer=Writer(own_session),
        rules=load_default_rules(),
    )
    consumer.open()
    worker = threading.Thread(target=consumer.run, daemon=True)
    worker.start()
    try:
        dead = read_topic(topics.dlq, 1, timeout=60)
        wait_until(lambda: consumer.stats.stored == 19, 60, "19 readings stored")
    finally:
        consumer.stop()
        worker.join(30)
        consumer.close()
        cluster.shutdown()
    headers = dict(dead[0].headers)
    assert headers["vitals.error.class"] == b"ZeroDivisionError"
    assert "a defect only this reading meets" in headers["vitals.error"].decode()
    assert json.loads(dead[0].value)["heart_rate"] == 99
    assert consumer.stats.dead_lettered == 1
    assert len(stored_rows(session, keyspace, [healthy])) == 10
    assert len(stored_rows(session, keyspace, [cursed])) == 9
