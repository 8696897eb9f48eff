"""The audit trail: who saw which patient's data, when, how, from where, with what outcome.

Rows live in ``access_audit`` (cql/009_audit.cql), one partition per patient per UTC day,
newest first. They hold the user (the authenticated name, ``local`` when auth is off), the
request method and path (never the query's values, bodies or headers, so never vital values
or credentials), the client address and the HTTP status.

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
from datetime import UTC, datetime

from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import PreparedStatement
from cassandra.util import uuid_from_time

from vitals.errors import ConfigError
from vitals.queries import days_newest_first

log = logging.getLogger(__name__)

BATCH = 200  # rows written per round
QUEUE_SIZE = 10_000  # accesses waiting to be written; beyond that they are logged as lost
CONCURRENCY = 16


@dataclass(frozen=True)
class Access:
    """One request for one patient's data. ``at`` is UTC; ``status`` the HTTP status sent."""

    patient_id: str
    at: datetime
    user: str
    method: str
    path: str
    client: str
    status: int


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
            "INSERT INTO access_audit (patient_id, day, at, event_id, username, method, path, "
            "client, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        self._insert.is_idempotent = True  # same event_id: a retry rewrites the same row
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
        rows = [
            (a.patient_id, a.at.date(), a.at, uuid_from_time(a.at), a.user, a.method, a.path,
             a.client, a.status)
            for a in batch
        ]  # fmt: skip
        try:
            results = execute_concurrent_with_args(
                self._session, self._insert, rows, concurrency=CONCURRENCY,
                raise_on_first_error=False,
            )  # fmt: skip
        except Exception as e:  # the driver failed as a whole (e.g. shut down)
            results = [(False, e)] * len(rows)
        for access, (ok, result) in zip(batch, results, strict=True):
            if ok:
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


def accesses(session: Session, patient_id: str, start: datetime, end: datetime) -> Iterator[Access]:
    """The recorded accesses to ``patient_id`` between ``start`` and ``end`` (UTC), newest
    first, one day's partition at a time."""
    select = _prepare(
        session,
        "SELECT at, username, method, path, client, status FROM access_audit "
        "WHERE patient_id = ? AND day = ? AND at >= ? AND at <= ?",
    )
    for day in days_newest_first(start, end):
        for row in session.execute(select, (patient_id, day, start, end)):
            yield Access(
                patient_id,
                row.at.replace(tzinfo=UTC),
                row.username,
                row.method,
                row.path,
                row.client,
                row.status,
            )
