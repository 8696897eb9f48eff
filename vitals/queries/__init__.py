"""Reads for people: a patient's readings or alerts, the ward board, trend series.

One idea per module: ``times`` (the times people type, ``time_range`` and its cap, the day
partitions a range touches, ``utc``), ``history`` (one patient's readings or alerts over a
span, newest first, as stored: ``History``, ``as_stored``) and ``board`` (the census's
patients with alerts and trends, sickest first: ``Board``, ``sickness``). The helpers every
read shares (``utc``, ``SEVERITY_RANK``, ``days_newest_first``, ``as_stored``) live there,
once. Import from here.
"""

from vitals.queries.board import (
    MEASURED,
    SEVERITY_RANK,
    ActiveAlert,
    Board,
    PatientView,
    same_raise,
    sickest_first,
    sickness,
)
from vitals.queries.history import (
    ALERT_COLUMNS,
    FLOAT32_DECIMALS,
    QUERY_READING_COLUMNS,
    READING_COLUMNS,
    History,
    UnknownPatient,
    as_stored,
    row_dict,
)
from vitals.queries.times import (
    MAX_RANGE,
    days_newest_first,
    parse_duration,
    parse_time,
    time_range,
    utc,
)

__all__ = [
    "ALERT_COLUMNS",
    "FLOAT32_DECIMALS",
    "MAX_RANGE",
    "MEASURED",
    "QUERY_READING_COLUMNS",
    "READING_COLUMNS",
    "SEVERITY_RANK",
    "ActiveAlert",
    "Board",
    "History",
    "PatientView",
    "UnknownPatient",
    "as_stored",
    "days_newest_first",
    "parse_duration",
    "parse_time",
    "row_dict",
    "same_raise",
    "sickest_first",
    "sickness",
    "time_range",
    "utc",
]
