"""``vitals status``: do Kafka and Cassandra answer, and how far behind is each consumer group.

What ``kafka-consumer-groups --describe`` shows, from the Kafka admin API: per
group its members (client id, host, partitions) and per partition the
committed offset, the end offset and the lag. Every network call is bounded
by ``timeout`` seconds, so a server that is down gives a clear answer, never a
hang.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from kafka.admin import KafkaAdminClient, OffsetSpec
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from vitals.config import CassandraSettings, KafkaSettings
from vitals.errors import ServiceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Probe:
    """Whether a service answered, how fast, and what it said (or how to fix it)."""

    name: str
    ok: bool
    seconds: float
    detail: str


@dataclass(frozen=True)
class Member:
    client_id: str
    host: str
    member_id: str
    partitions: tuple[TopicPartition, ...]

    @property
    def name(self) -> str:
        """The client id plus the start of the member id: tells two alike clients apart."""
        if self.member_id.startswith(f"{self.client_id}-"):
            return self.member_id[: len(self.client_id) + 9]
        return self.client_id or self.member_id[:24]


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed here (starts at the earliest)
    end: int
    lag: int
    member: str | None  # the member that owns it now (``Member.name``), if any


@dataclass
class GroupStatus:
    group: str
    state: str
    members: list[Member] = field(default_factory=list)
    partitions: list[PartitionLag] = field(default_factory=list)
    missing_topics: list[str] = field(default_factory=list)
    exists: bool = True  # False: Kafka knows no such group (no members, no committed offsets)

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)


@dataclass
class Report:
    kafka: Probe
    cassandra: Probe
    groups: list[GroupStatus] = field(default_factory=list)
    known_groups: list[str] = field(default_factory=list)  # every consumer group Kafka knows

    @property
    def healthy(self) -> bool:
        return self.kafka.ok and self.cassandra.ok

    def missing_group(self) -> str | None:
        """The asked-for group if Kafka does not know it (a typo passes no health check)."""
        return next((g.group for g in self.groups if not g.exists), None)


# --- probes ------------------------------------------------------------------------------


def check_cassandra(settings: CassandraSettings, *, timeout: float = 5.0) -> Probe:
    from vitals.store import connect

    where = ", ".join(f"{h}:{settings.port}" for h in settings.hosts)
    t0 = time.monotonic()
    try:
        cluster, session = connect(replace(settings, connect_timeout_s=timeout), keyspace=None)
    except ServiceError as e:
        return Probe("Cassandra", False, time.monotonic() - t0, str(e))
    try:
        row = session.execute("SELECT release_version FROM system.local", timeout=timeout).one()
        took = time.monotonic() - t0
        hosts = [h for h in cluster.metadata.all_hosts() if h.is_up]
        detail = f"{where}: Cassandra {row.release_version}, {len(hosts)} node(s) up"
        if settings.keyspace in cluster.metadata.keyspaces:
            detail += f", keyspace {settings.keyspace} present"
        else:
            detail += f", keyspace {settings.keyspace} MISSING (run `vitals init`)"
            return Probe("Cassandra", False, took, detail)
        return Probe("Cassandra", True, took, detail)
    except Exception as e:  # driver errors of every kind: report, never a traceback
        return Probe("Cassandra", False, time.monotonic() - t0, f"{where}: {e}")
    finally:
        cluster.shutdown()


def open_admin(
    settings: KafkaSettings, *, timeout: float = 5.0
) -> tuple[Probe, KafkaAdminClient | None]:
    """Connect to Kafka within ``timeout``; the client is None when it did not answer."""
    from vitals.admin import admin_client

    bounded = replace(settings, request_timeout_s=timeout)
    where = ",".join(settings.bootstrap_servers)
    t0 = time.monotonic()
    try:
        admin = admin_client(bounded)
        cluster = admin.describe_cluster()
    except ServiceError as e:
        return Probe("Kafka", False, time.monotonic() - t0, str(e)), None
    except KafkaError as e:
        return Probe("Kafka", False, time.monotonic() - t0, f"{where}: {e}"), None
    brokers = len(cluster.get("brokers") or [])
    took = time.monotonic() - t0
    return Probe("Kafka", True, took, f"{where}: {brokers} broker(s)"), admin


# --- consumer groups ------------------------------------------------------------------------


def _consumer_groups(listed: dict[str, dict]) -> list[str]:
    return sorted(g for g, info in listed.items() if info.get("protocol_type") in ("consumer", ""))


def groups_status(
    admin: KafkaAdminClient, group: str | None = None, *, listed: dict[str, dict] | None = None
) -> list[GroupStatus]:
    """Members, committed/end offsets and lag of one group, or of every consumer group.

    ``listed`` is ``{group id: listing}`` from ``admin.list_groups()`` if already read.
    A named group that Kafka does not know comes back with ``exists=False``.
    """
    if listed is None:
        listed = {g["group_id"]: g for g in admin.list_groups()}
    names = [group] if group is not None else _consumer_groups(listed)
    if not names:
        return []
    descriptions = admin.describe_groups(names)
    committed = admin.list_group_offsets(names)

    out: list[GroupStatus] = []
    topics: set[str] = set()
    for name in names:
        d = descriptions.get(name) or {}
        st = GroupStatus(name, d.get("group_state") or "Unknown")
        if name not in listed and not committed.get(name):
            st.state = "Unknown (no members, no committed offsets)"
            st.exists = False
        for m in d.get("members") or []:
            assignment = m.get("member_assignment")
            parts: list[TopicPartition] = []
            if isinstance(assignment, dict):
                for a in assignment.get("assigned_partitions") or []:
                    parts += [TopicPartition(a["topic"], p) for p in a["partitions"]]
            st.members.append(
                Member(
                    client_id=m.get("client_id") or "",
                    host=(m.get("client_host") or "").lstrip("/"),
                    member_id=m.get("member_id") or "",
                    partitions=tuple(sorted(parts)),
                )
            )
            topics.update(tp.topic for tp in parts)
        topics.update(tp.topic for tp in committed.get(name) or {})
        out.append(st)

    partitions, missing = _partitions(admin, sorted(topics))
    ends, starts = {}, {}
    if partitions:
        ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
        starts = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in partitions})

    for st in out:
        owner = {tp: m.name for m in st.members for tp in m.partitions}
        offsets = committed.get(st.group) or {}
        group_topics = {tp.topic for tp in offsets} | {tp.topic for tp in owner}
        st.missing_topics = sorted(group_topics & missing)
        for tp in partitions:
            if tp.topic not in group_topics:
                continue
            end = ends[tp].offset
            c = offsets.get(tp)
            done = c.offset if c is not None and c.offset >= 0 else None
            base = done if done is not None else starts[tp].offset
            st.partitions.append(
                PartitionLag(tp.topic, tp.partition, done, end, max(0, end - base), owner.get(tp))
            )
    return out


def _partitions(
    admin: KafkaAdminClient, topics: list[str]
) -> tuple[list[TopicPartition], set[str]]:
    """Every partition of these topics, and the topics that no longer exist."""
    if not topics:
        return [], set()
    found: list[TopicPartition] = []
    missing: set[str] = set()
    for t in admin.describe_topics(topics):
        if t.get("error_code"):
            missing.add(t["name"])
            continue
        found += [TopicPartition(t["name"], p["partition_index"]) for p in t["partitions"]]
    return sorted(found), missing


def collect(
    *,
    kafka: KafkaSettings,
    cassandra: CassandraSettings,
    group: str | None = None,
    timeout: float = 5.0,
) -> Report:
    """Probe both services and, when Kafka answers, describe the consumer groups."""
    with ThreadPoolExecutor(1) as pool:  # both servers at once: one timeout, not two
        cassandra_probe = pool.submit(check_cassandra, cassandra, timeout=timeout)
        kafka_probe, admin = open_admin(kafka, timeout=timeout)
        groups: list[GroupStatus] = []
        known: list[str] = []
        if admin is not None:
            try:
                listed = {g["group_id"]: g for g in admin.list_groups()}
                known = _consumer_groups(listed)
                groups = groups_status(admin, group, listed=listed)
            except KafkaError as e:
                kafka_probe = replace(kafka_probe, ok=False, detail=f"{kafka_probe.detail}; {e}")
            finally:
                admin.close()
        return Report(kafka_probe, cassandra_probe.result(), groups, known)
