"""Ending the monitoring of a patient on purpose (discharge, transfer, monitor removed).

A patient whose readings stop raises the technical alarm *telemetry lost*
(``vitals.telemetry``) unless monitoring was ended on purpose. Ending it is
recorded like an acknowledgement: who, when and why, in ``monitoring_ended``,
as a ``monitoring``/``ended`` row in the patient's alert history, and as an
event on the alerts topic. The consumer that owns the patient then closes the
patient's active alerts (reason "monitoring ended") and stops watching it. A
reading that arrives later starts monitoring again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cassandra.cluster import Session

from vitals.errors import ConfigError, InvalidReading
from vitals.queries import UnknownPatient
from vitals.readings import check_patient_id

MONITORING_RULE = "monitoring"


def check_request(patient_id: str, *, by: str) -> None:
    """Raise ``ConfigError`` for a patient id that breaks ``vitals.readings.PATIENT_ID_RULE``
    (the rule every reading's id passes) or an empty name."""
    try:
        check_patient_id(patient_id)
    except InvalidReading as e:
        raise ConfigError(e.reason) from None
    if not by.strip():
        raise ConfigError("say who ends the monitoring (--by NAME); it is recorded")


def current_end(session: Session, patient_id: str) -> dict | None:
    """The end of monitoring of ``patient_id`` still in force, or None if it is monitored.

    In force: stored in ``monitoring_ended`` and not older than the patient's newest
    reading (``patient_latest.timestamp``; a later reading starts monitoring again, the
    census rule of ``vitals.census``). Returns ``{"ended_at": datetime (UTC), "by": str,
    "reason": str | None}``. Raises ``UnknownPatient`` if no reading of the patient is
    stored (the API answers 404 for the same id).
    """
    latest = session.execute(
        "SELECT timestamp FROM patient_latest WHERE patient_id = %s", (patient_id,)
    ).one()
    if latest is None:
        raise UnknownPatient(
            f"unknown patient {patient_id!r}: no reading of it is stored in keyspace "
            f"{session.keyspace}, so there is no monitoring to end; `vitals watch --once --all` "
            "lists the patients (ids are case-sensitive)"
        )
    row = session.execute(
        "SELECT ended_at, ended_by, reason FROM monitoring_ended WHERE patient_id = %s",
        (patient_id,),
    ).one()
    if row is None or row[0] is None or (latest[0] is not None and row[0] < latest[0]):
        return None
    return {"ended_at": row[0].replace(tzinfo=UTC), "by": row[1], "reason": row[2]}


def end_monitoring(
    session: Session, patient_id: str, *, by: str, reason: str, now: datetime | None = None
) -> dict:
    """Record that monitoring of ``patient_id`` ended; return the event (a JSON-able dict).

    ``now`` defaults to the current time (UTC, millisecond precision as Cassandra stores it).
    Raises ``ConfigError`` for a patient id that breaks ``PATIENT_ID_RULE`` or an empty name;
    driver errors propagate (the CLI reports them as Cassandra unavailable).
    """
    check_request(patient_id, by=by)
    at = (now or datetime.now(UTC)).astimezone(UTC)
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)
    message = f"Monitoring ended by {by}" + (f": {reason}" if reason else "")
    session.execute(
        "INSERT INTO monitoring_ended (patient_id, ended_at, ended_by, reason) VALUES (%s, %s, %s, %s)",
        (patient_id, at, by, reason or None),
    )
    session.execute(
        "INSERT INTO patient_alerts (patient_id, day, timestamp, rule, kind, severity, message, "
        "value, raised_at) VALUES (%s, %s, %s, %s, 'ended', 'low', %s, 0, null)",
        (patient_id, at.date(), at, MONITORING_RULE, message),
    )
    return {
        "patient_id": patient_id,
        "rule": MONITORING_RULE,
        "kind": "ended",
        "severity": "low",
        "message": message,
        "value": 0.0,
        "timestamp": at.isoformat(),
        "raised_at": None,
        "by": by,
        "reason": reason or None,
    }


def event_json(event: dict) -> bytes:
    """The event as published on the alerts topic (keyed by patient)."""
    return json.dumps(event).encode()
