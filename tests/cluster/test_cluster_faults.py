"""Losing a node loses nothing: faults injected into the 3+3 cluster under a steady stream.

Every test streams tens of thousands of readings for 250 patients with the project's
producer (acks=all, idempotent) into a readings topic with RF 3 and min.insync.replicas
2, while two `vitals consume` members (consistency QUORUM, keyspace RF 3) store them;
then stored = produced, no duplicate rows, no gap in any patient's sequence, and no
duplicate record in Kafka. Each test records its consumer stall (the longest time the
group's committed offsets stood still while records waited) in the fault report that
`make test-cluster` prints at the end.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.cluster.cluster_stream import Scenario, Stream, report
from tests.helpers import wait_until
from tools import services as svc

pytestmark = [
    pytest.mark.faults,
    # kafka-python leaves the sockets of connections refused by a dead broker to the GC
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

PATIENTS = 250
RATE = 500.0  # readings/s: comfortably below what the group stores, so a stall shows
ROLLING_RATE = 200.0


def baseline_stall(stream: Stream, fault_at: float) -> str:
    return f"stall before the fault: {stream.stall(0, fault_at):.1f} s"


def finish(sc: Scenario, stream: Stream) -> tuple[dict[str, int], int]:
    produced = stream.join()
    stream.mark(f"producer done: {produced} readings acknowledged")
    stream.wait_committed(produced)
    stream.mark("group committed everything")
    consumed, _stored = sc.stop_consumers()
    result = stream.verify(produced)
    return result, consumed - produced


def test_init_replicates_three_ways(scenario: Scenario) -> None:
    """`vitals init --replication-factor 3`: NetworkTopologyStrategy 3, topics RF 3, min ISR 2."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    from vitals.store import connect

    cluster, _session = connect(scenario.cassandra)
    try:
        strategy = cluster.metadata.keyspaces[scenario.cassandra.keyspace].replication_strategy
        factors = {dc: rf.all_replicas for dc, rf in strategy.dc_replication_factors_info.items()}
        assert type(strategy).__name__ == "NetworkTopologyStrategy"
        assert factors == {"datacenter1": 3}
    finally:
        cluster.shutdown()
    isr = scenario.isr()
    assert len(isr) == 6 and all(nodes == [1, 2, 3] for nodes in isr.values()), isr
    admin = KafkaAdminClient(bootstrap_servers=list(svc.CLUSTER_KAFKA_SERVERS))
    try:
        wanted = [ConfigResource(ConfigResourceType.TOPIC, scenario.topic, ["min.insync.replicas"])]
        configs = admin.describe_configs(wanted)
    finally:
        admin.close()
    assert configs["topic"][scenario.topic]["min.insync.replicas"]["value"] == "2"


def test_one_cassandra_node_killed_mid_stream(scenario: Scenario) -> None:
    """SIGKILL one of three nodes: QUORUM (2 of 3) still answers; hints catch it up."""
    sc = scenario
    sc.start_consumers(2)
    stream = Stream(sc, patients=PATIENTS, rounds=96, rate=RATE).start()  # 24,000
    stream.wait_acked(5_000)
    t_fault = stream.mark("SIGKILL cassandra-2")
    svc.stop("cassandra-2", kill=True)
    stream.wait_acked(14_000)
    stream.mark("restarting cassandra-2")
    svc.start("cassandra-2")
    t_back = stream.mark("cassandra-2 answers again")
    result, replayed = finish(sc, stream)

    # the two survivors hold hints for the writes it missed and deliver them
    def hints_delivered() -> bool:
        return all(
            "127.0.0.12" not in svc.nodetool(n, "listpendinghints")
            for n in ("cassandra-1", "cassandra-3")
        )

    wait_until(hints_delivered, 120, "hints for cassandra-2 to be delivered", every=2)
    stream.mark("no pending hints for cassandra-2")

    def in_sync() -> bool:
        text = svc.nodetool(
            "cassandra-1", "repair", "--preview", "--full", sc.cassandra.keyspace, "patient_vitals"
        ).lower()
        return "in sync" in text or "nothing to repair" in text

    if not in_sync():
        # hints were delivered but a write raced the node's return: catch up by repair
        svc.nodetool("cassandra-1", "repair", "--full", sc.cassandra.keyspace, "patient_vitals")
        stream.mark("repaired cassandra-2")
    assert in_sync(), "replicas still differ after hints and a full repair"
    stall = stream.stall(t_fault - 0.5)
    report(
        "1 Cassandra node SIGKILLed (then restarted)",
        stream,
        result,
        stall_s=stall,
        replayed=replayed,
        notes=[
            baseline_stall(stream, t_fault),
            f"node down {t_back - t_fault:.0f} s; hints delivered, replicas in sync",
            sc.outage_summary(),
        ],
    )


def test_two_cassandra_nodes_killed_consumer_holds_then_resumes(scenario: Scenario) -> None:
    """Without 2 of 3 replicas QUORUM fails: the consumer says so, commits nothing, waits."""
    sc = scenario
    sc.start_consumers(2)
    stream = Stream(sc, patients=PATIENTS, rounds=96, rate=RATE).start()
    stream.wait_acked(5_000)
    t_fault = stream.mark("SIGKILL cassandra-2 and cassandra-3")
    svc.stop("cassandra-2", kill=True)
    svc.stop("cassandra-3", kill=True)
    wait_until(sc.unavailable_lines, 60, "a consumer to report Cassandra unavailable")
    t_said = stream.mark("consumer: " + sc.unavailable_lines()[0][:160])
    time.sleep(3)  # a poll stored before the kill may still be committing
    frozen, ends0 = sc.offsets()
    t_frozen = stream.mark(f"committed offsets frozen at {sum(frozen.values())}")
    held_until = time.monotonic() + 10
    while time.monotonic() < held_until:
        committed, ends = sc.offsets()
        assert committed == frozen, "committed offsets moved while QUORUM was impossible"
        time.sleep(0.5)
    assert sum(ends.values()) > sum(ends0.values()), "the producer should keep going meanwhile"
    stream.mark(f"still frozen; {sum(ends.values()) - sum(frozen.values())} records waiting")
    svc.start("cassandra-2")
    t_back = stream.mark("cassandra-2 answers again")
    wait_until(
        lambda: sum(sc.offsets()[0].values()) > sum(frozen.values()),
        90,
        "the group to commit again",
        every=0.5,
    )
    t_resumed = stream.mark("group committing again")
    third = threading.Thread(target=svc.start, args=("cassandra-3",), daemon=True)
    third.start()  # the ring heals while the group catches up
    result, replayed = finish(sc, stream)
    third.join(240)
    stream.mark("cassandra-3 answers again")
    report(
        "2 of 3 Cassandra nodes SIGKILLed",
        stream,
        result,
        stall_s=stream.stall(t_fault - 0.5),
        replayed=replayed,
        notes=[
            baseline_stall(stream, t_fault),
            f"said 'Cassandra unavailable … holding' {t_said - t_fault:.1f} s after the kill; "
            f"offsets frozen from {t_frozen - t_fault:.1f} s for >=10 s while the topic grew",
            f"resumed {t_resumed - t_back:.1f} s after cassandra-2 answered",
            sc.outage_summary(),
        ],
    )


def test_leader_broker_killed_mid_stream(scenario: Scenario) -> None:
    """SIGKILL the broker leading most readings partitions: producer and group carry on."""
    sc = scenario
    sc.start_consumers(2)
    stream = Stream(sc, patients=PATIENTS, rounds=96, rate=RATE).start()
    stream.wait_acked(5_000)
    leaders = sc.leaders()
    victim, led = Counter(leaders.values()).most_common(1)[0]
    t_fault = stream.mark(f"SIGKILL kafka-{victim} (leader of {led} of 6 partitions)")
    svc.stop(f"kafka-{victim}", kill=True)
    stream.wait_acked(14_000, timeout=180)
    moved = sc.leaders()
    assert victim not in moved.values(), moved
    stream.mark(f"restarting kafka-{victim}")
    svc.start(f"kafka-{victim}")
    t_back = stream.mark(f"kafka-{victim} answers again")
    result, replayed = finish(sc, stream)
    wait_until(
        lambda: all(victim in nodes for nodes in sc.isr().values()),
        120,
        f"kafka-{victim} back in the ISR of every partition",
        every=1,
    )
    stream.mark(f"kafka-{victim} in sync again")
    report(
        "Kafka broker leading most partitions SIGKILLed",
        stream,
        result,
        stall_s=stream.stall(t_fault - 0.5),
        replayed=replayed,
        notes=[
            baseline_stall(stream, t_fault),
            f"producer acked nothing for at most {stream.producer_stall(t_fault - 0.5):.1f} s",
            f"broker down {t_back - t_fault:.0f} s, rejoined the ISR of all 6 partitions",
            sc.outage_summary(),
        ],
    )


def test_rolling_restart_of_cassandra_under_load(scenario: Scenario) -> None:
    """Restart the three nodes one at a time (SIGTERM = drain, start, ring whole again)."""
    sc = scenario
    sc.start_consumers(2)
    # a gentler, open-ended stream: three restarts take 1.5-5 min on 2 busy cores
    stream = Stream(sc, patients=PATIENTS, rounds=1_000, rate=ROLLING_RATE).start()
    stream.wait_acked(3_000)
    t_fault = stream.mark("rolling restart begins")
    for node in svc.CLUSTER_CASSANDRA:
        stream.mark(f"stopping {node}")
        svc.stop(node)
        svc.start(node)
        svc.wait_ring()
        stream.mark(f"{node} back, ring UN x3")
    t_done = stream.mark("rolling restart done")
    stream.wait_acked(min(max(stream.acked + 1_000, 20_000), PATIENTS * 1_000))
    stream.stop()
    result, replayed = finish(sc, stream)
    report(
        "rolling restart of the 3 Cassandra nodes",
        stream,
        result,
        stall_s=stream.stall(t_fault - 0.5, t_done + 5),
        replayed=replayed,
        notes=[
            baseline_stall(stream, t_fault),
            f"restart of all three took {t_done - t_fault:.0f} s",
            sc.outage_summary(),
        ],
    )
