"""The rule engine's calm shortcut changes nothing: it gives exactly the events of visiting
every rule.

``RuleEngine`` skips the per-rule loop for a reading that is inside every raise limit of
a patient with no run under way and none of its rules active (``Checks.calm``). On
generated streams (values anywhere in their possible ranges, partial readings, device
statuses, replays and gaps, the default rules, the seed's immediate rules and a rules
file with ``news2`` and ``outside:`` rules) the engine gives the same scores, events and
final state as the same engine made to visit every rule at every reading.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitals.readings import LIMITS, Reading
from vitals.rules import RuleEngine, load_default_rules, load_rules, parse_rules
from vitals.rules.checks import Checks

EXAMPLES = int(os.environ.get("VITALS_FUZZ_EXAMPLES", "50"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
MIXED = """
news2: {window: 30s}
rules:
  - {name: wide_hr, vital: heart_rate, outside: [45, 125], clear: {inside: [50, 120]},
     severity: high, message: "HR {value}", for: 2}
  - {name: sick, vital: news2, above: 4, severity: medium, message: "NEWS2 {value}"}
  - {name: cold, vital: temperature, below: 35.5, severity: low, message: "T {value}",
     for: 20s, grace: 10s}
  - {name: unused_spo2, vital: spo2, below: 99, severity: low, message: "x", enabled: false}
"""
RULES = {
    "default": load_default_rules(),
    "immediate": load_rules(Path(__file__).parents[1] / "rules_immediate.yaml"),
    "mixed": parse_rules(MIXED, "mixed.yaml"),
}


def vital(name: str) -> st.SearchStrategy:
    low, high = LIMITS[name]
    if name == "temperature":
        return st.integers(int(low * 10), int(high * 10)).map(lambda t: t / 10)
    return st.integers(int(low), int(high))


@st.composite
def streams(draw: st.DrawFn) -> list[Reading]:
    """Readings of two patients: mostly normal, sometimes anywhere; gaps and replays."""
    out, t = [], {"A": T0, "B": T0}
    normal = {"heart_rate": 72, "spo2": 97, "systolic": 122, "diastolic": 76}
    normal |= {"respiratory_rate": 15, "temperature": 36.8}
    for _ in range(draw(st.integers(1, 80))):
        pid = draw(st.sampled_from("AB"))
        t[pid] += timedelta(seconds=draw(st.sampled_from([1, 5, 5, 5, 90, -10])))
        values = dict(normal)
        for name in draw(st.lists(st.sampled_from(list(normal)), max_size=3)):
            values[name] = draw(st.one_of(st.none(), vital(name)))
        if (values["systolic"] is None) != (values["diastolic"] is None) or (
            values["systolic"] is not None and values["diastolic"] >= values["systolic"]
        ):
            values["systolic"], values["diastolic"] = normal["systolic"], normal["diastolic"]
        status = draw(st.sampled_from([(), (), (), (("spo2", "probe_off"),)]))
        if status:
            values["spo2"] = None
        out.append(
            Reading(
                pid, t[pid], **values, consciousness=draw(st.sampled_from("AAAV")), status=status
            )
        )
    return out


def run(rules: str, readings: list[Reading]) -> tuple[list, dict]:
    engine = RuleEngine(RULES[rules])
    out = [engine.assess(r) for r in readings]
    state = {pid: (dict(p.active), dict(p.runs)) for pid, p in engine._patients.items()}
    return out, state


@FUZZ
@pytest.mark.parametrize("rules", list(RULES))
@given(readings=streams())
def test_the_calm_shortcut_gives_the_events_of_visiting_every_rule(
    rules: str, readings: list[Reading], monkeypatch: pytest.MonkeyPatch
):
    fast = run(rules, readings)
    with monkeypatch.context() as m:
        m.setattr(Checks, "calm", lambda self, values: False)
        every_rule = run(rules, readings)
    assert fast == every_rule


def test_calm_is_inside_every_raise_limit_of_the_slot():
    checks = Checks(RULES["default"].rules)
    normal = (72, 97, 122, 76, 15, 36.8, 0)
    assert checks.calm(normal)
    assert checks.calm((None,) * 7)
    assert not checks.calm((111, 97, 122, 76, 15, 36.8, 0))  # high_heart_rate: above 110
    assert not checks.calm((39, 97, 122, 76, 15, 36.8, 0))  # low_heart_rate: below 40
    assert checks.calm((110, 97, 122, 76, 15, 36.8, 0))
