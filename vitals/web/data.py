"""Cassandra reads of the central station, and the acknowledgement write.

Prepared statements only. The ward view is the census read (``vitals.census``): the rows
of the patients monitored now, found by index and by key, so repeating it every second costs
in proportion to the census, not to every patient ever stored. A patient's history is the
one history read (``vitals.queries.History``) over ``[start, end)``, newest first, so a
limit keeps the newest readings, then returned oldest first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args

from vitals import freshness
from vitals.census import (
    ACK_COLUMNS,
    ACTIVE_COLUMNS,
    CENSUS_WINDOW,
    LATEST_COLUMNS,
    Census,
    group_of,
)
from vitals.errors import VitalsError
from vitals.freshness import DEFAULT_WINDOWS
from vitals.queries import (
    MEASURED,
    SEVERITY_RANK,
    History,
    as_stored,
    days_newest_first,
    same_raise,
    sickness,
    utc,
)
from vitals.readings import VITALS
from vitals.register import Placement, Register

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST_COLS, _ACTIVE_COLS, _ACK_COLS = LATEST_COLUMNS, ACTIVE_COLUMNS, ACK_COLUMNS
#: What the API shows of a history row (``vitals.queries.History`` reads them), in order.
_READING_KEYS = ("timestamp", *VITALS, "news2")
_ALERT_KEYS = ("timestamp", "rule", "kind", "severity", "message", "value", "raised_at")


class NotFound(VitalsError):
    """An unknown patient, or no such active alert (HTTP 404)."""


class Conflict(VitalsError):
    """The request no longer matches what is stored, e.g. the alert was raised again (409)."""


def unknown_patient(patient_id: str) -> str:
    """The 404 message for a patient of whom nothing is stored."""
    return (
        f"unknown patient {patient_id!r}: no reading of it is stored; "
        "GET /api/patients lists the patients (ids are case-sensitive)"
    )


def millis(ts: datetime) -> int:
    """Milliseconds since the epoch (Cassandra's timestamp precision), exactly."""
    return (utc(ts) - EPOCH) // timedelta(milliseconds=1)


def measured(row: Any, *, now: datetime) -> dict[str, dict]:
    """Per NEWS2 parameter measured, ``{measured_at (UTC), window_s, stale}`` from a
    ``patient_latest`` row's write times. No age in seconds: the live board pushes a
    patient whose state changed, and an age would change it every poll (the pages
    compute ages from ``measured_at``); ``stale`` changes once.

    Blood pressure is at the cuff's own time (``bp_measured_at``) when the reading that
    wrote it carried one. ``stale``: older than the parameter's freshness window
    (``vitals.freshness.DEFAULT_WINDOWS``), or dated ahead of ``now`` beyond
    ``vitals.freshness.CLOCK_SKEW`` (then ``clock_ahead`` is true too), so the value no
    longer counts as current (``vitals.freshness.stale``, as ``vitals watch`` marks it).
    """
    out = {}
    for param, column in MEASURED.items():
        micros = getattr(row, f"writetime_{column}", None)  # None: never measured
        if micros is None:
            continue
        at = datetime.fromtimestamp(micros / 1_000_000, UTC)
        cuff = getattr(row, "bp_measured_at", None) if param == "blood_pressure" else None
        if cuff is not None and getattr(row, "writetime_bp_measured_at", None) == micros:
            at = utc(cuff)  # the cuff's own time, written with this blood pressure
        window = DEFAULT_WINDOWS[param].total_seconds()
        out[param] = {
            "measured_at": at,
            "window_s": window,
            "stale": freshness.stale(at, now=now, after=window),
            "clock_ahead": freshness.ahead(at, now=now),
        }
    return out


def incomplete(text: str | None) -> list[str]:
    """The parameters the newest NEWS2 lacked, from ``news2_incomplete`` ('' or
    ``blood_pressure,temperature``); empty when the score was complete."""
    return [p for p in (text or "").split(",") if p]


@dataclass(frozen=True)
class Page:
    """One read of a patient's history for the API."""

    rows: list[dict[str, Any]]  # oldest first
    truncated: bool  # the limit cut off older rows


class WardStore:
    """Reads for the pages and the API; ``acknowledge`` is the one write."""

    def __init__(self, session: Session, *, census_window: timedelta = CENSUS_WINDOW) -> None:
        self.session = session
        self.census = Census(session, window=census_window)
        self.rows_read = 0  # by the last ward read (the live board's per-second cost)
        p = session.prepare
        self._latest_one = p(f"SELECT {_LATEST_COLS} FROM patient_latest WHERE patient_id = ?")
        self._active_one = p(f"SELECT {_ACTIVE_COLS} FROM active_alerts WHERE patient_id = ?")
        self._active_rule = p(
            f"SELECT {_ACTIVE_COLS} FROM active_alerts WHERE patient_id = ? AND rule = ?"
        )
        self._acks_one = p(f"SELECT {_ACK_COLS} FROM alert_acks WHERE patient_id = ?")
        self.register = Register(session)
        self.history = History(session, end_exclusive=True)
        self._trend = p(
            "SELECT timestamp, heart_rate, spo2 FROM patient_vitals WHERE patient_id = ? "
            "AND day = ? AND timestamp >= ? AND timestamp < ? LIMIT ?"
        )
        self._insert_ack = p(
            "INSERT INTO alert_acks (patient_id, rule, raised_at, acked_by, acked_at, comment) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        self._insert_event = p(
            "INSERT INTO patient_alerts (patient_id, day, timestamp, rule, kind, severity, "
            "message, value, raised_at) VALUES (?, ?, ?, ?, 'acknowledged', ?, ?, ?, ?)"
        )
        for stmt in (self._insert_ack, self._insert_event):
            stmt.is_idempotent = True

    # the ward -------------------------------------------------------------------------------

    def ward(
        self, *, now: datetime, stale_after: float, prefix: str = "", include_all: bool = False
    ) -> list[dict]:
        """The state of every patient in the census (``vitals.census``) whose id starts with
        ``prefix``, sickest first (see ``sort_key``); with ``include_all``, of every patient
        stored, monitored now or not."""
        rows = self.census.read(now=now, prefix=prefix, include_all=include_all)
        self.rows_read = rows.rows_read
        states = build_states(
            rows.latest, rows.active, rows.acks, now=now, stale_after=stale_after, prefix=prefix
        )
        return _placed(states, rows.placements)

    def patient(self, patient_id: str, *, now: datetime, stale_after: float) -> dict:
        futures = [
            self.session.execute_async(s, (patient_id,))
            for s in (self._latest_one, self._active_one, self._acks_one)
        ]
        latest, active, acks = (list(f.result()) for f in futures)
        one = self.register.get(patient_id)
        placed = {patient_id: one} if one else {}
        if not latest and not active:
            raise NotFound(unknown_patient(patient_id))
        states = build_states(latest, active, acks, now=now, stale_after=stale_after)
        return _placed(states, placed)[0]

    def require_patient(self, patient_id: str) -> None:
        if self.session.execute(self._latest_one, (patient_id,)).one() is None:
            raise NotFound(unknown_patient(patient_id))

    # history --------------------------------------------------------------------------------

    def readings(self, patient_id: str, start: datetime, end: datetime, limit: int) -> Page:
        """Readings with ``start <= timestamp < end``, oldest first; the newest ``limit``."""
        return self._page("readings", _READING_KEYS, patient_id, start, end, limit)

    def alerts(self, patient_id: str, start: datetime, end: datetime, limit: int) -> Page:
        """Raised / cleared / acknowledged events in the range, oldest first."""
        return self._page("alerts", _ALERT_KEYS, patient_id, start, end, limit)

    def _page(
        self,
        kind: Literal["readings", "alerts"],
        keys: tuple[str, ...],
        patient_id: str,
        start: datetime,
        end: datetime,
        limit: int,
    ) -> Page:
        """The newest ``limit`` rows, oldest first; one more is read to tell of truncation."""
        rows = self.history.span(kind, patient_id, start, end, limit=limit + 1)
        out = [{k: r[k] for k in keys} for r in rows]
        return Page(out[:limit][::-1], len(out) > limit)

    def trends(
        self, patient_ids: Iterable[str], *, now: datetime, minutes: int, points: int
    ) -> dict[str, dict[str, list]]:
        """Heart rate and SpO2 of the last ``minutes`` per patient, at most ``points`` each."""
        start = now - timedelta(minutes=minutes)
        end = now + timedelta(minutes=5)  # a monitor's clock a little ahead still shows
        args = [
            (pid, day, start, end, 2000)
            for pid in patient_ids
            for day in days_newest_first(start, end)
        ]
        out: dict[str, dict[str, list]] = {}
        results = execute_concurrent_with_args(
            self.session, self._trend, args, concurrency=32, raise_on_first_error=True
        )
        rows_by_pid: dict[str, list] = {}
        for (pid, *_), (_ok, rows) in zip(args, results, strict=True):
            rows_by_pid.setdefault(pid, []).extend(rows)
        for pid, rows in rows_by_pid.items():
            rows.sort(key=lambda r: r.timestamp)
            step = max(1, -(-len(rows) // points))
            picked = rows[::-1][::step][::-1]  # keep the newest point
            out[pid] = {
                "t": [millis(r.timestamp) for r in picked],
                "heart_rate": [r.heart_rate for r in picked],
                "spo2": [r.spo2 for r in picked],
            }
        return out

    # acknowledgement ------------------------------------------------------------------------

    def acknowledge(
        self,
        patient_id: str,
        rule: str,
        *,
        raised_at: datetime | None,
        by: str,
        comment: str,
        now: datetime,
    ) -> dict:
        """Store an acknowledgement of the active alert ``rule`` (the raise at ``raised_at``,
        or the current one). Returns the event as published on the alerts topic."""
        active = self.session.execute(self._active_rule, (patient_id, rule)).one()
        if active is None:
            self.require_patient(patient_id)
            raise NotFound(
                f"patient {patient_id!r} has no active alert {rule!r} (it may have cleared); "
                "reload to see the active alerts"
            )
        current = utc(active.raised_at)
        if raised_at is not None and millis(raised_at) > millis(current):
            raise Conflict(  # later than the active raise: no such raise ever was
                f"alert {rule!r} of patient {patient_id!r} was not raised at "
                f"{raised_at.isoformat()}; the active raise is at {current.isoformat()}: "
                "reload and acknowledge that one"
            )
        if raised_at is not None and millis(raised_at) != millis(current):
            raise Conflict(
                f"alert {rule!r} of patient {patient_id!r} raised at {raised_at.isoformat()} "
                f"is no longer active; it was raised again at {current.isoformat()}: "
                "reload and acknowledge that one"
            )
        now = now.astimezone(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        message = f"Acknowledged by {by}" + (f": {comment}" if comment else "")
        self.session.execute(
            self._insert_ack, (patient_id, rule, current, by, now, comment or None)
        )
        self.session.execute(
            self._insert_event,
            (patient_id, now.date(), now, rule, active.severity, message, active.value, current),
        )
        return {
            "patient_id": patient_id,
            "rule": rule,
            "kind": "acknowledged",
            "severity": active.severity,
            "message": message,
            "value": active.value,
            "timestamp": now,
            "raised_at": current,
            "by": by,
            "comment": comment or None,
        }


def build_states(
    latest: list,
    active: list,
    acks: list,
    *,
    now: datetime,
    stale_after: float,
    prefix: str = "",
) -> list[dict]:
    """Patient states from the rows of the three tables, sickest first."""
    acked = {(a.patient_id, a.rule): a for a in acks}
    alerts: dict[str, list[dict]] = {}
    for a in active:
        ack = acked.get((a.patient_id, a.rule))
        applies = ack is not None and same_raise(ack.raised_at, a.raised_at)
        alerts.setdefault(a.patient_id, []).append(
            {
                "rule": a.rule,
                "severity": a.severity,
                "message": a.message,
                "value": a.value,
                "raised_at": utc(a.raised_at),
                "acknowledged": (
                    {"by": ack.acked_by, "at": utc(ack.acked_at), "comment": ack.comment}
                    if ack is not None and applies
                    else None
                ),
            }
        )
    by_pid = {r.patient_id: r for r in latest}
    states = []
    for pid in sorted(set(by_pid) | set(alerts)):
        if prefix and not pid.startswith(prefix):
            continue
        r = by_pid.get(pid)
        mine = sorted(
            alerts.get(pid, []),
            key=lambda a: (-SEVERITY_RANK.get(a["severity"], 0), a["raised_at"] or now),
        )
        reading = None
        if r is not None:
            missing = incomplete(getattr(r, "news2_incomplete", None))
            reading = {
                "timestamp": utc(r.timestamp),
                **{v: as_stored(v, getattr(r, v)) for v in VITALS},
                "consciousness": r.consciousness,
                "on_oxygen": r.on_oxygen,
                "news2": None if missing else r.news2,
                "news2_incomplete": missing,
                "measured": measured(r, now=now),
            }
        worst = mine[0]["severity"] if mine else None
        states.append(
            {
                "patient_id": pid,
                "latest": reading,
                "alerts": mine,
                "severity": worst,
                "unacknowledged": sum(1 for a in mine if a["acknowledged"] is None),
                "stale": r is None or freshness.stale(utc(r.timestamp), now=now, after=stale_after),
                "clock_ahead": r is not None and freshness.ahead(utc(r.timestamp), now=now),
            }
        )
    states.sort(key=sort_key)
    return states


def _placed(states: list[dict], register: dict[str, Placement]) -> list[dict]:
    """Each state with its ``ward``, ``bed`` and ``name`` from the patient register, and the
    ``group`` the ward list counts it under (``vitals.census.group_of``)."""
    for s in states:
        r = register.get(s["patient_id"]) or Placement(s["patient_id"])
        s.update(ward=r.ward, bed=r.bed, name=r.name, group=group_of(s["patient_id"], r.ward))
    return states


def sort_key(s: dict) -> tuple:
    """A patient state's place on the board (``vitals.queries.sickness``, the one order)."""
    unacked = max(
        (SEVERITY_RANK.get(a["severity"], 0) for a in s["alerts"] if a["acknowledged"] is None),
        default=0,
    )
    return sickness(
        unacknowledged=unacked,
        worst=SEVERITY_RANK.get(s["severity"] or "", 0),
        news2=(s["latest"] or {}).get("news2"),
        stale=s["stale"],
        patient_id=s["patient_id"],
    )
