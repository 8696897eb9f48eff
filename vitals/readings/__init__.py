"""Readings: the ``Reading`` value, parsing from Kafka JSON and CSV rows, validation, serialisation.

The wire format is the seed's JSON (nested ``blood_pressure``); a flat
``systolic``/``diastolic`` form is accepted too. An unknown top-level field is refused
(naming the nearest known one: a misspelt vital must not vanish); ``device`` is the
one metadata object allowed. A reading carries any non-empty subset of the vitals, as monitors
send them (heart rate and SpO2 every few seconds, blood pressure per cuff
cycle, temperature rarely): a vital missing, ``null`` or a blank CSV cell is
not measured (``None``), never 0. Systolic and diastolic come together.
``blood_pressure.timestamp`` is the cuff's own measurement time.

A patient id is 1–64 printable ASCII characters with single inner spaces, without
``/`` or ``\\`` and not ``.`` or ``..`` (``PATIENT_ID_RULE``): it is one path segment
of the web's URLs, so an id that a URL would split could be stored but never opened.
Every format refuses it (dead letter, CSV FILE:LINE, ``--patients``, HL7 ``AE``).

Values that mean "no signal" are data, not errors (IEC 60601-1-8 separates
physiological from technical alarm conditions):
    * heart rate 0 is a physiological event (asystole / no pulse) and kept;
    * SpO2 0 is no perfusion signal (probe off, no pulse at the probe): a
      technical condition, kept as the status ``no_signal`` without a value;
    * a device's explicit status per vital (``"status": {"spo2": "probe_off"}``;
      ``probe_off``, ``leads_off``, ``no_signal``, ``invalid``) likewise: the
      vital is then not measured, and any value sent with it is not used;
    * anything negative or beyond physiology stays impossible (dead letter). Whole-number vitals given with a fraction (``90.5`` from a CSV) are
rounded half up once, here (temperature to one decimal: 36.05 → 36.1), so the
stored value, the NEWS2 band and the rules all see the same number.

The package holds one idea per module: ``model`` (the value and ``build``, the
one validation every format passes), ``wire`` (Kafka JSON, ``decode``) and
``csv_file`` (CSV rows, ``read_csv``/``to_reading``). Import from here.
"""

from vitals.readings.csv_file import (
    CSV_OPTIONAL,
    CSV_REQUIRED,
    CSV_SEPARATORS,
    CsvRow,
    read_csv,
    to_reading,
)
from vitals.readings.model import (
    CONSCIOUSNESS,
    EARLIEST,
    LIMITS,
    MAX_AHEAD,
    MAX_PATIENT_ID,
    PATIENT_ID_RULE,
    STATUS_VITALS,
    STATUSES,
    VITALS,
    Reading,
    build,
    check_patient_id,
    parse_consciousness,
    parse_timestamp,
)
from vitals.readings.wire import MAX_DEPTH, decode, record_time

__all__ = [
    "CONSCIOUSNESS",
    "CSV_OPTIONAL",
    "CSV_REQUIRED",
    "CSV_SEPARATORS",
    "EARLIEST",
    "LIMITS",
    "MAX_AHEAD",
    "MAX_DEPTH",
    "MAX_PATIENT_ID",
    "PATIENT_ID_RULE",
    "STATUSES",
    "STATUS_VITALS",
    "VITALS",
    "CsvRow",
    "Reading",
    "build",
    "check_patient_id",
    "decode",
    "parse_consciousness",
    "parse_timestamp",
    "read_csv",
    "record_time",
    "to_reading",
]
