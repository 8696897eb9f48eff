"""Fixtures shared by every test: the real local services, isolated per test.

Each test gets fresh Kafka topics and its own consumer group (uuid names); each
module gets its own Cassandra keyspace, dropped at teardown. No sleeps: waits are
bounded polls that fail with a message saying what never happened.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KAFKA = os.environ.get(
    "VITALS_BOOTSTRAP_SERVERS", f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
)
CASSANDRA_HOST = os.environ.get("VITALS_CASSANDRA_HOSTS", "127.0.0.1")
CASSANDRA_PORT = int(os.environ.get("CASSANDRA_PORT", "9042"))


def wait_until(
    predicate: Callable[[], object], timeout: float, what: str, every: float = 0.1
) -> object:
    """Poll ``predicate`` until truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every)
    raise TimeoutError(f"after {timeout} s: {what} (last value: {last!r})")


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    yield
    from tests.helpers import kill_leftovers

    kill_leftovers()


@pytest.fixture(scope="session")
def services() -> None:
    """Kafka and Cassandra answer (started by `make test`; started here if not)."""
    from tools import services as svc

    if not (svc.is_running("kafka") and svc.is_running("cassandra")):
        svc.up()


@pytest.fixture(scope="session")
def kafka_settings(services: None):
    from vitals.config import KafkaSettings

    return KafkaSettings(bootstrap_servers=(KAFKA,))


@pytest.fixture(scope="session")
def cassandra_base(services: None):
    from vitals.config import CassandraSettings

    return CassandraSettings(hosts=(CASSANDRA_HOST,), port=CASSANDRA_PORT)


@pytest.fixture(scope="module")
def keyspace(cassandra_base) -> Iterator[str]:
    """A fresh keyspace with the project's schema, dropped after the module."""
    from vitals.store import apply_schema, connect

    name = f"t_{uuid.uuid4().hex[:12]}"
    cluster, session = connect(cassandra_base, keyspace=None)
    apply_schema(session, name)
    yield name
    session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)
    cluster.shutdown()


@pytest.fixture(scope="module")
def cassandra_settings(cassandra_base, keyspace: str):
    from dataclasses import replace

    return replace(cassandra_base, keyspace=keyspace)


@pytest.fixture(scope="module")
def session(cassandra_settings):
    from vitals.store import connect

    cluster, session = connect(cassandra_settings)
    yield session
    cluster.shutdown()


@dataclass(frozen=True)
class Topics:
    vitals: str
    alerts: str
    dlq: str
    group: str


@pytest.fixture
def topics(kafka_settings) -> Iterator[Topics]:
    """Fresh readings/alerts/DLQ topics (3 partitions) and a fresh group name."""
    from kafka.admin import KafkaAdminClient

    from vitals.admin import TopicSpec, create_topics

    tag = uuid.uuid4().hex[:10]
    t = Topics(f"t.{tag}.vitals", f"t.{tag}.alerts", f"t.{tag}.dlq", f"g.{tag}")
    create_topics(
        kafka_settings,
        [TopicSpec(t.vitals, 3), TopicSpec(t.alerts, 3), TopicSpec(t.dlq, 1)],
    )
    yield t
    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    try:
        admin.delete_topics([t.vitals, t.alerts, t.dlq])
    except Exception:
        pass
    finally:
        admin.close()


def vitals_env(
    topics: Topics, keyspace: str, *, kafka: str = KAFKA, cassandra_port: int = CASSANDRA_PORT
) -> dict[str, str]:
    """Environment for a `vitals` subprocess pointed at this test's topics and keyspace."""
    env = dict(os.environ)
    env.update(
        VITALS_BOOTSTRAP_SERVERS=kafka,
        VITALS_CASSANDRA_HOSTS=CASSANDRA_HOST,
        VITALS_CASSANDRA_PORT=str(cassandra_port),
        VITALS_KEYSPACE=keyspace,
        VITALS_TOPIC=topics.vitals,
        VITALS_ALERTS_TOPIC=topics.alerts,
        VITALS_DLQ_TOPIC=topics.dlq,
        VITALS_GROUP=topics.group,
        # streams in tests end on purpose; tests of telemetry-lost set their own timeout
        VITALS_TELEMETRY_TIMEOUT="0",
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
        VITALS_RULES=str(ROOT / "tests" / "rules_immediate.yaml"),  # one reading raises
    )
    return env
