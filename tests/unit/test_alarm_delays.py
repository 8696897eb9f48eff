"""Alarms a nurse can trust: the default rules ignore artifacts, alarm on what persists,
faster on what is deep, once for a value hovering at a limit, and escalate in one event."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vitals.errors import RulesError
from vitals.readings import Reading
from vitals.rules import RuleEngine, load_default_rules, parse_rules

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
NORMAL = {
    "heart_rate": 72,
    "spo2": 97,
    "systolic": 122,
    "diastolic": 76,
    "respiratory_rate": 15,
    "temperature": 36.8,
}
WARM_UP = 30  # readings of a normal patient first (NEWS2 window, 2.5 min at 5 s)


def run(values: list[dict], *, every: float = 5, engine: RuleEngine | None = None) -> list:
    """Feed WARM_UP normal readings, then one reading per dict (vitals changed from NORMAL);
    return ``(seconds after the first changed reading, kind, rule, severity)`` per event."""
    engine = engine or RuleEngine(load_default_rules())
    out = []
    for i, changes in enumerate([{}] * WARM_UP + values):
        t = (i - WARM_UP) * every
        r = Reading("P1", T0 + timedelta(seconds=t), **{**NORMAL, **changes})
        _, events = engine.assess(r)
        out += [(t, e.kind, e.rule, e.severity) for e in events]
    return out


def raised(events: list, rule: str) -> list[float]:
    return [t for t, kind, r, _ in events if r == rule and kind == "raised"]


ARTIFACTS = {
    "probe motion, SpO2 dip": {"spo2": 72},
    "probe motion, shallow dip": {"spo2": 84},
    "double-counted heart rate": {"heart_rate": 176},
}


@pytest.mark.parametrize("every", [1, 5])
@pytest.mark.parametrize("readings", [1, 2])
@pytest.mark.parametrize("artifact", list(ARTIFACTS))
def test_a_one_or_two_reading_artifact_raises_nothing(
    artifact: str, readings: int, every: float
) -> None:
    values = [{}] * 20 + [ARTIFACTS[artifact]] * readings + [{}] * 40
    assert run(values, every=every) == []


@pytest.mark.parametrize("gap", [timedelta(seconds=65), timedelta(minutes=10)])
def test_two_artifacts_either_side_of_a_lead_off_gap_raise_nothing(gap: timedelta) -> None:
    engine = RuleEngine(load_default_rules())
    assert run([{}] * 10 + [{"spo2": 75}], engine=engine) == []
    after = T0 + timedelta(seconds=50) + gap
    later = [Reading("P1", after + timedelta(seconds=s), **NORMAL) for s in (0, 5, 10)]
    later[0] = Reading("P1", after, **{**NORMAL, "spo2": 75})
    assert [engine.assess(r)[1] for r in later] == [[], [], []]


def test_a_sustained_shallow_desaturation_alarms_within_its_delay() -> None:
    events = run([{"spo2": 90}] * 20)
    assert raised(events, "low_spo2") == [20]  # 2 % x 5 s per reading reaches 40 %-s at 20 s


def test_a_desaturation_just_below_the_limit_alarms_at_its_for() -> None:
    assert raised(run([{"spo2": 91}] * 20), "low_spo2") == [30]


@pytest.mark.parametrize(
    ("spo2", "after"), [(91, 30), (90, 20), (89, 15), (88, 10), (84, 10), (70, 10)]
)
def test_a_deeper_desaturation_alarms_sooner_but_never_before_10_s(spo2: int, after: int) -> None:
    assert raised(run([{"spo2": spo2}] * 20), "low_spo2") == [after]


@pytest.mark.parametrize(
    ("vital", "value", "after"),
    [
        ("heart_rate", 120, 15),
        ("heart_rate", 150, 10),
        ("heart_rate", 35, 15),
        ("heart_rate", 28, 10),
        ("systolic", 85, 15),
        ("systolic", 70, 10),
    ],
)
def test_an_extreme_value_alarms_after_10_s_instead_of_15(
    vital: str, value: int, after: int
) -> None:
    events = run([{vital: value}] * 10)
    assert [t for t, kind, _, _ in events if kind == "raised"][:1] == [after]


def test_a_noisy_crossing_is_not_restarted_by_each_reading_back_inside_the_limit() -> None:
    noisy = [{"spo2": v} for v in (91, 92, 91, 91, 92, 90, 91, 92, 91, 90, 91, 91)]
    assert raised(run(noisy), "low_spo2") == [30]


def test_a_return_inside_the_limit_for_longer_than_grace_restarts_the_delay() -> None:
    values = [{"heart_rate": 120}] * 2 + [{}] * 13 + [{"heart_rate": 120}] * 5
    assert raised(run(values), "high_heart_rate") == [75 + 15]


def test_a_return_inside_the_limit_shorter_than_grace_keeps_the_delay_running() -> None:
    values = [{"heart_rate": 120}] * 2 + [{}] * 8 + [{"heart_rate": 120}] * 2
    assert raised(run(values), "high_heart_rate") == [50]


HOVER = {  # rule: (just beyond its limit, at its limit)
    "no_pulse": ({"heart_rate": 0}, {"heart_rate": 1}),
    "high_heart_rate": ({"heart_rate": 111}, {"heart_rate": 110}),
    "low_spo2": ({"spo2": 91}, {"spo2": 92}),
    "low_heart_rate": ({"heart_rate": 39}, {"heart_rate": 40}),
    "low_systolic": ({"systolic": 89}, {"systolic": 90}),
    "high_systolic": ({"systolic": 181}, {"systolic": 180}),
    "high_diastolic": ({"diastolic": 111}, {"diastolic": 110}),
    "low_respiratory_rate": ({"respiratory_rate": 8}, {"respiratory_rate": 9}),
    "high_respiratory_rate": ({"respiratory_rate": 25}, {"respiratory_rate": 24}),
    "fever": ({"temperature": 38.1}, {"temperature": 38.0}),
    "hypothermia": ({"temperature": 34.9}, {"temperature": 35.0}),
}


@pytest.mark.parametrize("rule", list(HOVER))
def test_a_value_hovering_at_a_rule_limit_raises_once_and_never_flaps(rule: str) -> None:
    beyond, at = HOVER[rule]
    events = run([beyond, at] * 360)  # one hour alternating every 5 s
    mine = [(kind, sev) for _, kind, r, sev in events if r == rule]
    assert len(mine) == 1 and mine[0][0] == "raised"


def test_the_default_rules_cover_every_rule_in_the_hover_test() -> None:
    assert {r.name for r in load_default_rules().rules} == set(HOVER)


# NEWS2 band edges: (a reading at the lower level, one at the higher level)
# (no single-parameter rule fires on these)
SCORE_4 = {"respiratory_rate": 21, "heart_rate": 91, "systolic": 101}  # 2 + 1 + 1
SCORE_5 = {**SCORE_4, "systolic": 100}  # 2 + 1 + 2
SCORE_6 = {**SCORE_5, "temperature": 36.0}  # 2 + 1 + 2 + 1
SCORE_7 = {**SCORE_6, "spo2": 94}  # 2 + 1 + 2 + 1 + 1
BAND_EDGES = {  # lower, higher, the events of a score mostly at the higher one
    "red score (SpO2 92 | 91)": ({"spo2": 92}, {"spo2": 91}, [("raised", "low")]),
    "4 | 5": (SCORE_4, SCORE_5, [("raised", "medium")]),
    "6 | 7": (SCORE_6, SCORE_7, [("raised", "medium"), ("escalated", "high")]),
}


@pytest.mark.parametrize("edge", list(BAND_EDGES))
@pytest.mark.parametrize("every", [1, 5])
def test_a_news2_score_hovering_at_a_band_edge_raises_once(edge: str, every: float) -> None:
    lower, higher, expected = BAND_EDGES[edge]
    mostly_higher = [higher, higher, lower] * 240
    events = [e for e in run(mostly_higher, every=every) if e[2] == "news2"]
    assert [(kind, sev) for _, kind, _, sev in events] == expected


@pytest.mark.parametrize("edge", list(BAND_EDGES))
def test_a_news2_score_alternating_at_a_band_edge_never_flaps(edge: str) -> None:
    lower, higher, _ = BAND_EDGES[edge]
    events = [e for e in run([lower, higher] * 360, every=1) if e[2] == "news2"]
    assert [kind for _, kind, _, _ in events].count("cleared") == 0
    assert len(events) <= 1


def test_a_news2_escalation_is_one_escalated_event() -> None:
    events = [e for e in run([SCORE_5] * 30 + [SCORE_7] * 30 + [{}] * 40) if e[2] == "news2"]
    assert [(kind, sev) for _, kind, _, sev in events] == [
        ("raised", "medium"),
        ("escalated", "high"),
        ("cleared", "high"),
    ]


def test_one_red_reading_in_a_window_raises_no_news2_alert() -> None:
    assert run([{}] * 20 + [{"spo2": 80}] + [{}] * 20) == []


def test_an_active_news2_alert_does_not_hide_a_new_single_parameter_alarm() -> None:
    events = run([SCORE_5] * 30 + [{**SCORE_5, "spo2": 88}] * 10)
    assert [e[2] for e in events if e[1] == "raised"] == ["news2", "low_spo2"]


def test_the_escalated_alert_stays_active_at_the_new_severity() -> None:
    engine = RuleEngine(load_default_rules())
    run([SCORE_5] * 30 + [SCORE_7] * 30, engine=engine)
    (active,) = engine.active_alerts("P1")
    assert (active.rule, active.kind, active.severity) == ("news2", "raised", "high")


# --- the rule language --------------------------------------------------------------------

RULE = """rules:
  - name: low_spo2
    vital: spo2
    below: 92
    severity: high
    message: "Low SpO2: {value}"
"""


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (
            "    for: 1:30\n",
            "r.yaml:7: for: 1:30 is read by YAML as the number 90, not a time; write a duration "
            'such as for: 90s, or quote it: for: "1:30"',
        ),
        ("    area: 60\n", "r.yaml:4: area: area: needs a for: duration"),
        ("    for: 1m\n    extreme: 95\n", "extreme: an extreme must lie beyond the limit"),
        ("    for: 1m\n    min_for: 5s\n", "min_for: min_for: only applies with area: or extreme:"),
        ("    for: 1m\n    grace: 3\n", "grace: expected a duration such as 10s"),
    ],
)
def test_rule_language_mistakes_are_refused_with_how_to_write_it(extra: str, error: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(RULE + extra, "r.yaml")
    assert error in str(info.value)


def test_a_quoted_clock_duration_reads_as_minutes_and_seconds() -> None:
    rules = parse_rules(RULE + '    for: "1:30"\n', "r.yaml")
    assert rules.rules[0].for_duration == timedelta(seconds=90)


def test_area_and_extreme_default_to_10_s_before_they_may_raise(tmp_path: Path) -> None:
    rules = parse_rules(RULE + "    for: 1m\n    area: 30\n", "r.yaml")
    assert rules.rules[0].min_for == timedelta(seconds=10)


def test_a_heart_rate_of_zero_raises_no_pulse_at_once_at_high_priority() -> None:
    events = run([{"heart_rate": 0}, {"heart_rate": 0}, {"heart_rate": 72}])
    assert events[0] == (0, "raised", "no_pulse", "high")
    assert [e for e in events if e[2] == "no_pulse"][-1][:2] == (10, "cleared")
