"""The local-services launcher's Stack: what a stack is made of, without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.stack import CLUSTER_CASSANDRA_HOSTS, Ports, ServiceError, Stack


def test_the_environment_names_the_stack_when_asked_not_at_import(tmp_path: Path):
    env = {
        "VITALS_SERVICES_DIR": str(tmp_path / "faults"),
        "KAFKA_PORT": "19292",
        "CASSANDRA_PORT": "19242",
        "CASSANDRA_JMX_PORT": "17399",
        "CASSANDRA_AUTH": "1",
        "CASSANDRA_START_TIMEOUT": "300",
    }
    stack = Stack.from_env(env)
    assert stack.dir == tmp_path / "faults"
    assert stack.ports == Ports(kafka=19292, cassandra=19242, cassandra_jmx=17399)
    assert stack.auth and not stack.secure
    cassandra = stack.spec("cassandra")
    assert cassandra.ports() == [19242, 7000, 17399]
    assert cassandra.pid_file == tmp_path / "faults" / "cassandra.pid"
    assert cassandra.timeout() == 300.0
    assert cassandra.auth


def test_defaults_are_the_shared_single_node():
    stack = Stack.from_env({})
    assert stack.dir.name == ".services"
    assert [s.port() for s in stack.members().values()] == [9092, 9042]


def test_cluster_members_have_fixed_addresses_under_the_cluster_directory(tmp_path: Path):
    stack = Stack(dir=tmp_path, ports=Ports(kafka=1, cassandra=2))
    members = stack.members(3)
    assert list(members) == [
        "cassandra-1",
        "cassandra-2",
        "cassandra-3",
        "kafka-1",
        "kafka-2",
        "kafka-3",
    ]
    node = members["cassandra-2"]
    assert (node.host, node.ports(), node.root) == (
        CLUSTER_CASSANDRA_HOSTS[1],
        [9042, 7000, 7212],
        tmp_path / "cluster",
    )
    assert node.peers == CLUSTER_CASSANDRA_HOSTS and node.node == 2


@pytest.mark.parametrize("name", ["zookeeper", "cassandra-4", "kafka-0", "kafka-x"])
def test_an_unknown_service_is_refused_with_the_known_names(name: str, tmp_path: Path):
    with pytest.raises(ValueError, match=r"unknown service .* \(known: kafka, cassandra, "):
        Stack(dir=tmp_path).spec(name)


def test_a_directory_once_secured_stays_secured(tmp_path: Path):
    stack = Stack(dir=tmp_path)
    assert not stack.secured() and stack.spec("kafka").secure is None
    with pytest.raises(ServiceError, match="holds no secured stack"):
        stack.client_env()
    stack.secure_files.root.mkdir()
    stack.secure_files.complete.write_text("")
    assert stack.secured()
    assert stack.spec("kafka").secure == stack.secure_files
    assert stack.spec("cassandra-1").secure is None  # the cluster is never secured


def test_nothing_runs_in_an_empty_stack(tmp_path: Path):
    stack = Stack(dir=tmp_path, ports=Ports(kafka=1, cassandra=2))
    assert not stack.is_running("kafka")
    assert stack.log_tail("cassandra").startswith("(no log at ")
