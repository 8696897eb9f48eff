"""The local-services launcher's Stack: what a stack is made of, without starting anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools.stack import CLUSTER_CASSANDRA_HOSTS, Ports, ServiceError, Stack
from tools.stack.kafka import node_settings, server_properties


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


def _properties(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_the_single_node_and_a_cluster_member_share_one_kraft_base(tmp_path: Path):
    stack = Stack(dir=tmp_path, ports=Ports(kafka=19092, cassandra=19042))
    single = server_properties(stack.spec("kafka"))
    assert single["controller.quorum.voters"] == f"1@127.0.0.1:{stack.spec('kafka').ports()[1]}"
    assert single["offsets.topic.replication.factor"] == "1"
    assert single["transaction.state.log.min.isr"] == "1"
    assert single["broker.session.timeout.ms"] == "4000"  # quick kill-and-restart faults
    member = server_properties(stack.members(3)["kafka-1"])
    assert member["offsets.topic.replication.factor"] == "3"
    assert member["min.insync.replicas"] == member["transaction.state.log.min.isr"] == "2"
    shared = ("process.roles", "num.partitions", "group.initial.rebalance.delay.ms")
    assert [single[k] for k in shared] == [member[k] for k in shared]


def test_the_compose_profile_kafka_is_the_single_node_with_sasl_ssl(tmp_path: Path):
    """Run as the container runs it: a bare python3 (no site-packages) on the script."""
    root = tmp_path / "secure"
    root.mkdir()
    for what in ("store", "kafka-admin", "kafka-vitals", "cassandra-vitals"):
        (root / f"{what}.password").write_text(f"pw-{what}\n")
    (root / ".complete").write_text("")  # a generated set: no keytool run
    script = Path(__file__).resolve().parents[2] / "tools" / "secure_stack.py"
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(script), "compose", str(root)],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    kafka = _properties(root / "kafka.properties")
    base = node_settings(
        node_id=1, voters="1@localhost:9093", host="localhost", port=9094,
        controller_port=9093, log_dir="/var/lib/kafka/data",
    )  # fmt: skip
    listeners = ("listeners", "advertised.listeners", "inter.broker.listener.name")
    unchanged = {
        k: v for k, v in base.items() if k not in (*listeners, "listener.security.protocol.map")
    }
    assert {k: kafka[k] for k in unchanged} == unchanged
    assert kafka["listeners"] == "SASL_SSL://:9094,INTERNAL://:29094,CONTROLLER://localhost:9093"
    assert kafka["ssl.keystore.password"] == "pw-store"
