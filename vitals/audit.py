"""The audit trail: who saw which patient's data, when, how, from where, with what outcome.

Rows live in ``access_audit`` (cql/009_audit.cql), one partition per patient per UTC day,
newest first, and in ``access_audit_by_hour`` (cql/012_audit_roles.cql), one partition per
UTC hour, which also holds the rows of no one patient (an alarm-audio pause, a session's first
ward view). They hold the user (the authenticated name, ``local`` when auth is off) and role,
the request method and path (never the query's values, bodies or headers, so never vital
values or credentials), the client address, the HTTP status and its outcome (:func:`outcome`).

Reading (:func:`trail`) walks the partitions of a bounded range newest first: one patient's
days, or every hour of the range; user (and patient, by hour) are filtered here, never by
``ALLOW FILTERING``.

Writing never slows a request: :meth:`AuditLog.record` puts the access on a bounded queue
(microseconds) and one background thread writes what has queued, up to
``BATCH`` rows at a time, with bounded concurrency. If Cassandra cannot take them, the rows
are logged as lost at WARNING (counted in ``AuditLog.lost``), never silently dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent
from cassandra.query import PreparedStatement
from cassandra.util import uuid_from_time

from vitals.errors import ConfigError
from vitals.queries import days_newest_first

log = logging.getLogger(__name__)

BATCH = 200  # rows written per round
QUEUE_SIZE = 10_000  # accesses waiting to be written; beyond that they are logged as lost
CONCURRENCY = 16


OUTCOMES = ("ok", "refused", "not-found", "rejected", "failed")
MAX_HOURS = 31 * 24 + 1  # the longest range without a patient: 31 days (745 hourly partitions)


def outcome(status: int) -> str:
    """The outcome of a request from its HTTP status: ``ok`` (< 400), ``refused`` (403: the
    role may not), ``not-found`` (404), ``rejected`` (other 4xx: bad input, conflict),
    ``failed`` (5xx)."""
    if status < 400:
        return "ok"
    if status == 403:
        return "refused"
    if status == 404:
        return "not-found"
    return "rejected" if status < 500 else "failed"


@dataclass(frozen=True)
class Access:
    """One audited request. ``patient_id`` None: no one patient's (a ward view, an audio
    pause). ``at`` is UTC; ``status`` the HTTP status sent; ``role`` viewer | clinician
    ('' for rows written before roles)."""

    patient_id: str | None
    at: datetime
    user: str
    method: str
    path: str
    client: str
    status: int
    role: str = ""

    @property
    def outcome(self) -> str:
        return outcome(self.status)


def _prepare(session: Session, cql: str) -> PreparedStatement:
    """``ConfigError`` (run ``vitals init``) if the keyspace predates the audit table."""
    try:
        return session.prepare(cql)
    except InvalidRequest as e:
        raise ConfigError(
            f"keyspace {session.keyspace!r} has no audit table ({str(e)[:200]}); run "
            "`vitals init` (it only adds what is missing)"
        ) from None


class AuditLog:
    """Asynchronous writer of :class:`Access` rows; ``close()`` writes what is queued."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._insert = _prepare(
            session,
            "INSERT INTO access_audit (patient_id, day, at, event_id, username, role, method, "
            "path, client, status, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        self._insert_by_hour = _prepare(
            session,
            "INSERT INTO access_audit_by_hour (day, hour, at, event_id, patient_id, username, "
            "role, method, path, client, status, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?)",
        )
        for stmt in (self._insert, self._insert_by_hour):
            stmt.is_idempotent = True  # same event_id: a retry rewrites the same row
        self._queue: queue.Queue[Access | None] = queue.Queue(QUEUE_SIZE)
        self.written = 0
        self.lost = 0
        self._thread = threading.Thread(target=self._run, name="vitals-audit", daemon=True)
        self._thread.start()

    def record(self, access: Access) -> None:
        """Queue one access for writing; never blocks."""
        try:
            self._queue.put_nowait(access)
        except queue.Full:
            self.lost += 1
            log.warning(
                "audit queue full: access to %s by %s at %s not recorded",
                access.patient_id,
                access.user,
                access.at.isoformat(),
            )

    def close(self, timeout: float = 10) -> None:
        """Write what is queued (waiting at most ``timeout`` seconds), then stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = None in batch
            self._write([a for a in batch if a is not None])

    def _write(self, batch: list[Access]) -> None:
        if not batch:
            return
        statements, owners = [], []
        for a in batch:
            event = uuid_from_time(a.at)
            common = (a.user, a.role, a.method, a.path, a.client, a.status, a.outcome)
            statements.append(
                (self._insert_by_hour, (a.at.date(), a.at.hour, a.at, event, a.patient_id, *common))
            )
            owners.append(a)
            if a.patient_id is not None:
                statements.append((self._insert, (a.patient_id, a.at.date(), a.at, event, *common)))
                owners.append(a)
        try:
            results = execute_concurrent(
                self._session, statements, concurrency=CONCURRENCY, raise_on_first_error=False
            )
        except Exception as e:  # the driver failed as a whole (e.g. shut down)
            results = [(False, e)] * len(statements)
        failed: dict[int, BaseException] = {}
        for access, (ok, result) in zip(owners, results, strict=True):
            if not ok:
                failed[id(access)] = result
        for access in batch:
            result = failed.get(id(access))
            if result is None:
                self.written += 1
            else:
                self.lost += 1
                log.warning(
                    "audit row not written (access to %s by %s at %s): %s",
                    access.patient_id,
                    access.user,
                    access.at.isoformat(),
                    type(result).__name__,
                )


def _access(row, patient_id: str | None) -> Access:
    return Access(
        patient_id,
        row.at.replace(tzinfo=UTC),
        row.username,
        row.method,
        row.path,
        row.client,
        row.status,
        row.role or "",
    )


def accesses(session: Session, patient_id: str, start: datetime, end: datetime) -> Iterator[Access]:
    """The recorded accesses to ``patient_id`` between ``start`` and ``end`` (UTC), newest
    first, one day's partition at a time."""
    select = _prepare(
        session,
        "SELECT at, username, role, method, path, client, status FROM access_audit "
        "WHERE patient_id = ? AND day = ? AND at >= ? AND at <= ?",
    )
    for day in days_newest_first(start, end):
        for row in session.execute(select, (patient_id, day, start, end)):
            yield _access(row, patient_id)


def hours_newest_first(start: datetime, end: datetime) -> list[datetime]:
    """The UTC hours (``access_audit_by_hour`` partitions) a range touches, newest first;
    ``ConfigError`` beyond :data:`MAX_HOURS` (ask for a patient, or a shorter range)."""
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    n = int((last - first) / timedelta(hours=1)) + 1
    if n > MAX_HOURS:
        raise ConfigError(
            f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC is {n} hours of the audit "
            f"trail; without a patient at most {MAX_HOURS // 24} days are read at once: "
            "give a shorter range (--since/--until) or --patient"
        )
    return [last - timedelta(hours=i) for i in range(n)]


def trail(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    patient_id: str | None = None,
    user: str | None = None,
) -> Iterator[Access]:
    """The audit rows between ``start`` and ``end`` (UTC, inclusive), newest first, of
    ``patient_id`` (its daily partitions) or of everyone (the hourly partitions, at most
    :data:`MAX_HOURS`), only ``user``'s when given. Raises ``ConfigError`` for a range too
    long without a patient, or a keyspace without the audit tables."""
    if patient_id is not None:
        rows: Iterator[Access] = accesses(session, patient_id, start, end)
    else:
        rows = _by_hour(session, start, end)
    return (a for a in rows if user is None or a.user == user)


def _by_hour(session: Session, start: datetime, end: datetime) -> Iterator[Access]:
    hours = hours_newest_first(start, end)
    select = _prepare(
        session,
        "SELECT at, patient_id, username, role, method, path, client, status "
        "FROM access_audit_by_hour WHERE day = ? AND hour = ? AND at >= ? AND at <= ?",
    )
    for hour in hours:
        for row in session.execute(select, (hour.date(), hour.hour, start, end)):
            yield _access(row, row.patient_id)
