"""One patient's readings or alerts over a time span: the one read behind ``vitals query``
and the API's ``/patients/{id}/readings``, ``/alerts`` and FHIR ``Observation`` pages.

Readings and alerts live in one partition per patient per UTC day, so a span is read one
day at a time, newest day first, with one prepared statement per table, and stops as soon
as ``limit`` rows are in hand. Rows come back as dicts, newest first, as they were stored:
times aware in UTC, 32-bit floats rounded to the decimals the consumer stored
(``as_stored``), ``news2_missing`` in NEWS2 chart order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args

from vitals.errors import VitalsError
from vitals.freshness import PARAMETERS
from vitals.queries.times import days_newest_first, utc

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
#: no fresh value (the score is incomplete and ``news2`` is None; see vitals.freshness), then
#: the device's technical statuses by vital (``{"spo2": "probe_off"}``; see
#: vitals.readings.STATUSES): a vital with a status was not measured for that reason.
QUERY_READING_COLUMNS = (*READING_COLUMNS, "news2_missing", "status")
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
#: What ``History`` reads: table and columns of each kind of row.
_SOURCES = {
    "readings": ("patient_vitals", QUERY_READING_COLUMNS),
    "alerts": ("patient_alerts", ALERT_COLUMNS),
}


def _select(kind: str, upper: str) -> str:
    table, columns = _SOURCES[kind]
    return (
        f"SELECT {', '.join(columns)} FROM {table} "
        f"WHERE patient_id = ? AND day = ? AND timestamp >= ? AND timestamp {upper} ? LIMIT ?"
    )


class UnknownPatient(VitalsError):
    """Nothing of this patient is stored (exit 1)."""


class History:
    """A patient's readings or alerts over a time span, newest first, across days.

    The span is ``start <= timestamp <= end`` (``vitals query --since/--until``), or
    ``start <= timestamp < end`` with ``end_exclusive`` (the API's ``[start, end)``, whose
    pages follow one another without overlap).

    Days are read newest first in concurrent rounds of 1, 2, 4 … partitions, so a dense
    range stops after the first day that fills ``limit`` and a sparse one (31 days, see
    ``MAX_RANGE``) takes five rounds, not 31 round trips. ``readings`` and ``alerts`` refuse
    a patient with no ``patient_latest`` row at once with ``UnknownPatient``; ``span`` reads
    without asking (for a caller that answers an unknown patient its own way).
    """

    MAX_ROUND = 32  # partitions read at once (each a small query bounded by the limit)

    def __init__(
        self, session: Session, *, concurrency: int = 64, end_exclusive: bool = False
    ) -> None:
        self.session = session
        self.concurrency = concurrency
        upper = "<" if end_exclusive else "<="
        self._prepared = {kind: session.prepare(_select(kind, upper)) for kind in _SOURCES}
        self._known = session.prepare("SELECT patient_id FROM patient_latest WHERE patient_id = ?")
        self._recent = session.prepare(
            "SELECT patient_id FROM patient_vitals WHERE patient_id = ? AND day = ? LIMIT 1"
        )

    def require_patient(self, patient_id: str) -> None:
        """Raise ``UnknownPatient`` if no reading of ``patient_id`` was ever stored.

        Its ``patient_latest`` row answers; a patient whose first readings were stored
        within the consumer's last commit interval (seconds: the newest values are written
        once per interval) has none yet, so today's and yesterday's (UTC) reading
        partitions are asked too before refusing."""
        if self.session.execute(self._known, (patient_id,)).one() is not None:
            return
        today = datetime.now(UTC).date()
        for day in (today, today - timedelta(days=1)):
            if self.session.execute(self._recent, (patient_id, day)).one() is not None:
                return
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
        self.require_patient(patient_id)
        return self.span("readings", patient_id, start, end, limit=limit)

    def alerts(self, patient_id: str, start: datetime, end: datetime, *, limit: int) -> list[dict]:
        """Alert events (raised, cleared, acknowledged) with the keys of ``ALERT_COLUMNS``,
        newest first."""
        self.require_patient(patient_id)
        return self.span("alerts", patient_id, start, end, limit=limit)

    def span(
        self,
        kind: Literal["readings", "alerts"],
        patient_id: str,
        start: datetime,
        end: datetime,
        *,
        limit: int,
    ) -> list[dict]:
        """The newest ``limit`` rows of ``kind`` in the span, newest first, whether or not
        the patient is known (an unknown one has none)."""
        prepared, columns = self._prepared[kind], _SOURCES[kind][1]
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
                out += [row_dict(row, columns) for row in rows]
            size = min(size * 2, self.MAX_ROUND)
        return out[:limit]


def row_dict(row: object, columns: Sequence[str]) -> dict:
    """``columns`` of a driver row as a dict, as stored: ``timestamp``/``raised_at`` aware
    UTC, 32-bit floats rounded (``as_stored``), ``news2_missing`` a list in chart order,
    ``status`` a dict by vital sorted by vital ({} when the device reported none)."""
    out = {c: getattr(row, c) for c in columns}
    for c in ("timestamp", "raised_at"):
        if c in out:
            out[c] = utc(out[c])
    for c in FLOAT32_DECIMALS.keys() & out.keys():
        out[c] = as_stored(c, out[c])
    if "news2_missing" in out:
        missing = out["news2_missing"] or ()
        out["news2_missing"] = [p for p in PARAMETERS if p in missing]
    if "status" in out:
        out["status"] = dict(sorted((out["status"] or {}).items()))
    return out


def as_stored(column: str, value: object) -> object:
    """A column's value as it was stored: 32-bit floats rounded (see ``FLOAT32_DECIMALS``)."""
    decimals = FLOAT32_DECIMALS.get(column)
    if decimals is None or value is None:
        return value
    return round(value, decimals)  # type: ignore[call-overload]
