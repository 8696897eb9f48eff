"""The CQL the consumer writes and reads, and the rows of a reading.

Every write is an idempotent upsert keyed by the reading's own time (a retry or a Kafka
replay rewrites the same rows); a vital not measured is bound as unset (no cell written,
no tombstone: see ``vitals.binding.RowEncoder``).
"""

from __future__ import annotations

from datetime import datetime

from vitals.freshness import Basis
from vitals.readings import Reading

INSERT_READING = (
    "INSERT INTO patient_vitals (patient_id, day, timestamp, heart_rate, spo2, systolic, "
    "diastolic, respiratory_rate, temperature, consciousness, on_oxygen, news2, news2_basis, "
    "news2_missing, bp_measured_at, status) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_LATEST = (
    "INSERT INTO patient_latest (patient_id, timestamp, heart_rate, spo2, systolic, diastolic, "
    "respiratory_rate, temperature, consciousness, on_oxygen, news2, news2_basis, "
    "news2_incomplete, bp_measured_at, status) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
INSERT_ALERT = (
    "INSERT INTO patient_alerts (patient_id, day, timestamp, rule, kind, severity, message, "
    "value, raised_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SET_ACTIVE = (
    "INSERT INTO active_alerts (patient_id, rule, severity, message, value, raised_at) "
    "VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
CLEAR_ACTIVE = "DELETE FROM active_alerts USING TIMESTAMP ? WHERE patient_id = ? AND rule = ?"
SELECT_LATEST_TS = (
    "SELECT timestamp, heart_rate, WRITETIME(heart_rate), spo2, WRITETIME(spo2), systolic, "
    "diastolic, WRITETIME(systolic), bp_measured_at, respiratory_rate, "
    "WRITETIME(respiratory_rate), temperature, WRITETIME(temperature), "
    "consciousness, WRITETIME(consciousness), on_oxygen, WRITETIME(on_oxygen) "
    "FROM patient_latest WHERE patient_id = ?"
)
SELECT_ACTIVE = (
    "SELECT rule, severity, message, value, raised_at FROM active_alerts WHERE patient_id = ?"
)
# a new owner's rule state: one read per group of patients that share replicas, not per patient
SELECT_ACTIVE_IN = (
    "SELECT patient_id, rule, severity, message, value, raised_at FROM active_alerts "
    "WHERE patient_id IN ?"
)
SELECT_LATEST_IN = SELECT_LATEST_TS.replace("SELECT ", "SELECT patient_id, ", 1).replace(
    "patient_id = ?", "patient_id IN ?"
)

REGISTER = (
    "INSERT INTO monitored_patients (topic, partition, patient_id, first_seen) VALUES (?, ?, ?, ?)"
)
UNREGISTER = "DELETE FROM monitored_patients WHERE topic = ? AND partition = ? AND patient_id = ?"
SELECT_MONITORED = "SELECT patient_id FROM monitored_patients WHERE topic = ? AND partition = ?"
SELECT_ENDED_IN = "SELECT patient_id, ended_at FROM monitoring_ended WHERE patient_id IN ?"
RESUME = "DELETE FROM monitoring_ended USING TIMESTAMP ? WHERE patient_id = ?"


def micros(ts: datetime) -> int:
    """``ts`` as microseconds since the epoch: a Cassandra write time (``USING TIMESTAMP``)."""
    return int(ts.timestamp() * 1_000_000)


def reading_row(r: Reading, news2: int | None, basis: Basis | None = None) -> tuple:
    """One ``patient_vitals`` row in ``INSERT_READING`` order (``None``: bound unset).

    ``news2``: the score, None when incomplete; ``basis``: what it was based on (None:
    the reading's own values)."""
    return (
        r.patient_id,
        r.timestamp.date(),
        r.timestamp,
        *described(r),
        news2,
        dict(basis.ages) if basis is not None and basis.borrowed else None,
        set(basis.missing) if basis is not None and basis.missing else None,
        r.bp_timestamp,
        dict(r.status) if r.status else None,
    )


def described(r: Reading) -> tuple:
    """The columns every row of a reading carries, from heart rate to on_oxygen."""
    return (
        r.heart_rate,
        r.spo2,
        r.systolic,
        r.diastolic,
        r.respiratory_rate,
        r.temperature,
        r.consciousness,
        r.on_oxygen,
    )
