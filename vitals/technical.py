"""Technical alarms from a device's own status: leads off, probe off, no signal, invalid.

IEC 60601-1-8 separates *physiological* alarm conditions (the patient) from
*technical* ones (the equipment: "check the probe", not "check the patient").
A monitor reports the latter per vital (``Reading.status``, e.g. HL7 OBX-11 =
``X`` mapped to ``invalid`` by the gateway; SpO2 0 is ``no_signal``). Each
(vital, status) raises one technical alarm, once; it clears at the first later
reading that measures the vital again. A reading that neither measures the
vital nor reports a status for it (a blood-pressure-only message) changes
nothing.

Priorities (IEC 60601-1-8 technical alarm conditions): ECG leads off is
**medium** — with no ECG no arrhythmia can be detected; probe off, no signal and
an invalid measurement are **low** — one parameter is unavailable and the others
still alarm. Rule names are ``{vital}_{status}`` (``ecg_leads_off`` for the heart
rate), so they never collide with a rule of the rules file.
"""

from __future__ import annotations

from vitals.readings import Reading
from vitals.rules.model import AlertEvent

PRIORITY = {"leads_off": "medium", "probe_off": "low", "no_signal": "low", "invalid": "low"}
_WHAT = {
    "leads_off": "leads off; check the electrodes",
    "probe_off": "probe off; check the probe",
    "no_signal": "no signal; check the probe and perfusion",
    "invalid": "measurement invalid; check the device",
}
_VITAL_NAME = {
    "heart_rate": "ECG",
    "spo2": "SpO2",
    "blood_pressure": "NIBP",
    "respiratory_rate": "Resp",
    "temperature": "Temp",
}
_FIELDS = {"blood_pressure": "systolic"}


def rule_name(vital: str, status: str) -> str:
    """``ecg_leads_off``, ``spo2_probe_off``, ``blood_pressure_invalid``…"""
    return f"{'ecg' if vital == 'heart_rate' else vital}_{status}"


TELEMETRY_LOST = "telemetry_lost"  # raised by the consumer's watch (vitals.telemetry)
TECHNICAL_RULES = frozenset(rule_name(v, s) for v in _VITAL_NAME for s in PRIORITY)


def is_technical_status_rule(rule: str) -> bool:
    """A technical alarm raised from a device's status (kept by ``TechnicalAlarms``)."""
    return rule in TECHNICAL_RULES


def is_technical(rule: str) -> bool:
    """True for technical alarms (check the equipment), False for physiological ones."""
    return rule == TELEMETRY_LOST or rule in TECHNICAL_RULES


class TechnicalAlarms:
    """Active technical alarms per patient; ``evaluate`` one reading at a time (event time).

    Not thread-safe: one per consuming thread, owned by the rule engine."""

    def __init__(self) -> None:
        self._active: dict[str, dict[str, AlertEvent]] = {}  # patient -> rule -> raise

    def evaluate(self, r: Reading) -> list[AlertEvent]:
        """Raised and cleared technical alarms caused by one reading."""
        active = self._active.get(r.patient_id)
        if not r.status and not active:
            return []
        active = self._active.setdefault(r.patient_id, {})
        events = []
        reported = {rule_name(v, s): (v, s) for v, s in r.status}
        for rule, raised in list(active.items()):
            vital = _vital_of(rule)
            if rule in reported or vital is None or r.timestamp <= raised.timestamp:
                continue
            if getattr(r, _FIELDS.get(vital, vital)) is not None:  # measured again
                del active[rule]
                events.append(raised.cleared(r.timestamp, 0.0))
        for rule, (vital, status) in reported.items():
            if rule in active:
                continue
            e = AlertEvent(
                r.patient_id,
                rule,
                PRIORITY[status],
                "raised",
                r.timestamp,
                0.0,
                f"{_VITAL_NAME[vital]} {_WHAT[status]} (technical)",
            )
            active[rule] = e
            events.append(e)
        return events

    def restore(self, patient_id: str, raised: AlertEvent) -> None:
        """An active technical alarm loaded from the store (a new owner)."""
        self._active.setdefault(patient_id, {})[raised.rule] = raised

    def active(self, patient_id: str) -> list[AlertEvent]:
        return list(self._active.get(patient_id, {}).values())

    def forget(self, patient_id: str) -> None:
        self._active.pop(patient_id, None)


def _vital_of(rule: str) -> str | None:
    for vital in _VITAL_NAME:
        for status in PRIORITY:
            if rule == rule_name(vital, status):
                return vital
    return None
