"""Technical alarms from a device's status, and values that mean "no signal" (IEC 60601-1-8)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from vitals.readings import decode
from vitals.rules import RuleEngine, load_default_rules
from vitals.technical import is_technical

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
MS = int((T0 + timedelta(hours=1)).timestamp() * 1000)
NORMAL = {
    "heart_rate": 72,
    "spo2": 97,
    "blood_pressure": {"systolic": 122, "diastolic": 76},
    "respiratory_rate": 15,
    "temperature": 36.8,
}


def events(*messages: dict) -> list[tuple[int, str, str, str]]:
    """``(second, kind, rule, severity)`` of every event, readings 5 s apart."""
    engine = RuleEngine(load_default_rules())
    out = []
    for i, m in enumerate(messages):
        doc = {"patient_id": "P1", "timestamp": (T0 + timedelta(seconds=5 * i)).isoformat(), **m}
        r = decode(json.dumps(doc).encode(), MS)
        out += [(5 * i, e.kind, e.rule, e.severity) for e in engine.assess(r)[1]]
    return out


def test_spo2_zero_raises_no_signal_as_a_low_priority_technical_alarm_not_low_spo2():
    got = events(NORMAL, {**NORMAL, "spo2": 0}, {**NORMAL, "spo2": 0}, NORMAL)
    assert got == [(5, "raised", "spo2_no_signal", "low"), (15, "cleared", "spo2_no_signal", "low")]


def test_a_probe_off_status_raises_once_and_clears_when_spo2_is_measured_again():
    off = {**NORMAL, "status": {"spo2": "probe_off"}}
    got = events(NORMAL, off, off, off, NORMAL)
    assert got == [(5, "raised", "spo2_probe_off", "low"), (20, "cleared", "spo2_probe_off", "low")]


def test_leads_off_is_a_medium_priority_technical_alarm_and_not_asystole():
    off = {**NORMAL, "status": {"heart_rate": "leads_off"}}
    got = events(NORMAL, off, NORMAL)
    assert got == [
        (5, "raised", "ecg_leads_off", "medium"),
        (10, "cleared", "ecg_leads_off", "medium"),
    ]


def test_a_reading_that_does_not_measure_the_vital_leaves_its_technical_alarm_active():
    off = {"heart_rate": 70, "status": {"spo2": "probe_off"}}
    bp_only = {"blood_pressure": {"systolic": 120, "diastolic": 80}}
    got = events(off, bp_only, bp_only)
    assert got == [(0, "raised", "spo2_probe_off", "low")]


def test_heart_rate_zero_is_asystole_a_physiological_alarm_at_once():
    got = events(NORMAL, {**NORMAL, "heart_rate": 0})
    assert (5, "raised", "no_pulse", "high") in got


def test_technical_and_physiological_alarms_are_told_apart():
    assert is_technical("spo2_probe_off") and is_technical("ecg_leads_off")
    assert is_technical("telemetry_lost")
    assert not is_technical("no_pulse") and not is_technical("low_spo2")


def test_a_new_owner_restores_a_technical_alarm_and_clears_it_at_the_next_value():
    engine = RuleEngine(load_default_rules())
    off = {
        **NORMAL,
        "patient_id": "P1",
        "timestamp": T0.isoformat(),
        "status": {"spo2": "probe_off"},
    }
    (raised,) = engine.assess(decode(json.dumps(off).encode(), MS))[1]
    other = RuleEngine(load_default_rules())
    other.restore("P1", [raised], last_seen=T0)
    later = {**NORMAL, "patient_id": "P1", "timestamp": (T0 + timedelta(seconds=5)).isoformat()}
    got = other.assess(decode(json.dumps(later).encode(), MS))[1]
    assert [(e.kind, e.rule) for e in got] == [("cleared", "spo2_probe_off")]
