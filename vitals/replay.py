"""Replaying a recording through the rules offline: exactly what the consumer would emit.

``replay(readings, ruleset)`` runs ``RuleEngine.assess`` (the function the consumer runs
for every valid reading) over the readings in file order, one engine for the whole file,
as one consumer owning every patient would. Per patient the order is the file's, as Kafka
keeps it per key; a reading not newer than the patient's last is ignored, as there.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from vitals.errors import CsvError
from vitals.readings import Reading, to_reading
from vitals.rules import AlertEvent, RuleEngine, RuleSet
from vitals.sources import plan_csv


def read_recording(path: str | Path) -> list[Reading]:
    """The readings of a CSV recording, validated (``CsvError`` names FILE:LINE).

    Every row needs its own ``timestamp``: rule delays are measured on it."""
    plan = plan_csv(path, skip_bad_rows=False)
    out = []
    for line, fields in plan.rows:
        ts = fields["timestamp"]
        if ts is None:
            raise CsvError(
                str(path), line, "timestamp", "is empty; a replay needs every reading's own time"
            )
        out.append(to_reading(fields, ts))  # type: ignore[arg-type]
    return out


def replay(readings: Iterable[Reading], ruleset: RuleSet) -> list[AlertEvent]:
    """The alert events of the readings under ``ruleset``, in the order they happen."""
    engine = RuleEngine(ruleset)
    events: list[AlertEvent] = []
    for r in readings:
        events += engine.assess(r)[1]
    return events


def event_dict(e: AlertEvent) -> dict[str, object]:
    """An event as ``vitals rules replay --format json`` prints it (one object per line)."""
    return {
        "patient_id": e.patient_id,
        "rule": e.rule,
        "kind": e.kind,
        "severity": e.severity,
        "timestamp": e.timestamp.isoformat(),
        "value": e.value,
    }
