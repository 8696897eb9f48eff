"""Each patient's newest values are written once per commit interval, before the commit.

``VitalsConsumer.process`` writes a poll's readings and alerts at once and holds what
``patient_latest`` needs; ``flush_latest`` writes one upsert per patient and vital set
however many readings came, and the loop commits only after it (issue 22). Against the
real Cassandra and Kafka.
"""

from __future__ import annotations

import uuid
from collections import namedtuple
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer, TopicPartition

from tests.helpers import KAFKA, committed_and_end, start_consumer, wait_until
from vitals.config import ConsumerSettings
from vitals.consumer import VitalsConsumer
from vitals.readings import Reading
from vitals.rules.loader import load_default_rules
from vitals.store import Writer

pytestmark = pytest.mark.services

Record = namedtuple("Record", "topic partition offset timestamp key value")


def consumer(topics, kafka_settings, writer: Writer, **settings: object) -> VitalsConsumer:
    return VitalsConsumer(
        kafka=kafka_settings,
        settings=ConsumerSettings(
            topic=topics.vitals,
            alerts_topic=topics.alerts,
            dlq_topic=topics.dlq,
            **settings,  # type: ignore[arg-type]
        ),
        writer=writer,
        rules=load_default_rules(),
    )


def poll(topics, offset: int, reading: Reading) -> dict:
    ms = int(reading.timestamp.timestamp() * 1000)
    rec = Record(topics.vitals, 0, offset, ms, reading.patient_id.encode(), reading.to_json())
    return {TopicPartition(topics.vitals, 0): [rec]}


def latest(session, patient_id: str):
    return session.execute(
        "SELECT heart_rate, spo2, WRITETIME(spo2) AS spo2_at, timestamp FROM patient_latest "
        "WHERE patient_id = %s",
        (patient_id,),
    ).one()


def test_readings_are_stored_each_poll_and_the_newest_values_once_per_flush(
    session, topics, kafka_settings
):
    """Three polls of one patient (a full reading, then two heart rates only): the readings
    are stored at once, ``patient_latest`` is not written until the flush, and the flush
    writes two upserts (the newest heart rate; the full reading for the vitals the later
    ones lack), leaving the newest value of each vital."""
    pid = f"CI{uuid.uuid4().hex[:6].upper()}"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)
    w = Writer(session)
    upserts: list[int] = []
    statements = w.latest_statements

    def count(items):
        items = list(items)
        upserts.append(len(items))
        return statements(items)

    w.latest_statements = count  # type: ignore[method-assign]
    c = consumer(topics, kafka_settings, w)
    readings = [
        Reading(pid, t0, 80, 97, 120, 75, 16, 37.0),
        Reading(pid, t0 + timedelta(seconds=1), heart_rate=84),
        Reading(pid, t0 + timedelta(seconds=2), heart_rate=88),
    ]
    for i, r in enumerate(readings):
        assert c.process(poll(topics, i, r))

    stored = session.execute(
        "SELECT COUNT(*) FROM patient_vitals WHERE patient_id = %s AND day = %s",
        (pid, t0.date()),
    ).one()[0]
    assert stored == 3
    assert latest(session, pid) is None
    assert upserts == []

    assert c.flush_latest()

    assert upserts == [2]
    row = latest(session, pid)
    assert row.heart_rate == 88
    assert row.spo2 == 97
    assert row.spo2_at == int(t0.timestamp() * 1_000_000)
    assert row.timestamp == (t0 + timedelta(seconds=2)).replace(tzinfo=None)
    assert c.flush_latest()  # nothing held: nothing written
    assert upserts == [2]


def test_a_caught_up_consumer_writes_the_newest_values_before_committing(session, topics, keyspace):
    """With a long commit interval a consumer that runs out of records writes and commits
    at once (an empty poll), and the newest values are stored when the offsets are."""
    pid = f"CJ{uuid.uuid4().hex[:6].upper()}"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    proc = start_consumer(topics, keyspace, "--commit-interval", "60")
    try:
        p = KafkaProducer(bootstrap_servers=KAFKA, acks="all")
        n = 20
        for i in range(n):
            r = Reading(pid, t0 + timedelta(seconds=i), heart_rate=70 + i, spo2=95)
            p.send(topics.vitals, key=pid.encode(), value=r.to_json())
        p.flush()
        p.close()
        wait_until(
            lambda: committed_and_end(topics.vitals, topics.group, KAFKA) == (n, n),
            30,  # < the 60 s interval: the empty poll wrote and committed
            "the group to commit every reading",
        )
        row = latest(session, pid)
        assert row is not None and row.heart_rate == 70 + n - 1
    finally:
        assert proc.stop() == 0


def test_a_partition_given_straight_back_is_read_on_from_what_was_written(
    session, topics, kafka_settings
):
    """kafka-python often rejoins once more right after the first assignment. Partitions
    revoked with written but uncommitted polls and given straight back are neither re-read
    nor left uncommitted: the member reads on from what it wrote, writes the newest values
    it held before restoring rule state, and commits at its next checkpoint."""
    from vitals.consumer.ownership import _Listener

    pid = f"CK{uuid.uuid4().hex[:6].upper()}"
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    c = consumer(topics, kafka_settings, Writer(session), group=topics.group, commit_interval_s=60)
    c.open()
    try:
        p = KafkaProducer(bootstrap_servers=KAFKA, acks="all")
        n = 12
        for i in range(n):
            r = Reading(pid, t0 + timedelta(seconds=i), heart_rate=60 + i, spo2=96)
            p.send(topics.vitals, key=pid.encode(), value=r.to_json())
        p.flush()
        p.close()

        def take() -> bool:
            polled = c._consumer.poll(timeout_ms=250)
            if c._to_adopt:
                assert c._adopt()
            if polled and c._written:
                polled = c._unread(polled)
            if polled:
                assert c.process(polled)
                c._written_up_to(polled)
            return c.stats.consumed >= n

        wait_until(take, 30, f"the member to process the {n} readings")
        assert committed_and_end(topics.vitals, topics.group, KAFKA) == (0, n)
        assert latest(session, pid) is None  # held until the checkpoint

        owned = sorted(c._consumer.assignment())
        listener = _Listener(c)
        listener.on_partitions_revoked(owned)  # the rejoin: revoked...
        listener.on_partitions_assigned(owned)  # ...and given straight back
        for tp in owned:  # fetching restarts from the last commit (none)
            c._consumer.seek_to_beginning(tp)
        take()
        take()

        assert c.stats.consumed == n  # nothing read twice
        row = latest(session, pid)  # written before the restore
        assert row is not None and row.heart_rate == 60 + n - 1
        assert c.checkpoint()
        assert committed_and_end(topics.vitals, topics.group, KAFKA) == (n, n)
    finally:
        c.close()
