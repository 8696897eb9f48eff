"""Fixtures shared by every test: the real local services, isolated per test.
Fixtures only: the helpers tests import are in tests/helpers.py (on top of harness/).

Each test gets fresh Kafka topics and its own consumer group (uuid names); each
module gets its own Cassandra keyspace, dropped at teardown. No sleeps: waits are
bounded polls that fail with a message saying what never happened.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.helpers import CASSANDRA_HOST, CASSANDRA_PORT, KAFKA, Topics, kill_leftovers


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    yield
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
