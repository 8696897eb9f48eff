"""`vitals init` checks what the live cluster can do before it creates anything: topic
names Kafka refuses and a replication factor larger than the brokers are one `Error:` line
with no keyspace or topic left behind; a partition-count mismatch is a warning."""

from __future__ import annotations

import uuid

import pytest
from kafka.admin import KafkaAdminClient

from tests.helpers import KAFKA, run_vitals, vitals_env

pytestmark = pytest.mark.services


def exists(session, keyspace: str) -> bool:
    return session.cluster.metadata.keyspaces.get(keyspace) is not None


def topic_exists(name: str) -> bool:
    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    try:
        return name in admin.list_topics()
    finally:
        admin.close()


@pytest.fixture
def fresh(topics, keyspace):
    """An environment whose keyspace and readings topic do not exist yet."""
    tag = uuid.uuid4().hex[:8]
    env = vitals_env(topics, keyspace)
    env.update(VITALS_KEYSPACE=f"t_init_{tag}", VITALS_TOPIC=f"t.init.{tag}")
    return env


def test_a_replication_factor_above_the_brokers_creates_nothing(fresh, session):
    out = run_vitals(fresh, "init", "--replication-factor", "3", timeout=90)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == (
        f"Error: --replication-factor 3 needs 3 Kafka brokers; {KAFKA} has 1. Nothing was "
        "created: give --replication-factor 1 or start more brokers"
    )
    assert not exists(session, fresh["VITALS_KEYSPACE"])
    assert not topic_exists(fresh["VITALS_TOPIC"])


def test_an_invalid_topic_name_creates_nothing(fresh, session):
    out = run_vitals(fresh, "init", "--topic", "ward 7!", timeout=90)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == (
        "Error: topic name 'ward 7!' is not valid in Kafka: use 1–249 letters, digits, '.', "
        "'_' or '-' (e.g. ward7.vitals)"
    )
    assert not exists(session, fresh["VITALS_KEYSPACE"])


def test_an_existing_topic_with_other_partitions_is_a_warning(topics, keyspace):
    out = run_vitals(vitals_env(topics, keyspace), "init", "--partitions", "6", timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"Kafka: topic {topics.vitals} (exists)" in out.stdout
    assert (
        f"Warning: topic {topics.vitals} exists with 3 partitions, not 6; left as it is "
        "(add partitions with kafka-topics.sh --alter; Kafka cannot remove them)"
    ) in out.stderr.splitlines()
