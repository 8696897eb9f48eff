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

from vitals.errors import ConfigError
from vitals.readings import MAX_PATIENT_ID

MONITORING_RULE = "monitoring"


def end_monitoring(
    session: Session, patient_id: str, *, by: str, reason: str, now: datetime | None = None
) -> dict:
    """Record that monitoring of ``patient_id`` ended; return the event (a JSON-able dict).

    ``now`` defaults to the current time (UTC, millisecond precision as Cassandra stores it).
    Raises ``ConfigError`` for an empty or over-long patient id or name; driver errors
    propagate (the CLI reports them as Cassandra unavailable).
    """
    if not patient_id or len(patient_id) > MAX_PATIENT_ID:
        raise ConfigError(
            f"{patient_id[:20]!r} is not a patient id (1–{MAX_PATIENT_ID} characters)"
        )
    if not by.strip():
        raise ConfigError("say who ends the monitoring (--by NAME); it is recorded")
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
