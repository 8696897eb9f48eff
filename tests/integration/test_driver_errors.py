"""Driver errors met against the real servers are one `Error:` line, no traceback:
host names that do not resolve, and a keyspace whose replication cannot be met."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import run_vitals, vitals_env

pytestmark = pytest.mark.services


@pytest.mark.parametrize("command", [["query", "X"], ["watch", "--once"], ["status"], ["init"]])
def test_an_unresolvable_cassandra_host_is_one_line(topics, keyspace, command):
    out = run_vitals(
        vitals_env(topics, keyspace),
        *command,
        "--cassandra-hosts",
        "nosuchhost.invalid",
        timeout=60,
    )
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip() == (
        "Error: none of the Cassandra hosts resolves to an address; check the names given "
        "to --cassandra-hosts / VITALS_CASSANDRA_HOSTS"
    )


@pytest.fixture
def rf3_keyspace(session, keyspace) -> str:
    """A copy of the schema in a keyspace with replication factor 3 on a one-node cluster."""
    from vitals.store import apply_schema

    name = f"t_rf3_{uuid.uuid4().hex[:8]}"
    apply_schema(session, name)
    session.execute(
        f"ALTER KEYSPACE {name} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 3}"
    )
    yield name
    session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)


def test_a_replication_the_cluster_cannot_meet_names_the_consistency_level(topics, rf3_keyspace):
    out = run_vitals(vitals_env(topics, rf3_keyspace), "query", "P1", timeout=60)
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip().startswith(
        "Error: Cassandra cannot achieve consistency level LOCAL_QUORUM: it needs 2 replicas "
        "and 1 alive; the keyspace's replication factor is larger than the nodes that are up."
    )


def test_a_wrong_cassandra_port_points_at_the_port_option(topics, keyspace):
    out = run_vitals(vitals_env(topics, keyspace), "query", "X", "--cassandra-port", "1")
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip().endswith(
        "check --cassandra-hosts / VITALS_CASSANDRA_HOSTS and --cassandra-port / "
        "VITALS_CASSANDRA_PORT)"
    )
