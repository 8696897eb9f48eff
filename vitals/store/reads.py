"""What a new owner of patients reads: their rule state, and who is monitored where.

Patients whose partitions share replicas are read together (``RESTORE_GROUP`` per
``IN`` read, ``RESTORE_IN_FLIGHT`` reads in flight), so a cold start over 10,000
patients is a few hundred requests, bounded. Stored times are returned in UTC.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from cassandra.cluster import Session
from cassandra.query import PreparedStatement

from vitals.store.session import FAST_READS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: patients per multi-partition read (``IN``) of a new owner's rule state; reads of one group
#: in flight at once, so a cold start over 10,000 patients is a few hundred requests, bounded
RESTORE_GROUP = 100
RESTORE_IN_FLIGHT = 16


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


class OwnerReads:
    """The reads of ``Writer`` (which prepares their statements and groups by replicas)."""

    # set by Writer.__init__; Writer._replica_key groups the patients by replica set
    session: Session
    _select_monitored: PreparedStatement
    _select_ended_in: PreparedStatement
    _select_active: PreparedStatement
    _select_active_in: PreparedStatement
    _select_latest_in: PreparedStatement

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


def _freshest(row: tuple | None) -> dict[str, tuple[datetime, tuple]]:
    """``{parameter: (measured at, values)}`` from a ``_SELECT_LATEST_TS`` row, plus the
    last observed ``consciousness`` and ``on_oxygen`` (``(observed at, (value,))``)."""
    if row is None:
        return {}
    (_, hr, hr_w, spo2, spo2_w, sys_, dia, bp_w, bp_at, rr, rr_w, temp, temp_w, *observed) = row
    acvpu, acvpu_w, oxygen, oxygen_w = observed or (None, None, None, None)
    out: dict[str, tuple[datetime, tuple]] = {}
    for param, values, written in (
        ("heart_rate", (hr,), hr_w),
        ("spo2", (spo2,), spo2_w),
        ("blood_pressure", (sys_, dia), bp_w),
        ("respiratory_rate", (rr,), rr_w),
        ("temperature", (temp,), temp_w),
        ("consciousness", (acvpu,), acvpu_w),
        ("on_oxygen", (oxygen,), oxygen_w),
    ):
        if values[0] is not None and written is not None:
            at = _EPOCH + timedelta(microseconds=written)
            if param == "blood_pressure" and bp_at is not None:
                at = _utc(bp_at)  # type: ignore[assignment]
            out[param] = (at, values)
    return out


def _utc(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts
