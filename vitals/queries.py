"""Reads for people: a patient's readings or alerts, the ward board, trend series.

Readings and alerts live in one partition per patient per UTC day, so a time
range is read one day at a time, newest day first, with one prepared statement
per table, and stops as soon as ``limit`` rows are in hand. The board is the census
(``vitals.census``: who is monitored now), then the trend of each patient with bounded
concurrency. The helpers every read shares (``utc``, ``SEVERITY_RANK``,
``days_newest_first``, ``as_stored``) live here, once.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args

from vitals.errors import ConfigError, VitalsError
from vitals.freshness import PARAMETERS

SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1}

#: 32-bit ``float`` columns and the decimals the consumer rounds their values to before
#: storing them (``vitals.readings``: temperature to 0.1 °C). Read back, 37.6 comes out as
#: 37.599998474121094; rounding to these decimals gives back exactly what was stored.
FLOAT32_DECIMALS = {"temperature": 1}

READING_COLUMNS = (
    "patient_id",
    "timestamp",
    "heart_rate",
    "spo2",
    "systolic",
    "diastolic",
    "respiratory_rate",
    "temperature",
    "consciousness",
    "on_oxygen",
    "news2",
)
#: What ``vitals query`` shows of a reading: its columns, then the NEWS2 parameters that had
#: no fresh value (the score is incomplete and ``news2`` is None; see vitals.freshness).
QUERY_READING_COLUMNS = (*READING_COLUMNS, "news2_missing")
ALERT_COLUMNS = (
    "patient_id",
    "timestamp",
    "rule",
    "kind",
    "severity",
    "message",
    "value",
    "raised_at",
)

_SELECT_READINGS = (
    f"SELECT {', '.join(QUERY_READING_COLUMNS)} FROM patient_vitals "
    "WHERE patient_id = ? AND day = ? AND timestamp >= ? AND timestamp <= ? LIMIT ?"
)
_SELECT_ALERTS = (
    f"SELECT {', '.join(ALERT_COLUMNS)} FROM patient_alerts "
    "WHERE patient_id = ? AND day = ? AND timestamp >= ? AND timestamp <= ? LIMIT ?"
)
_SELECT_SERIES = (
    "SELECT timestamp, heart_rate, spo2 FROM patient_vitals "
    "WHERE patient_id = ? AND day = ? AND timestamp >= ? AND timestamp <= ?"
)
#: When each vital of the newest row was measured: its cell's write time (see vitals.store).
#: NEWS2 parameters -> the ``patient_latest`` column whose write time is when each was last
#: measured (the consumer writes each vital with its reading's time: vitals.store).
MEASURED = {
    "heart_rate": "heart_rate",
    "spo2": "spo2",
    "blood_pressure": "systolic",
    "respiratory_rate": "respiratory_rate",
    "temperature": "temperature",
}

# --- parsing times -------------------------------------------------------------------------

#: The longest time range one read covers (``vitals query`` and the API): 31 day partitions.
MAX_RANGE = timedelta(days=31)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


_MAX_DAYS = timedelta.max.days


def parse_duration(text: str) -> timedelta:
    """``30s``, ``10m``, ``2h``, ``1d``, ``1w`` or combinations such as ``1h30m``."""
    s = text.strip().lower()
    parts = _DURATION.findall(s)
    if not s or "".join(n + u for n, u in parts) != s:
        raise ConfigError(
            f"{text!r} is not a duration; write a number and a unit s, m, h, d or w, "
            "such as 30m, 2h, 1d or 1h30m"
        )
    try:
        return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    except OverflowError:
        raise ConfigError(
            f"{text!r} is too long a duration; the longest is {_MAX_DAYS} days"
        ) from None


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """A point in time: ``now``, a duration ago (``2h``) or an ISO time (UTC if no zone)."""
    now = now or datetime.now(UTC)
    s = text.strip()
    if s.lower() == "now":
        return now
    if s and s[0].isdigit() and s[-1].lower() in _UNITS and "-" not in s and ":" not in s:
        ago = parse_duration(s)
        try:
            return now - ago
        except OverflowError:
            raise ConfigError(
                f"{text!r} ago is before year 1; give a shorter duration or an ISO time"
            ) from None
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        raise ConfigError(
            f"{text!r} is neither a duration nor a time; write 2h, 30m, 1d (that long ago), "
            "now, or an ISO time such as 2026-11-25T23:30 or 2026-11-25T23:30:00+01:00 "
            "(UTC when no zone is given)"
        ) from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def time_range(since: str, until: str, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """``--since``/``--until`` as UTC times; ``ConfigError`` if reversed or longer than
    ``MAX_RANGE`` (each day is a partition to read: the CLI and the API share the cap)."""
    now = now or datetime.now(UTC)
    start, end = parse_time(since, now=now), parse_time(until, now=now)
    if start > end:
        raise ConfigError(
            f"--since {since} ({start:%Y-%m-%d %H:%M:%S} UTC) is after --until {until} "
            f"({end:%Y-%m-%d %H:%M:%S} UTC); swap them"
        )
    if end - start > MAX_RANGE:
        raise ConfigError(
            f"--since {since} .. --until {until} spans {(end - start).days:,} days; at most "
            f"{MAX_RANGE.days} days are read at a time (one partition per patient per day): "
            f"give --until too, e.g. --since {start:%Y-%m-%d} --until "
            f"{start + MAX_RANGE:%Y-%m-%d}"
        )
    return start, end


def days_newest_first(start: datetime, end: datetime) -> list[date]:
    """The UTC days (partitions) a range touches, newest first."""
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    return [last - timedelta(days=i) for i in range((last - first).days + 1)]


def utc(ts: datetime | None) -> datetime | None:
    """The driver's naive UTC datetimes made aware; an aware time converted to UTC. The one
    home of this rule (the web's reads and the census import it)."""
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


# --- one patient's history ------------------------------------------------------------------


class UnknownPatient(VitalsError):
    """Nothing of this patient is stored (exit 1)."""


class History:
    """A patient's readings or alerts over a time range, newest first, across days.

    Days are read newest first in concurrent rounds of 1, 2, 4 … partitions, so a dense
    range stops after the first day that fills ``limit`` and a sparse one (31 days, see
    ``MAX_RANGE``) takes five rounds, not 31 round trips. A patient with no
    ``patient_latest`` row is refused at once with ``UnknownPatient``.
    """

    MAX_ROUND = 32  # partitions read at once (each a small query bounded by the limit)

    def __init__(self, session: Session, *, concurrency: int = 64) -> None:
        self.session = session
        self.concurrency = concurrency
        self._readings = session.prepare(_SELECT_READINGS)
        self._alerts = session.prepare(_SELECT_ALERTS)
        self._known = session.prepare("SELECT patient_id FROM patient_latest WHERE patient_id = ?")

    def require_patient(self, patient_id: str) -> None:
        """Raise ``UnknownPatient`` if no reading of ``patient_id`` was ever stored."""
        if self.session.execute(self._known, (patient_id,)).one() is None:
            raise UnknownPatient(
                f"unknown patient {patient_id!r}: no reading of it is stored in keyspace "
                f"{self.session.keyspace}; `vitals watch --once --all` lists the patients "
                "(ids are case-sensitive)"
            )

    def readings(
        self, patient_id: str, start: datetime, end: datetime, *, limit: int
    ) -> list[dict]:
        """Rows with the keys of ``QUERY_READING_COLUMNS``, newest first; ``news2_missing``
        a list of parameters in NEWS2 chart order ([] when the score was complete)."""
        return self._read(self._readings, QUERY_READING_COLUMNS, patient_id, start, end, limit)

    def alerts(self, patient_id: str, start: datetime, end: datetime, *, limit: int) -> list[dict]:
        return self._read(self._alerts, ALERT_COLUMNS, patient_id, start, end, limit)

    def _read(
        self,
        prepared: object,
        columns: Sequence[str],
        patient_id: str,
        start: datetime,
        end: datetime,
        limit: int,
    ) -> list[dict]:
        self.require_patient(patient_id)
        days = days_newest_first(start, end)
        out: list[dict] = []
        size = 1
        while days and len(out) < limit:
            batch, days = days[:size], days[size:]
            left = limit - len(out)
            args = [(patient_id, day, start, end, left) for day in batch]
            results = execute_concurrent_with_args(
                self.session, prepared, args, concurrency=self.concurrency
            )
            for ok, rows in results:  # in the order of ``batch``: newest day first
                if not ok:
                    raise rows
                out += [_row_dict(row, columns) for row in rows]
            size = min(size * 2, self.MAX_ROUND)
        return out[:limit]


def _measured_at(row: object) -> dict[str, datetime]:
    """Vital -> measurement time (UTC) from the ``WRITETIME`` columns of a latest row."""
    out = {}
    for c in MEASURED.values():
        micros = getattr(row, f"writetime_{c}", None)
        if micros is not None:
            out[c] = datetime.fromtimestamp(micros / 1_000_000, UTC)
    return out


def _row_dict(row: object, columns: Sequence[str]) -> dict:
    out = {c: getattr(row, c) for c in columns}
    for c in ("timestamp", "raised_at"):
        if c in out:
            out[c] = utc(out[c])
    for c in FLOAT32_DECIMALS.keys() & out.keys():
        out[c] = as_stored(c, out[c])
    if "news2_missing" in out:
        missing = out["news2_missing"] or ()
        out["news2_missing"] = [p for p in PARAMETERS if p in missing]
    return out


def as_stored(column: str, value: object) -> object:
    """A column's value as it was stored: 32-bit floats rounded (see ``FLOAT32_DECIMALS``)."""
    decimals = FLOAT32_DECIMALS.get(column)
    if decimals is None or value is None:
        return value
    return round(value, decimals)  # type: ignore[call-overload]


# --- the board ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveAlert:
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
            d = _row_dict(row, READING_COLUMNS)
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
