"""The 3-node cluster (3 Cassandra nodes, 3 Kafka brokers) for the fault tests.

Started once per session by the launcher (`tools/services.py up --nodes 3`); every
test gets `vitals init --replication-factor 3` into a fresh keyspace and fresh topics
(readings topic: 6 partitions, RF 3, min.insync.replicas 2) and leaves all six nodes
running for the next one. These tests run only when asked for (`make test-cluster`,
i.e. `pytest tests/cluster`); a plain `pytest` skips them.
"""

from __future__ import annotations

import gc
import json
import os
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.cluster.cluster_stream import (
    CASSANDRA_HOSTS,
    CONSISTENCY,
    KAFKA_SERVERS,
    REPORT_FILE,
    Scenario,
)

HERE = Path(__file__).resolve().parent


def _asked_for(config: pytest.Config) -> bool:
    if os.environ.get("VITALS_CLUSTER_TESTS") == "1":
        return True
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked_for(config):
        return
    skip = pytest.mark.skip(reason="cluster fault tests: run them with `make test-cluster`")
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _asked_for(config) or not REPORT_FILE.exists():
        return
    rows = [json.loads(ln) for ln in REPORT_FILE.read_text().splitlines() if ln.strip()]
    if not rows:
        return
    tr = terminalreporter
    tr.section("cluster faults")
    tr.write_line(
        f"{'fault':<46} {'stall s':>8} {'produced':>9} {'stored':>7} {'dup':>4} "
        f"{'replayed':>8} {'kafka dup':>9}"
    )
    for r in rows:
        tr.write_line(
            f"{r['fault']:<46} {r['stall_s']:>8.1f} {r['produced']:>9} {r['stored']:>7} "
            f"{r['duplicated_rows']:>4} {r['replayed']:>8} {r['kafka_duplicates']:>9}"
        )
        for note in r.get("notes", []):
            tr.write_line(f"    {note}")


@pytest.fixture(scope="session")
def cluster() -> Iterator[None]:
    """All six nodes answer and the ring is Up/Normal x3 (the launcher waits for both)."""
    from tools import services as svc

    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text("")
    svc.up(nodes=3)
    yield
    _collect_leaked_sockets()


def _collect_leaked_sockets() -> None:
    # kafka-python leaves the sockets of connections a dead broker refused to the GC;
    # collect them here, where their ResourceWarning cannot fail the session.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture(autouse=True)
def _healed(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test every node is running again and the ring is whole."""
    yield
    if "cluster" in request.fixturenames:
        from tools import services as svc

        _collect_leaked_sockets()
        svc.up(nodes=3)


@pytest.fixture(scope="session")
def kafka_cluster(cluster: None):
    from vitals.config import KafkaSettings

    return KafkaSettings(bootstrap_servers=KAFKA_SERVERS)


@pytest.fixture(scope="session")
def cassandra_cluster(cluster: None):
    from vitals.config import CassandraSettings

    return CassandraSettings(hosts=CASSANDRA_HOSTS, consistency=CONSISTENCY)


@pytest.fixture
def scenario(kafka_cluster, cassandra_cluster) -> Iterator[Scenario]:
    """`vitals init --replication-factor 3` into a fresh keyspace and fresh topics."""
    from vitals.admin import TopicSpec, init
    from vitals.store import connect

    tag = uuid.uuid4().hex[:10]
    cassandra = replace(cassandra_cluster, keyspace=f"c_{tag}")
    sc = Scenario(
        tag=tag,
        kafka=kafka_cluster,
        cassandra=cassandra,
        topic=f"c.{tag}.vitals",
        alerts_topic=f"c.{tag}.alerts",
        dlq_topic=f"c.{tag}.dlq",
        group=f"c.{tag}",
    )
    init(
        kafka=kafka_cluster,
        cassandra=cassandra,
        topics=[
            TopicSpec(sc.topic, 6),
            TopicSpec(sc.alerts_topic, 6),
            TopicSpec(sc.dlq_topic, 1),
        ],
        replication_factor=3,
    )
    yield sc
    sc.close()
    cluster, session = connect(cassandra_cluster, keyspace=None)
    try:
        session.execute(f"DROP KEYSPACE IF EXISTS {cassandra.keyspace}", timeout=60)
    except Exception:
        pass  # a node may still be catching up; the keyspace is unique anyway
    finally:
        cluster.shutdown()
    sc.delete_topics()
