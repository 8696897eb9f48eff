"""Cassandra: session, schema, prepared statements, batched idempotent writes, reads.

Writes are grouped into unlogged batches whose rows share replicas (same
partition, or the same replica set by the driver's token map), sent with
bounded concurrency, and retried until they succeed: every write is an
idempotent upsert keyed by the reading's own time, so a retry or a Kafka
replay rewrites the same rows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from cassandra import ConsistencyLevel, InvalidRequest
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
from cassandra.query import (
    BatchStatement,
    BatchType,
    PreparedStatement,
    Statement,
    tuple_factory,
)

from vitals.binding import RowEncoder, batch_of
from vitals.config import CassandraSettings, WriterSettings
from vitals.errors import CassandraUnavailable, ConfigError
from vitals.freshness import Basis
from vitals.readings import Reading

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CQL_DIR = Path(__file__).resolve().parent.parent / "cql"

# A vital not measured is bound as unset (no cell written, no tombstone): see RowEncoder.
_INSERT_READING = (
    "INSERT INTO patient_vitals (patient_id, day, timestamp, heart_rate, spo2, systolic, "
    "diastolic, respiratory_rate, temperature, consciousness, on_oxygen, news2, news2_basis, "
    "news2_missing, bp_measured_at, status) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_LATEST = (
    "INSERT INTO patient_latest (patient_id, timestamp, heart_rate, spo2, systolic, diastolic, "
    "respiratory_rate, temperature, consciousness, on_oxygen, news2, news2_basis, "
    "news2_incomplete, bp_measured_at, status) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
_INSERT_ALERT = (
    "INSERT INTO patient_alerts (patient_id, day, timestamp, rule, kind, severity, message, "
    "value, raised_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SET_ACTIVE = (
    "INSERT INTO active_alerts (patient_id, rule, severity, message, value, raised_at) "
    "VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
_CLEAR_ACTIVE = "DELETE FROM active_alerts USING TIMESTAMP ? WHERE patient_id = ? AND rule = ?"
_SELECT_LATEST_TS = (
    "SELECT timestamp, heart_rate, WRITETIME(heart_rate), spo2, WRITETIME(spo2), systolic, "
    "diastolic, WRITETIME(systolic), bp_measured_at, respiratory_rate, "
    "WRITETIME(respiratory_rate), temperature, WRITETIME(temperature) "
    "FROM patient_latest WHERE patient_id = ?"
)
_SELECT_ACTIVE = (
    "SELECT rule, severity, message, value, raised_at FROM active_alerts WHERE patient_id = ?"
)
# a new owner's rule state: one read per group of patients that share replicas, not per patient
_SELECT_ACTIVE_IN = (
    "SELECT patient_id, rule, severity, message, value, raised_at FROM active_alerts "
    "WHERE patient_id IN ?"
)
_SELECT_LATEST_IN = _SELECT_LATEST_TS.replace("SELECT ", "SELECT patient_id, ", 1).replace(
    "patient_id = ?", "patient_id IN ?"
)
#: patients per multi-partition read (``IN``) of a new owner's rule state; reads of one group
#: in flight at once, so a cold start over 10,000 patients is a few hundred requests, bounded
RESTORE_GROUP = 100
RESTORE_IN_FLIGHT = 16


_REGISTER = (
    "INSERT INTO monitored_patients (topic, partition, patient_id, first_seen) VALUES (?, ?, ?, ?)"
)
_UNREGISTER = "DELETE FROM monitored_patients WHERE topic = ? AND partition = ? AND patient_id = ?"
_SELECT_MONITORED = "SELECT patient_id FROM monitored_patients WHERE topic = ? AND partition = ?"
_SELECT_ENDED_IN = "SELECT patient_id, ended_at FROM monitoring_ended WHERE patient_id IN ?"
_RESUME = "DELETE FROM monitoring_ended USING TIMESTAMP ? WHERE patient_id = ?"


FAST_READS = "vitals-fast-reads"


def micros(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000)


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


class RuleState(NamedTuple):
    """A patient's state as stored, for its new owner (``Writer.rule_state``)."""

    #: active alerts as ``(rule, severity, message, value, raised_at)``
    active: list[tuple]
    #: time (UTC) of the newest stored reading, None if none
    last_seen: datetime | None
    #: ``{parameter: (measured at, values)}`` for ``vitals.freshness.Freshest.seed``
    freshest: dict[str, tuple[datetime, tuple]]
    #: when its monitoring was ended on purpose (UTC), None if never or resumed since
    ended_at: datetime | None


# --- writes ------------------------------------------------------------------------------


class Writer:
    """Prepared statements and the bounded, retrying write path of the consumer."""

    def __init__(
        self,
        session: Session,
        *,
        batch_rows: int = WriterSettings.batch_rows,
        concurrency: int = WriterSettings.concurrency,
        retry_max_s: float = WriterSettings.retry_max_s,
    ) -> None:
        self.session = session
        self.batch_rows = batch_rows
        self.concurrency = concurrency
        self.retry_max_s = retry_max_s
        self.keyspace = session.keyspace
        try:
            self._reading = session.prepare(_INSERT_READING)
            self._latest = session.prepare(_INSERT_LATEST)
            self._alert = session.prepare(_INSERT_ALERT)
            self._set_active = session.prepare(_SET_ACTIVE)
            self._clear_active = session.prepare(_CLEAR_ACTIVE)
            self._select_active = session.prepare(_SELECT_ACTIVE)
            self._select_active_in = session.prepare(_SELECT_ACTIVE_IN)
            self._select_latest_in = session.prepare(_SELECT_LATEST_IN)
            self._register = session.prepare(_REGISTER)
            self._unregister = session.prepare(_UNREGISTER)
            self._select_monitored = session.prepare(_SELECT_MONITORED)
            self._select_ended_in = session.prepare(_SELECT_ENDED_IN)
            self._resume = session.prepare(_RESUME)
        except InvalidRequest as e:
            raise ConfigError(
                f"keyspace {session.keyspace!r} lacks tables or columns of this version "
                f"({str(e)[:200]}); run `vitals init` (it only adds what is missing)"
            ) from None
        for stmt in (self._register, self._unregister, self._resume):
            stmt.is_idempotent = True
        for p in (self._reading, self._latest, self._alert, self._set_active, self._clear_active):
            p.is_idempotent = True
        self._replicas: dict[tuple, object] = {}
        self._routers: dict[bytes, RowEncoder] = {}  # by prepared statement: routing keys
        self._reading_codec = RowEncoder(self._reading)
        self._latest_codec = RowEncoder(self._latest)
        self._alert_codec = RowEncoder(self._alert)
        self._set_active_codec = RowEncoder(self._set_active)
        self._clear_active_codec = RowEncoder(self._clear_active)

    # statements ---------------------------------------------------------------------------

    def reading_rows(
        self,
        readings: Sequence[Reading],
        news2: Sequence[int | None],
        bases: Sequence[Basis | None] | None = None,
    ) -> list[tuple]:
        """Rows of ``patient_vitals``; ``news2[i]`` None when the score was incomplete,
        ``bases[i]`` what it was based on (None: the reading's own values)."""
        if bases is None:
            return [reading_row(r, n) for r, n in zip(readings, news2, strict=True)]
        return [reading_row(*item) for item in zip(readings, news2, bases, strict=True)]

    def batches(self, rows: list[tuple]) -> list[Statement]:
        """Group reading rows into unlogged batches of rows that share replicas."""
        return self._batched(self._reading_codec, rows, lambda r: (r[0], r[1]))

    def _batched(
        self, codec: RowEncoder, rows: Sequence[tuple], partition: Callable[[tuple], tuple]
    ) -> list[Statement]:
        """Unlogged batches of at most ``batch_rows`` rows whose partitions share replicas.

        Within a replica set, rows are ordered by partition so that most batches hold
        few partitions (same-partition batches are the cheapest for Cassandra)."""
        groups: dict[object, list[tuple]] = defaultdict(list)
        for row in rows:
            groups[self._replica_key(codec.prepared, partition(row))].append(row)
        out: list[Statement] = []
        size = self.batch_rows
        for group in groups.values():
            if len(groups) == 1 or len(group) > size:
                group.sort(key=partition)
            for i in range(0, len(group), size):
                chunk = group[i : i + size]
                out.append(codec.bind(chunk[0]) if len(chunk) == 1 else codec.batch(chunk))
        return out

    def _replica_key(self, prepared: PreparedStatement, key: tuple) -> object:
        """The replica set of a partition (cached), or the key itself without a token map.

        ``key``: the statement's leading values, up to its partition key's last column."""
        found = self._replicas.get(key)
        if found is None:
            tm = self.session.cluster.metadata.token_map
            found = key
            if tm is not None:
                router = self._routers.get(prepared.query_id)
                if router is None:
                    router = self._routers[prepared.query_id] = RowEncoder(prepared)
                token = tm.token_class.from_key(router.routing_key(key))
                replicas = tm.get_replicas(self.keyspace, token)
                if replicas:
                    found = frozenset(replicas)
            if len(self._replicas) > 200_000:
                self._replicas.clear()
            self._replicas[key] = found
        return found

    def latest_statements(self, latest: Iterable[tuple]) -> list[Statement]:
        """Upserts of ``patient_latest`` from ``(reading, news2[, basis])`` items, batched by
        replica set like the readings (no basis: the score is the reading's own).

        Each is written with its reading's time as write time and leaves the vitals it
        does not carry unset, so every column keeps its vital's newest value (last write
        wins) and ``WRITETIME(column)`` tells when it was measured."""
        rows = []
        for r, n, *rest in latest:
            basis = rest[0] if rest else None
            missing = ",".join(basis.missing) if basis is not None else ""
            rows.append(
                (
                    r.patient_id,
                    r.timestamp,
                    *_described(r),
                    n,
                    dict(basis.ages) if basis is not None and basis.borrowed else {},
                    missing,
                    r.bp_timestamp,
                    dict(r.status),
                    micros(r.timestamp),
                )
            )
        return self._batched(self._latest_codec, rows, lambda r: (r[0],))

    def alert_statements(self, events: Iterable) -> list[Statement]:
        """History rows plus the active-alert upsert/delete for each alert event, in unlogged
        batches of rows that share replicas (an alarm storm is many events per poll).

        raised and escalated: the active alert is (over)written with the event's severity,
        and its ``raised_at`` becomes the event's time (an escalation is acknowledged anew);
        cleared: the active alert is deleted. The active-alert writes carry the event's
        time as write time, so their order inside or across batches does not matter."""
        items: list[tuple[RowEncoder, tuple, object]] = []  # (encoder, row, replica set)
        replicas = self._replica_key
        for e in events:
            pid, ts = e.patient_id, e.timestamp
            day = ts.date()
            value = float(e.value)
            items.append(
                (
                    self._alert_codec,
                    (pid, day, ts, e.rule, e.kind, e.severity, e.message, value, e.raised_at),
                    replicas(self._alert, (pid, day)),
                )
            )
            if e.kind in ("raised", "escalated"):
                row = (pid, e.rule, e.severity, e.message, value, ts, micros(ts))
                items.append((self._set_active_codec, row, replicas(self._set_active, (pid,))))
            elif e.kind == "cleared":
                row = (micros(ts), pid, e.rule)  # type: ignore[assignment]
                items.append((self._clear_active_codec, row, replicas(self._set_active, (pid,))))
        groups: dict[object, list[tuple[RowEncoder, tuple]]] = defaultdict(list)
        for enc, row, where in items:
            groups[where].append((enc, row))
        out: list[Statement] = []
        size = self.batch_rows
        for group in groups.values():
            for i in range(0, len(group), size):
                chunk = group[i : i + size]
                out.append(chunk[0][0].bind(chunk[0][1]) if len(chunk) == 1 else batch_of(chunk))
        return out

    def batched(self, statements: Sequence[Statement]) -> list[Statement]:
        """Bound statements (e.g. a poll's registrations of patients new to this owner) in
        unlogged batches of at most ``batch_rows`` statements whose partitions share replicas,
        by each statement's routing key; a statement without one is left alone."""
        tm = self.session.cluster.metadata.token_map
        groups: dict[object, list[Statement]] = defaultdict(list)
        alone: list[Statement] = []
        for stmt in statements:
            rk = stmt.routing_key
            if rk is None:
                alone.append(stmt)
                continue
            where = self._replicas.get(("routing", rk))
            if where is None:
                where = rk
                if tm is not None:
                    found = tm.get_replicas(self.keyspace, tm.token_class.from_key(rk))
                    where = frozenset(found) if found else rk
                self._replicas[("routing", rk)] = where
            groups[where].append(stmt)
        out: list[Statement] = alone
        size = self.batch_rows
        for group in groups.values():
            for i in range(0, len(group), size):
                chunk = group[i : i + size]
                if len(chunk) == 1:
                    out.append(chunk[0])
                    continue
                b = BatchStatement(batch_type=BatchType.UNLOGGED)
                for stmt in chunk:
                    b.add(stmt)
                out.append(b)
        return out

    def register(self, topic: str, partition: int, patient_id: str, now: datetime) -> Statement:
        """Record that the patient's readings arrive on this partition (see ``monitored``)."""
        return self._register.bind((topic, partition, patient_id, now))

    def unregister(self, topic: str, partition: int, patient_id: str) -> Statement:
        return self._unregister.bind((topic, partition, patient_id))

    def resume(self, patient_id: str, record_time: datetime) -> Statement:
        """Undo an end of monitoring written before ``record_time`` (UTC), and only such a one:
        the delete carries the record's time as its write timestamp (last write wins)."""
        return self._resume.bind((micros(record_time), patient_id))

    # reads for the telemetry watch ----------------------------------------------------------

    def monitored(self, topic: str, partition: int) -> list[str]:
        """The patients registered on one partition of a readings topic."""
        rows = self.session.execute(
            self._select_monitored, (topic, partition), execution_profile=FAST_READS
        )
        return [r[0] for r in rows]

    def monitoring_ended(self, patient_ids: Iterable[str]) -> dict[str, datetime]:
        """``{patient: ended_at (UTC)}`` for those whose monitoring was ended on purpose
        (read like ``read_by_patient``)."""
        out: dict[str, datetime] = {}
        for _, (p, ended_at) in self.read_by_patient(list(patient_ids), self._select_ended_in):
            if ended_at is not None:
                out[p] = _utc(ended_at)  # type: ignore[assignment]
        return out

    # execution ----------------------------------------------------------------------------

    def execute(
        self,
        statements: Sequence[Statement],
        *,
        should_stop: Callable[[], bool] = lambda: False,
        on_retry: Callable[[int, float, Exception], None] | None = None,
    ) -> bool:
        """Run all statements with bounded concurrency; retry failures with back-off.

        Returns True when every statement succeeded, False if ``should_stop`` became
        true while waiting to retry (then nothing may be committed).
        """
        pending = list(statements)
        attempt = 0
        while pending:
            failed, error = self._run_once(pending)
            if not failed:
                return True
            attempt += 1
            delay = min(self.retry_max_s, 0.25 * 2 ** min(attempt, 8))
            if on_retry:
                on_retry(len(failed), delay, error)  # type: ignore[arg-type]
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline:
                if should_stop():
                    return False
                time.sleep(0.05)
            pending = failed
        return True

    def _run_once(
        self, statements: Sequence[Statement]
    ) -> tuple[list[Statement], Exception | None]:
        """Send every statement, at most ``concurrency`` in flight; return the failures.

        Callbacks only release a slot and record the outcome (they may run on the
        driver's event loop or, for a future that failed at once, right here).
        """
        slots = threading.BoundedSemaphore(self.concurrency)
        lock = threading.Lock()
        all_done = threading.Event()
        failed: list[Statement] = []
        errors: list[Exception] = []
        remaining = [len(statements)]
        if not statements:
            return [], None

        def finish(stmt: Statement, exc: Exception | None) -> None:
            with lock:
                if exc is not None:
                    failed.append(stmt)
                    errors.append(exc)
                remaining[0] -= 1
                if remaining[0] == 0:
                    all_done.set()
            slots.release()

        for stmt in statements:
            slots.acquire()
            try:
                fut = self.session.execute_async(stmt)
            except Exception as e:  # e.g. NoHostAvailable raised synchronously; retried
                finish(stmt, e)
                continue
            fut.add_callbacks(
                lambda _rows, s=stmt: finish(s, None),
                lambda exc, s=stmt: finish(s, exc),
            )
        all_done.wait()
        return failed, (errors[0] if errors else None)

    # reads --------------------------------------------------------------------------------

    def rule_state(self, patient_ids: Iterable[str]) -> dict[str, RuleState]:
        """What a new owner of these patients needs, read like ``read_by_patient`` (three
        reads per group of patients sharing replicas, not two per patient)."""
        ids = list(dict.fromkeys(patient_ids))
        active: dict[str, list[tuple]] = defaultdict(list)
        latest: dict[str, tuple] = {}
        ended: dict[str, datetime] = {}
        stmts = (self._select_active_in, self._select_latest_in, self._select_ended_in)
        for table, r in self.read_by_patient(ids, *stmts):
            if table == 0:  # SELECT patient_id, rule, severity, message, value, raised_at
                active[r[0]].append((r[1], r[2], r[3], r[4], _utc(r[5])))
            elif table == 1:
                latest[r[0]] = r[1:]
            elif r[1] is not None:
                ended[r[0]] = _utc(r[1])  # type: ignore[assignment]
        out: dict[str, RuleState] = {}
        for p in ids:
            row = latest.get(p)
            last_seen = _utc(row[0]) if row else None
            out[p] = RuleState(active.get(p, []), last_seen, _freshest(row), ended.get(p))
        return out

    def read_by_patient(
        self, patient_ids: Sequence[str], *statements: PreparedStatement
    ) -> Iterator[tuple[int, tuple]]:
        """``(index of the statement, row)`` for every row that ``statements`` (each ``...
        WHERE patient_id IN ?``, first column ``patient_id``) find for these patients.

        Patients whose partitions share replicas are read together, ``RESTORE_GROUP`` per
        read, at most ``RESTORE_IN_FLIGHT`` reads in flight: a new owner's cold start over
        10,000 patients is some 200 requests instead of 20,000 single-partition reads (1 ms
        of the consumer's CPU per patient). Raises the driver's error if a read fails."""
        groups: dict[object, list[str]] = defaultdict(list)
        for p in patient_ids:
            groups[self._replica_key(self._select_active, (p,))].append(p)
        chunks = [
            group[i : i + RESTORE_GROUP]
            for group in groups.values()
            for i in range(0, len(group), RESTORE_GROUP)
        ]
        run = self.session.execute_async
        per_wave = max(1, RESTORE_IN_FLIGHT // len(statements))
        for w in range(0, len(chunks), per_wave):
            wave = [
                [run(stmt, (chunk,), execution_profile=FAST_READS) for stmt in statements]
                for chunk in chunks[w : w + per_wave]
            ]
            for futures in wave:
                for k, f in enumerate(futures):
                    for row in f.result():
                        yield k, row


def reading_row(r: Reading, news2: int | None, basis: Basis | None = None) -> tuple:
    """One ``patient_vitals`` row in ``_INSERT_READING`` order (``None``: bound unset).

    ``news2``: the score, None when incomplete; ``basis``: what it was based on (None:
    the reading's own values)."""
    return (
        r.patient_id,
        r.timestamp.date(),
        r.timestamp,
        *_described(r),
        news2,
        dict(basis.ages) if basis is not None and basis.borrowed else None,
        set(basis.missing) if basis is not None and basis.missing else None,
        r.bp_timestamp,
        dict(r.status) if r.status else None,
    )


def _described(r: Reading) -> tuple:
    """The columns every row of a reading carries, from heart rate to on_oxygen."""
    return (
        r.heart_rate,
        r.spo2,
        r.systolic,
        r.diastolic,
        r.respiratory_rate,
        r.temperature,
        r.consciousness,
        r.on_oxygen,
    )


def _freshest(row: tuple | None) -> dict[str, tuple[datetime, tuple]]:
    """``{parameter: (measured at, values)}`` from a ``_SELECT_LATEST_TS`` row."""
    if row is None:
        return {}
    (_, hr, hr_w, spo2, spo2_w, sys_, dia, bp_w, bp_at, rr, rr_w, temp, temp_w) = row
    out: dict[str, tuple[datetime, tuple]] = {}
    for param, values, written in (
        ("heart_rate", (hr,), hr_w),
        ("spo2", (spo2,), spo2_w),
        ("blood_pressure", (sys_, dia), bp_w),
        ("respiratory_rate", (rr,), rr_w),
        ("temperature", (temp,), temp_w),
    ):
        if values[0] is not None and written is not None:
            at = _EPOCH + timedelta(microseconds=written)
            if param == "blood_pressure" and bp_at is not None:
                at = _utc(bp_at)  # type: ignore[assignment]
            out[param] = (at, values)
    return out


def _utc(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts
