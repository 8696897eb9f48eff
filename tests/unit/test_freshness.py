"""NEWS2 from the freshest values: complete and incomplete, for every combination of gaps."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from vitals.freshness import DEFAULT_WINDOWS, PARAMETERS, Freshest, describe
from vitals.readings import Reading

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
FULL = {
    "heart_rate": 80,
    "spo2": 97,
    "systolic": 120,
    "diastolic": 80,
    "respiratory_rate": 16,
    "temperature": 36.8,
}
FIELDS = {p: f for p, f in PARAMETERS.items()}


def reading(seconds: float, **values: object) -> Reading:
    return Reading("P1", T0 + timedelta(seconds=seconds), **values)  # type: ignore[arg-type]


def without(*params: str) -> dict:
    drop = {f for p in params for f in FIELDS[p]}
    return {k: v for k, v in FULL.items() if k not in drop}


def test_a_complete_reading_is_scored_from_its_own_values_as_before():
    basis = Freshest().update(reading(0, **FULL))
    assert basis.complete and not basis.borrowed
    assert basis.reading == reading(0, **FULL)


@pytest.mark.parametrize(
    "absent",
    [c for n in range(1, 6) for c in itertools.combinations(PARAMETERS, n)],
    ids=lambda c: "+".join(c),
)
def test_every_combination_of_parameters_never_measured_is_incomplete(absent):
    basis = Freshest().update(reading(0, **without(*absent)) if len(absent) < 5 else reading(0))
    assert not basis.complete and basis.reading is None
    assert basis.missing == tuple(p for p in PARAMETERS if p in absent)


@pytest.mark.parametrize("param", list(PARAMETERS))
def test_a_value_within_its_window_completes_a_later_partial_reading(param):
    f = Freshest()
    f.update(reading(0, **FULL))
    window = DEFAULT_WINDOWS[param].total_seconds()
    basis = f.update(reading(window, **without(param)))  # exactly the window: still fresh
    assert basis.complete and basis.ages[param] == int(window)
    for field in FIELDS[param]:
        assert getattr(basis.reading, field) == FULL[field]


@pytest.mark.parametrize("param", list(PARAMETERS))
def test_a_value_older_than_its_window_makes_the_score_incomplete(param):
    f = Freshest()
    f.update(reading(0, **FULL))
    window = DEFAULT_WINDOWS[param].total_seconds()
    basis = f.update(reading(window + 1, **without(param)))
    assert basis.missing == (param,)


def test_a_blood_pressure_ten_minutes_old_is_used_and_its_age_is_known():
    f = Freshest()
    f.update(reading(0, systolic=96, diastolic=60))
    basis = f.update(reading(600, **without("blood_pressure")))
    assert basis.complete and basis.reading.systolic == 96 and basis.ages["blood_pressure"] == 600
    assert describe(basis) == "NEWS2 from blood pressure 10 min old"


def test_the_cuffs_own_time_sets_the_age_of_a_blood_pressure():
    f = Freshest()
    cuff = T0 - timedelta(minutes=70)  # measured 70 min before it was sent: too old already
    basis = f.update(Reading("P1", T0, **FULL, bp_timestamp=cuff))  # type: ignore[arg-type]
    assert basis.missing == ("blood_pressure",)


def test_an_older_value_arriving_late_does_not_replace_a_newer_one():
    f = Freshest()
    f.update(reading(100, **FULL))
    f.update(reading(50, heart_rate=150))
    assert f.update(reading(101, spo2=96)).reading.heart_rate == 80


def test_patients_do_not_share_values():
    f = Freshest()
    f.update(reading(0, **FULL))
    other = Reading("P2", T0, heart_rate=70)
    assert f.update(other).missing == ("respiratory_rate", "spo2", "blood_pressure", "temperature")


def test_seeded_values_complete_partial_readings_after_a_rebalance():
    f = Freshest()
    f.seed(
        "P1",
        {p: (T0, tuple(FULL[x] for x in FIELDS[p])) for p in PARAMETERS},
    )
    basis = f.update(reading(60, heart_rate=90))
    assert basis.complete and basis.reading.heart_rate == 90 and basis.ages["temperature"] == 60


def test_an_incomplete_score_says_what_is_missing():
    basis = Freshest().update(reading(0, heart_rate=70, spo2=96))
    assert describe(basis) == "NEWS2 incomplete: no respiratory rate, blood pressure, temperature"
