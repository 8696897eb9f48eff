"""Cassandra sessions and schema: ``connect`` and ``apply_schema``.

``connect`` opens a token-aware session (protocol v4, fast reconnection) or raises
``CassandraUnavailable``/``ConfigError`` with a message that names the hosts and the fix;
``apply_schema`` runs every ``cql/*.cql`` file in order and is idempotent.
"""

from __future__ import annotations

from pathlib import Path

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)
from cassandra.query import tuple_factory

from vitals.config import CassandraSettings
from vitals.errors import CassandraUnavailable, ConfigError

CQL_DIR = Path(__file__).resolve().parents[2] / "cql"
#: execution profile of the consumer's own state reads (rows as plain tuples)
FAST_READS = "vitals-fast-reads"


def connect(settings: CassandraSettings, *, keyspace: str | None = "") -> tuple[Cluster, Session]:
    """Open a session; ``keyspace=""`` means the configured one, ``None`` means none."""
    auth = None
    if settings.username:
        auth = PlainTextAuthProvider(settings.username, settings.password or "")
    ssl_context = None
    if settings.ssl_cafile:
        import ssl

        ssl_context = ssl.create_default_context(cafile=settings.ssl_cafile)
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(settings.local_dc)),
        consistency_level=getattr(ConsistencyLevel, settings.consistency.upper()),
        request_timeout=20.0,
    )
    cluster = Cluster(
        contact_points=list(settings.hosts),
        port=settings.port,
        auth_provider=auth,
        ssl_context=ssl_context,
        execution_profiles={
            EXEC_PROFILE_DEFAULT: profile,
            # the consumer's own state reads: plain tuples (the default factory builds a new
            # namedtuple class per response, 4 % of consumer CPU at start-up in the profile)
            FAST_READS: ExecutionProfile(
                load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(settings.local_dc)),
                consistency_level=getattr(ConsistencyLevel, settings.consistency.upper()),
                request_timeout=20.0,
                row_factory=tuple_factory,
            ),
        },
        # a node that comes back is found within seconds (the default waits up to 10 min)
        reconnection_policy=ExponentialReconnectionPolicy(0.5, 4.0),
        connect_timeout=settings.connect_timeout_s,
        control_connection_timeout=settings.connect_timeout_s,
        # v4, not v5: v5 wraps every frame in checksummed segments that this driver builds
        # in pure Python (15 % of the consumer's CPU per stored row, bench/); every
        # statement here names its columns, so v5's result-metadata ids are not needed
        protocol_version=4,
    )
    where = ", ".join(f"{h}:{settings.port}" for h in settings.hosts)
    try:
        session = cluster.connect()
    except NoHostAvailable as e:
        cluster.shutdown()
        reasons = "; ".join(f"{h}: {_short(err)}" for h, err in e.errors.items()) or str(e)
        if "authentication" in reasons.lower() or "credentials" in reasons.lower():
            raise CassandraUnavailable(
                f"Cassandra at {where} refused the credentials of user "
                f"{settings.username!r} ({reasons}); check VITALS_CASSANDRA_USERNAME and "
                "VITALS_CASSANDRA_PASSWORD"
            ) from None
        tls_problem = _tls_problem(settings)
        if tls_problem:
            raise CassandraUnavailable(tls_problem) from None
        raise CassandraUnavailable(
            f"cannot reach Cassandra at {where} ({reasons}); is it running? "
            "(`make up` starts a local one; check --cassandra-hosts / VITALS_CASSANDRA_HOSTS "
            "and --cassandra-port / VITALS_CASSANDRA_PORT)"
        ) from None
    ks = settings.keyspace if keyspace == "" else keyspace
    if ks:
        if ks not in cluster.metadata.keyspaces:
            cluster.shutdown()
            raise ConfigError(
                f"keyspace {ks!r} does not exist in Cassandra at {where}; "
                "create it with `vitals init`"
            )
        session.set_keyspace(ks)
    return cluster, session


def _tls_problem(settings: CassandraSettings) -> str | None:
    """After a failed connect: a TLS mistake with the first contact point, named."""
    from vitals.tls_check import tls_problem

    return tls_problem(
        settings.hosts[0],
        settings.port,
        tls=bool(settings.ssl_cafile),
        cafile=settings.ssl_cafile,
        service="Cassandra",
        ca_option="--cassandra-ca-file / VITALS_CASSANDRA_CA_FILE",
        protocol_hint=(
            "a plain-text port needs no --cassandra-ca-file / VITALS_CASSANDRA_CA_FILE"
            if settings.ssl_cafile
            else "give --cassandra-ca-file / VITALS_CASSANDRA_CA_FILE (the CA to trust)"
        ),
    )


def describe_error(exc: object) -> str:
    """One readable line for a driver error (NoHostAvailable's text is a dict repr)."""
    if isinstance(exc, NoHostAvailable) and exc.errors:
        return "; ".join(f"{getattr(h, 'address', h)}: {_short(e)}" for h, e in exc.errors.items())
    return _short(exc)


def _short(err: object) -> str:
    text = str(err)
    return text if len(text) < 200 else text[:200] + "…"


# --- schema ------------------------------------------------------------------------------


def cql_statements(path: Path) -> list[str]:
    """Split a CQL file into statements (``--`` comments removed)."""
    lines = [ln.split("--", 1)[0] for ln in path.read_text().splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def apply_schema(
    session: Session,
    keyspace: str,
    *,
    replication_factor: int | None = None,
    datacenter: str | None = None,
    cql_dir: Path = CQL_DIR,
) -> list[str]:
    """Apply every ``cql/*.cql`` file in order (idempotent). Returns the statements run."""
    files = sorted(cql_dir.glob("*.cql"))
    if not files:
        raise ConfigError(f"no .cql files in {cql_dir}")
    done = []
    for f in files:
        for stmt in cql_statements(f):
            stmt = stmt.replace("hospital.", f"{keyspace}.").replace(
                "KEYSPACE IF NOT EXISTS hospital", f"KEYSPACE IF NOT EXISTS {keyspace}"
            )
            if replication_factor and stmt.upper().startswith("CREATE KEYSPACE"):
                dc = datacenter or _local_dc(session)
                stmt = (
                    f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
                    f"{{'class': 'NetworkTopologyStrategy', '{dc}': {replication_factor}}}"
                )
            session.execute(stmt, timeout=60)
            done.append(stmt)
    session.cluster.control_connection.wait_for_schema_agreement()
    return done


def _local_dc(session: Session) -> str:
    row = session.execute("SELECT data_center FROM system.local").one()
    return row.data_center
