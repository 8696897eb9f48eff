"""`vitals init`: schema into Cassandra, topics into Kafka (idempotent); topic checks;
the retention of readings, alert history and the audit trail (tables' ``default_time_to_live``).

Nothing in vitals relies on the broker's automatic topic creation (which picks its own
partition count and replication): a missing topic is refused with a pointer to
``vitals init --topic NAME``.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from vitals.config import CassandraSettings, KafkaSettings
from vitals.errors import ConfigError, KafkaUnavailable

if TYPE_CHECKING:
    from cassandra.cluster import Session

log = logging.getLogger(__name__)

MAX_TTL_S = 630_720_000  # Cassandra's largest TTL: 20 years, in seconds


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int


#: Kafka's rule for topic names (kafka.common.internals.Topic): these characters, 1–249 long
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def check_topic_name(name: str) -> None:
    """Raise ``ConfigError`` if Kafka would refuse ``name`` as a topic name."""
    if not _TOPIC_NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(
            f"topic name {name!r} is not valid in Kafka: use 1–249 letters, digits, '.', '_' "
            "or '-' (e.g. ward7.vitals)"
        )


def _kafka_error(e: Exception) -> str:
    """One line for a Kafka admin error (kafka-python's text can repeat the whole request)."""
    text = getattr(e, "description", None) or str(e)
    return f"{type(e).__name__}: {text if len(text) < 200 else text[:200] + '…'}"


def check_kafka(
    kafka: KafkaSettings, topics: list[TopicSpec], *, replication_factor: int
) -> list[str]:
    """Before ``init`` changes anything: raise ``ConfigError`` if a topic name is invalid or
    ``replication_factor`` exceeds the live brokers; return a warning for each existing
    topic whose partition count differs from its spec (Kafka never removes partitions)."""
    for t in topics:
        check_topic_name(t.name)
    admin = admin_client(kafka)
    try:
        brokers = len(admin.describe_cluster()["brokers"])
        existing = set(admin.list_topics())
        described = admin.describe_topics([t.name for t in topics if t.name in existing])
    except KafkaError as e:
        raise KafkaUnavailable(f"describing the Kafka cluster failed: {_kafka_error(e)}") from None
    finally:
        admin.close()
    if replication_factor > brokers:
        raise ConfigError(
            f"--replication-factor {replication_factor} needs {replication_factor} Kafka "
            f"brokers; {','.join(kafka.bootstrap_servers)} has {brokers}. Nothing was created: "
            f"give --replication-factor {brokers} or start more brokers"
        )
    want = {t.name: t.partitions for t in topics}
    return [
        f"topic {d['name']} exists with {len(d['partitions'])} partitions, not "
        f"{want[d['name']]}; left as it is (add partitions with kafka-topics.sh --alter; "
        "Kafka cannot remove them)"
        for d in described
        if d["name"] in want and len(d["partitions"]) != want[d["name"]]
    ]


def check_cassandra_nodes(cluster: object, cassandra: CassandraSettings, rf: int) -> None:
    """Raise ``ConfigError`` if ``rf`` exceeds the Cassandra nodes that are up (in
    ``cassandra.local_dc`` when it is set)."""
    hosts = [
        h
        for h in cluster.metadata.all_hosts()  # type: ignore[attr-defined]
        if h.is_up is not False
        and (cassandra.local_dc is None or h.datacenter == cassandra.local_dc)
    ]
    if rf > len(hosts):
        raise ConfigError(
            f"--replication-factor {rf} needs {rf} Cassandra nodes; {len(hosts)} "
            f"{'is' if len(hosts) == 1 else 'are'} up. Nothing was created: give "
            f"--replication-factor {len(hosts)} or start more nodes"
        )


def admin_client(kafka: KafkaSettings) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(
            **kafka.client_kwargs(),
            client_id="vitals-admin",
            request_timeout_ms=int(kafka.request_timeout_s * 1000),
        )
    except KafkaTimeoutError:
        raise kafka.unreachable() from None


def missing_topics(kafka: KafkaSettings, names: list[str]) -> list[str]:
    """Which of ``names`` do not exist on the cluster (asks without creating anything).

    Raises ``KafkaUnavailable`` if the cluster cannot be reached or refuses to list topics.
    """
    admin = admin_client(kafka)
    try:
        existing = set(admin.list_topics())
    except KafkaError as e:
        raise KafkaUnavailable(f"listing topics failed: {e}") from None
    finally:
        admin.close()
    return [n for n in names if n not in existing]


def require_topic(kafka: KafkaSettings, name: str) -> None:
    """Raise ``ConfigError`` (exit 2) naming the topic and the fix if ``name`` does not exist."""
    if missing_topics(kafka, [name]):
        raise ConfigError(
            f"topic {name!r} does not exist on {','.join(kafka.bootstrap_servers)}; "
            f"create it with `vitals init --topic {name}` (or check the name)"
        )


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
        raise KafkaUnavailable(f"creating topics failed: {_kafka_error(e)}") from None
    finally:
        admin.close()
    return created


@dataclass(frozen=True)
class Retention:
    """How long one kind of data is kept: the tables holding it, the ``vitals init`` option
    setting it, and the retention a table gets when ``init`` creates it (None: forever)."""

    kind: str
    tables: tuple[str, ...]
    option: str
    default_days: int | None


# Readings: no default (a new keyspace keeps them until --retention-days says otherwise; how
# long raw vitals are needed is the hospital's decision). Alert history (raised, cleared,
# acknowledged; who paused the alarm sound) is part of the patient's record: 8 years, the
# retention of adult health records in the NHS Records Management Code of Practice 2021.
# The audit trail: 6 years, as HIPAA asks of security documentation (45 CFR 164.316(b)(2)(i)).
READINGS = Retention("readings", ("patient_vitals",), "--retention-days", None)
ALERTS = Retention(
    "alert history", ("patient_alerts", "alarm_audio_pauses"), "--alert-retention-days", 2922
)
AUDIT = Retention(
    "audit trail", ("access_audit", "access_audit_by_hour"), "--audit-retention-days", 2192
)
RETENTIONS = (READINGS, ALERTS, AUDIT)


def set_retention(
    session: Session, keyspace: str, days: float, kind: Retention = READINGS
) -> list[str]:
    """Rows of ``kind``'s tables expire ``days`` after they are written (their
    ``default_time_to_live``, in seconds; 0 keeps them forever). Returns the statements run.
    Applies to rows written from now on: Cassandra fixes a row's TTL when it is written.
    Raises ``ConfigError`` for a negative or too long retention."""
    seconds = round(days * 86_400)
    if not 0 <= seconds <= MAX_TTL_S:
        raise ConfigError(
            f"{kind.option} {days:g} is out of range: 0 (keep forever) to "
            f"{MAX_TTL_S // 86_400:,} days (Cassandra's longest time to live, 20 years)"
        )
    statements = [
        f"ALTER TABLE {keyspace}.{table} WITH default_time_to_live = {seconds}"
        for table in kind.tables
    ]
    for stmt in statements:
        session.execute(stmt, timeout=60)
    session.cluster.control_connection.wait_for_schema_agreement()
    return statements


def _tables(session: Session, keyspace: str) -> set[str]:
    rows = session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,)
    )
    return {r.table_name for r in rows}


@dataclass(frozen=True)
class InitResult:
    """What ``init`` did: CQL statements run, topics created, and the retention (days, 0 =
    forever) set for each kind of data, by :attr:`Retention.kind` (a kind left as it was
    is absent)."""

    statements: list[str]
    created: list[str]
    retention: dict[str, float]
    warnings: list[str] = field(default_factory=list)


def init(
    *,
    kafka: KafkaSettings,
    cassandra: CassandraSettings,
    topics: list[TopicSpec],
    replication_factor: int = 1,
    retention_days: float | None = None,
    alert_retention_days: float | None = None,
    audit_retention_days: float | None = None,
) -> InitResult:
    """Apply the schema, set each retention given (None leaves it as it is; a table this
    call creates gets its kind's ``default_days``), create missing topics. Raises
    ``ConfigError``, ``CassandraUnavailable``, ``KafkaUnavailable``."""
    if replication_factor < 1:
        raise ConfigError("--replication-factor must be at least 1")
    from vitals.store import apply_schema, connect  # Cassandra's driver only when needed

    warnings = check_kafka(kafka, topics, replication_factor=replication_factor)
    days_given = (retention_days, alert_retention_days, audit_retention_days)
    given = dict(zip(RETENTIONS, days_given, strict=True))
    cluster, session = connect(cassandra, keyspace=None)
    retention: dict[str, float] = {}
    try:
        check_cassandra_nodes(cluster, cassandra, replication_factor)
        before = _tables(session, cassandra.keyspace)
        statements = apply_schema(
            session,
            cassandra.keyspace,
            replication_factor=replication_factor if replication_factor > 1 else None,
            datacenter=cassandra.local_dc,
        )
        for kind, days in given.items():
            new = not before.intersection(kind.tables)
            if days is None and new and kind.default_days is not None:
                days = kind.default_days
            if days is not None:
                statements += set_retention(session, cassandra.keyspace, days, kind)
                retention[kind.kind] = days
    finally:
        cluster.shutdown()
    created = create_topics(kafka, topics, replication_factor=replication_factor)
    return InitResult(statements, created, retention, warnings)
