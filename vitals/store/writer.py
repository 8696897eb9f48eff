"""The consumer's write path: prepared statements, replica-aware batching, bounded retries.

Writes are grouped into unlogged batches whose rows share replicas (same partition, or
the same replica set by the driver's token map), sent with at most ``concurrency`` in
flight, and retried with back-off until they succeed (or the caller asks to stop): every
write is an idempotent upsert, so a retry or a Kafka replay rewrites the same rows.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType, PreparedStatement, Statement

from vitals.binding import RowEncoder, batch_of
from vitals.config import WriterSettings
from vitals.errors import ConfigError
from vitals.freshness import Basis
from vitals.readings import Reading
from vitals.store.reads import OwnerReads
from vitals.store.rows import (
    CLEAR_ACTIVE,
    INSERT_ALERT,
    INSERT_LATEST,
    INSERT_READING,
    REGISTER,
    RESUME,
    SELECT_ACTIVE,
    SELECT_ACTIVE_IN,
    SELECT_ENDED_IN,
    SELECT_LATEST_IN,
    SELECT_MONITORED,
    SET_ACTIVE,
    UNREGISTER,
    described,
    micros,
    reading_row,
)


class Writer(OwnerReads):
    """Prepared statements and the bounded, retrying write path of the consumer (plus the
    reads a new owner of patients needs, ``OwnerReads``)."""

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
            self._reading = session.prepare(INSERT_READING)
            self._latest = session.prepare(INSERT_LATEST)
            self._alert = session.prepare(INSERT_ALERT)
            self._set_active = session.prepare(SET_ACTIVE)
            self._clear_active = session.prepare(CLEAR_ACTIVE)
            self._select_active = session.prepare(SELECT_ACTIVE)
            self._select_active_in = session.prepare(SELECT_ACTIVE_IN)
            self._select_latest_in = session.prepare(SELECT_LATEST_IN)
            self._register = session.prepare(REGISTER)
            self._unregister = session.prepare(UNREGISTER)
            self._select_monitored = session.prepare(SELECT_MONITORED)
            self._select_ended_in = session.prepare(SELECT_ENDED_IN)
            self._resume = session.prepare(RESUME)
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
        self._replica_sets: dict[frozenset, frozenset] = {}
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
                    found = self._replica_set(replicas)
            if len(self._replicas) > 200_000:
                self._replicas.clear()
            self._replicas[key] = found
        return found

    def _replica_set(self, hosts: Iterable[object]) -> frozenset:
        """One shared frozenset per replica set: a cache entry per partition key (three
        per patient) costs a pointer, not a set (10,000 patients: about 6 MB less)."""
        found = frozenset(hosts)
        return self._replica_sets.setdefault(found, found)

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
                    *described(r),
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
                    where = self._replica_set(found) if found else rk
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
