"""The data behind every board: the census's patients as ``PatientView``s with their active
alerts and trends (``Board``, rendered by ``vitals.board`` for ``vitals watch``), and the one
board order, sickest first (``sickness``), that the web's boards use too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cassandra.cluster import Session

from vitals.queries.history import READING_COLUMNS, row_dict
from vitals.queries.times import days_newest_first, utc

#: Alert severities (IEC 60601-1-8 priorities) by rank, highest first on every board.
SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1}

#: NEWS2 parameters -> the ``patient_latest`` column whose write time is when each was last
#: measured (the consumer writes each vital with its reading's time: vitals.store).
MEASURED = {
    "heart_rate": "heart_rate",
    "spo2": "spo2",
    "blood_pressure": "systolic",
    "respiratory_rate": "respiratory_rate",
    "temperature": "temperature",
}
_SELECT_SERIES = (
    "SELECT timestamp, heart_rate, spo2 FROM patient_vitals "
    "WHERE patient_id = ? AND day = ? AND timestamp >= ? AND timestamp <= ?"
)


def _measured_at(row: object) -> dict[str, datetime]:
    """Vital -> measurement time (UTC) from the ``WRITETIME`` columns of a latest row."""
    out = {}
    for c in MEASURED.values():
        micros = getattr(row, f"writetime_{c}", None)
        if micros is not None:
            out[c] = datetime.fromtimestamp(micros / 1_000_000, UTC)
    return out


@dataclass(frozen=True)
class ActiveAlert:
    """An alert active now on the board, and who acknowledged its current raise."""

    rule: str
    severity: str
    message: str
    raised_at: datetime | None
    acked_by: str | None = None  # who acknowledged this raise (``vitals serve``), if anyone


def same_raise(ack_raised_at: datetime | None, alert_raised_at: datetime | None) -> bool:
    """Whether an acknowledgement (of the raise at ``ack_raised_at``) applies to the active
    alert raised at ``alert_raised_at``: same millisecond (Cassandra's precision). A new
    raise of the same rule starts unacknowledged."""
    if ack_raised_at is None or alert_raised_at is None:
        return False
    a, b = utc(ack_raised_at), utc(alert_raised_at)
    return a.replace(microsecond=a.microsecond // 1000) == b.replace(
        microsecond=b.microsecond // 1000
    )


@dataclass
class PatientView:
    """One row of the board: the newest reading, active alerts, trend series."""

    patient_id: str
    timestamp: datetime | None
    heart_rate: int | None = None
    spo2: int | None = None
    systolic: int | None = None
    diastolic: int | None = None
    respiratory_rate: int | None = None
    temperature: float | None = None
    consciousness: str | None = None
    on_oxygen: bool | None = None
    news2: int | None = None
    news2_incomplete: str = ""  # parameters the last NEWS2 lacked ('' when complete)
    measured_at: dict[str, datetime] = field(default_factory=dict)  # vital -> when (UTC)
    alerts: list[ActiveAlert] = field(default_factory=list)
    hr_series: list[tuple[datetime, int]] = field(default_factory=list)
    spo2_series: list[tuple[datetime, int]] = field(default_factory=list)
    place: str = ""  # from the patient register: "Ward 7 · Bed 7 · J. Smith"

    @property
    def worst(self) -> int:
        return max((SEVERITY_RANK.get(a.severity, 0) for a in self.alerts), default=0)

    @property
    def worst_unacknowledged(self) -> int:
        return max(
            (SEVERITY_RANK.get(a.severity, 0) for a in self.alerts if a.acked_by is None),
            default=0,
        )


def sickness(
    *, unacknowledged: int, worst: int, news2: int | None, stale: bool, patient_id: str
) -> tuple:
    """The sort key of every board (web, API, ``vitals watch``), sickest first: the highest
    severity of an unacknowledged alert (``SEVERITY_RANK``), then of any active alert, then
    the highest NEWS2, then a stale patient before a fresh one (nobody knows how it is), then
    the patient id."""
    return (-unacknowledged, -worst, -(news2 or 0), not stale, patient_id)


def sickest_first(patients: Iterable[PatientView]) -> list[PatientView]:
    """``patients`` in the boards' order (``sickness``); staleness is left to the board."""
    return sorted(
        patients,
        key=lambda p: sickness(
            unacknowledged=p.worst_unacknowledged,
            worst=p.worst,
            news2=p.news2,
            stale=False,
            patient_id=p.patient_id,
        ),
    )


class Board:
    """The data behind ``vitals watch``: the census read (``vitals.census``), then the trend
    of each patient with bounded concurrency. ``census_window``: how long a silent patient
    stays on the board (default ``vitals.census.CENSUS_WINDOW``)."""

    def __init__(
        self,
        session: Session,
        *,
        concurrency: int = 32,
        census_window: timedelta | None = None,
    ) -> None:
        from vitals.census import CENSUS_WINDOW, Census  # the census reads with our helpers

        self.session = session
        self.concurrency = concurrency
        self.census = Census(session, window=census_window or CENSUS_WINDOW)
        self._series = session.prepare(_SELECT_SERIES)

    def snapshot(
        self,
        *,
        prefix: str = "",
        minutes: float = 10.0,
        now: datetime | None = None,
        include_all: bool = False,
        series_for: int | None = None,
    ) -> list[PatientView]:
        """The patients in the census (every patient stored with ``include_all``) whose id
        starts with ``prefix``, sickest first, with ``minutes`` of trend each; only the first
        ``series_for`` get their trend read when given (the rows a terminal has room for: a
        census of 2,000 is not 2,000 reads a refresh)."""
        rows = self.census.read(
            now=now or datetime.now(UTC), prefix=prefix, include_all=include_all
        )
        patients: dict[str, PatientView] = {}
        for row in rows.latest:
            d = row_dict(row, READING_COLUMNS)
            patients[row.patient_id] = PatientView(
                **d,
                news2_incomplete=row.news2_incomplete or "",
                measured_at=_measured_at(row),
            )
        acks = {(a.patient_id, a.rule): a for a in rows.acks}
        for row in rows.active:
            p = patients.get(row.patient_id)
            if p is None:
                p = patients[row.patient_id] = PatientView(row.patient_id, None)
            ack = acks.get((row.patient_id, row.rule))
            by = ack.acked_by if ack and same_raise(ack.raised_at, row.raised_at) else None
            p.alerts.append(
                ActiveAlert(row.rule, row.severity or "", row.message or "", utc(row.raised_at), by)
            )
        for pid, placed in rows.placements.items():
            if pid in patients:
                patients[pid].place = placed.label()
        for p in patients.values():
            p.alerts.sort(key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), a.rule))
        ordered = sickest_first(patients.values())
        self._fill_series(ordered[:series_for], timedelta(minutes=minutes))
        return ordered

    def anyone_stored(self) -> bool:
        """Whether any patient has a newest reading stored (one row read): tells a census
        that is empty because everyone fell out of the window from a keyspace never fed."""
        return (
            self.session.execute("SELECT patient_id FROM patient_latest LIMIT 1").one() is not None
        )

    def _fill_series(self, patients: list[PatientView], window: timedelta) -> None:
        """Each patient's HR and SpO2 over ``window`` up to their newest reading."""
        work = []
        for p in patients:
            if p.timestamp is None:
                continue
            start = p.timestamp - window
            for day in days_newest_first(start, p.timestamp):
                work.append((p, (p.patient_id, day, start, p.timestamp)))
        slots = threading.BoundedSemaphore(self.concurrency)
        futures = []
        for p, params in work:
            slots.acquire()
            f = self.session.execute_async(self._series, params)
            f.add_callbacks(lambda _r: slots.release(), lambda _e: slots.release())
            futures.append((p, f))
        for p, f in futures:
            for row in f.result():
                ts = utc(row.timestamp)
                if row.heart_rate is not None:
                    p.hr_series.append((ts, row.heart_rate))
                if row.spo2 is not None:
                    p.spo2_series.append((ts, row.spo2))
        for p in patients:
            p.hr_series.sort()
            p.spo2_series.sort()
