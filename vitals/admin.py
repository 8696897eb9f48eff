"""`vitals init`: schema into Cassandra, topics into Kafka (idempotent)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from vitals.config import CassandraSettings, KafkaSettings
from vitals.errors import ConfigError, KafkaUnavailable
from vitals.store import apply_schema, connect

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int


def admin_client(kafka: KafkaSettings) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(
            **kafka.client_kwargs(),
            client_id="vitals-admin",
            request_timeout_ms=int(kafka.request_timeout_s * 1000),
        )
    except KafkaTimeoutError:
        raise kafka.unreachable() from None


def create_topics(
    kafka: KafkaSettings, topics: list[TopicSpec], *, replication_factor: int = 1
) -> list[str]:
    """Create missing topics; returns the names created (existing ones are left alone)."""
    configs = {}
    if replication_factor >= 2:
        configs["min.insync.replicas"] = str(replication_factor - 1)
    admin = admin_client(kafka)
    created = []
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(t.name, t.partitions, replication_factor, topic_configs=dict(configs))
            for t in topics
            if t.name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new, timeout_ms=30_000, wait_for_metadata=True)
            created = [t.name for t in new]
        admin.wait_for_topics([t.name for t in topics], timeout_ms=30_000)
    except KafkaError as e:
        raise KafkaUnavailable(f"creating topics failed: {e}") from None
    finally:
        admin.close()
    return created


def init(
    *,
    kafka: KafkaSettings,
    cassandra: CassandraSettings,
    topics: list[TopicSpec],
    replication_factor: int = 1,
) -> tuple[list[str], list[str]]:
    if replication_factor < 1:
        raise ConfigError("--replication-factor must be at least 1")
    cluster, session = connect(cassandra, keyspace=None)
    try:
        statements = apply_schema(
            session,
            cassandra.keyspace,
            replication_factor=replication_factor if replication_factor > 1 else None,
            datacenter=cassandra.local_dc,
        )
    finally:
        cluster.shutdown()
    created = create_topics(kafka, topics, replication_factor=replication_factor)
    return statements, created
