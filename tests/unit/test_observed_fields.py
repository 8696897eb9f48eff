"""Consciousness (ACVPU) and supplemental oxygen are observations: a message that does not
carry them has not observed them. They are never read as alert / on air; NEWS2 carries the
freshest observed value (RCP NEWS2 2017 scores the patient, not the message)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vitals.readings import Reading, decode, read_csv
from vitals.rules import RuleEngine, load_default_rules
from vitals.store.rows import reading_row

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
MS = -1  # no Kafka record time: readings keep their own
SICK1 = {
    "patient_id": "SICK1",
    "heart_rate": 135,
    "spo2": 88,
    "blood_pressure": {"systolic": 85, "diastolic": 50},
    "respiratory_rate": 28,
    "temperature": 39.5,
    "consciousness": "V",
    "on_oxygen": True,
}


def message(seconds: float, **fields: object) -> Reading:
    doc = {"timestamp": (T0 + timedelta(seconds=seconds)).isoformat(), **fields}
    return decode(json.dumps(doc).encode(), MS)


def test_a_message_without_them_has_not_observed_them() -> None:
    r = message(0, patient_id="P1", heart_rate=137)
    assert (r.consciousness, r.on_oxygen) == (None, None)
    assert b"consciousness" not in r.to_json() and b"on_oxygen" not in r.to_json()


def test_a_partial_reading_keeps_the_patients_observed_consciousness_and_oxygen() -> None:
    engine = RuleEngine(load_default_rules())
    n, _ = engine.assess(message(0, **SICK1))
    assert n is not None and n.total == 19
    n, _ = engine.assess(message(10, patient_id="SICK1", heart_rate=137))
    assert n is not None and n.total == 19  # not 14: still V, still on oxygen
    basis = engine.basis("SICK1")
    assert basis is not None and basis.reading is not None
    assert (basis.reading.consciousness, basis.reading.on_oxygen) == ("V", True)


def test_a_complete_message_without_them_carries_them_too() -> None:
    engine = RuleEngine(load_default_rules())
    engine.assess(message(0, **SICK1))
    fields = {k: v for k, v in SICK1.items() if k not in ("consciousness", "on_oxygen")}
    n, _ = engine.assess(message(60, **fields))
    assert n is not None and n.total == 19


def test_an_observation_is_carried_for_four_hours_then_no_longer() -> None:
    engine = RuleEngine(load_default_rules())
    engine.assess(message(0, **SICK1))
    fields = {k: v for k, v in SICK1.items() if k not in ("consciousness", "on_oxygen")}
    assert engine.assess(message(4 * 3600, **fields))[0].total == 19  # type: ignore[union-attr]
    assert engine.assess(message(4 * 3600 + 1, **fields))[0].total == 14  # type: ignore[union-attr]


def test_the_seeds_complete_message_scores_exactly_as_before() -> None:
    """The seed's JSON never carries them: alert and on air, as the seed always scored."""
    seed = {k: v for k, v in SICK1.items() if k not in ("consciousness", "on_oxygen")}
    n, _ = RuleEngine(load_default_rules()).assess(message(0, **seed))
    assert n is not None and n.total == 14
    assert n.as_dict()["consciousness"] == 0 and n.as_dict()["on_oxygen"] == 0


def test_a_newer_observation_replaces_the_carried_one() -> None:
    engine = RuleEngine(load_default_rules())
    engine.assess(message(0, **SICK1))
    engine.assess(message(30, patient_id="SICK1", heart_rate=137, consciousness="A"))
    n, _ = engine.assess(message(40, patient_id="SICK1", heart_rate=137))
    assert n is not None and n.as_dict()["consciousness"] == 0
    assert n.as_dict()["on_oxygen"] == 2  # oxygen still observed at 0 s


def test_the_stored_row_leaves_them_unset_instead_of_alert_and_air() -> None:
    r = message(0, patient_id="P1", heart_rate=137)
    row = reading_row(r, None)
    assert (row[9], row[10]) == (None, None)  # bound unset: no cell, no tombstone


def test_a_blank_csv_cell_is_not_observed(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text(
        "patient_id,timestamp,heart_rate,spo2,systolic,diastolic,respiratory_rate,"
        "temperature,consciousness,on_oxygen\n"
        f"P1,{T0.isoformat()},80,,,,,,,\n"
        f"P1,{T0.isoformat()},80,,,,,,v,air\n"
    )
    rows = [fields for _, fields in read_csv(f)]
    assert [(r["consciousness"], r["on_oxygen"]) for r in rows] == [(None, None), ("V", False)]  # type: ignore[index]
