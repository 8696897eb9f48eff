"""A private Kafka + Cassandra for fault tests, on other ports and with its own state
directory (a ``tools.stack.Stack`` driven in-process), so stopping and killing it
disturbs nothing else."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest

from tests.helpers import ROOT, Topics, vitals_env
from tools.stack import Ports, Stack

STACK = Stack(
    dir=ROOT / ".services" / "faults",
    ports=Ports(19292, 19293, 19242, 17200, 17399),  # Kafka, its controller, CQL, storage, JMX
)
KAFKA = f"127.0.0.1:{STACK.ports.kafka}"
CASSANDRA_PORT = STACK.ports.cassandra


def services(*args: str) -> None:
    """The launcher's command line on the fault stack (`up`, `stop cassandra --kill`, …)."""
    from tools.services import main

    assert main(list(args), stack=STACK) == 0, f"services {' '.join(args)} failed"


@pytest.fixture(scope="session")
def fault_stack() -> Iterator[Stack]:
    STACK.up()
    yield STACK
    STACK.down(purge=True)


@pytest.fixture(scope="session")
def fkafka(fault_stack):
    from vitals.config import KafkaSettings

    return KafkaSettings(bootstrap_servers=(KAFKA,))


@pytest.fixture(scope="session")
def fcassandra(fault_stack):
    from vitals.config import CassandraSettings

    return CassandraSettings(hosts=("127.0.0.1",), port=CASSANDRA_PORT)


@pytest.fixture
def fkeyspace(fcassandra) -> Iterator[str]:
    from vitals.store import apply_schema, connect

    name = f"f_{uuid.uuid4().hex[:12]}"
    cluster, session = connect(fcassandra, keyspace=None)
    apply_schema(session, name)
    cluster.shutdown()
    yield name


@pytest.fixture
def fsession(fcassandra, fkeyspace):
    from vitals.store import connect

    cluster, session = connect(replace(fcassandra, keyspace=fkeyspace))
    yield session
    cluster.shutdown()


@pytest.fixture
def ftopics(fkafka) -> Topics:
    from vitals.admin import TopicSpec, create_topics

    tag = uuid.uuid4().hex[:10]
    t = Topics(f"f.{tag}.vitals", f"f.{tag}.alerts", f"f.{tag}.dlq", f"fg.{tag}")
    create_topics(fkafka, [TopicSpec(t.vitals, 6), TopicSpec(t.alerts, 6), TopicSpec(t.dlq, 1)])
    return t


@pytest.fixture
def fenv(ftopics, fkeyspace) -> dict[str, str]:
    return vitals_env(ftopics, fkeyspace, kafka=KAFKA, cassandra_port=CASSANDRA_PORT)


@dataclass
class Stream:
    """A producer thread streaming readings; ``sent`` holds every acknowledged reading."""

    thread: threading.Thread
    stop: threading.Event
    sent: list = field(default_factory=list)
    stats: object = None

    def join(self, timeout: float = 300) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the producer did not finish"


def stream(kafka, topic: str, patients: int, count: int, rate: float) -> Stream:
    from vitals.producer import VitalsProducer, stream_random
    from vitals.sources import Ward, patient_ids

    stop = threading.Event()
    tag = uuid.uuid4().hex[:4].upper()
    ward = Ward([f"{tag}{p}" for p in patient_ids(None, patients)], seed=3)
    s = Stream(threading.Thread(), stop)

    def run() -> None:
        with VitalsProducer(kafka=kafka, topic=topic) as producer:
            s.stats = producer.stats
            stream_random(producer, ward, stop=stop, rate=rate, count=count, on_sent=s.sent.append)

    s.thread = threading.Thread(target=run, daemon=True)
    s.thread.start()
    return s


def check_stored(session, keyspace: str, sent: list) -> dict[str, int]:
    """stored = produced, no extra rows, no gaps per patient; values as sent."""
    from collections import defaultdict

    expected = {(r.patient_id, r.timestamp): r for r in sent}
    parts = defaultdict(set)
    for pid, ts in expected:
        parts[(pid, ts.date())].add(ts)
    stmt = session.prepare(
        f"SELECT patient_id, timestamp, heart_rate, spo2 FROM {keyspace}.patient_vitals "
        "WHERE patient_id = ? AND day = ?"
    )
    futures = [session.execute_async(stmt, key) for key in parts]
    stored = {}
    for f in futures:
        for row in f.result():
            stored[(row.patient_id, row.timestamp.replace(tzinfo=UTC))] = row
    missing = expected.keys() - stored.keys()
    extra = stored.keys() - expected.keys()
    assert not missing, f"{len(missing)} readings never stored, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} rows that were never sent, e.g. {sorted(extra)[:3]}"
    wrong = [
        k
        for k, r in expected.items()
        if (stored[k].heart_rate, stored[k].spo2) != (r.heart_rate, r.spo2)
    ]
    assert not wrong, f"{len(wrong)} rows with other values than sent"
    return {"produced": len(sent), "stored": len(stored), "duplicated": len(stored) - len(expected)}


def now() -> datetime:
    return datetime.now(UTC)
