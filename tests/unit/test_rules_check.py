"""What `vitals rules check` tells a clinical engineer: every mistake of a file in one pass,
rules that can never fire, suggestions, and SpO2 limits that follow the NEWS2 SpO2 scale."""

import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vitals.errors import RulesError
from vitals.readings import Reading
from vitals.rules import RuleEngine, load_default_rules, parse_rules

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def rule(**keys: object) -> str:
    keys = {"name": "r", "vital": "spo2", "below": 92, "severity": "high", "message": "m", **keys}
    return "  - " + "\n    ".join(f"{k}: {v}" for k, v in keys.items()) + "\n"


def error(text: str) -> str:
    with pytest.raises(RulesError) as info:
        parse_rules(text, "w.yaml")
    return str(info.value)


def test_a_file_with_several_mistakes_reports_all_of_them_in_one_pass() -> None:
    text = "rules:\n" + rule(name="a", vital="heart_rat") + rule(name="b", severity="HIGH")
    text += rule(name="c", **{"for": "1:30"}) + rule(name="d") + "news2: {alerts: maybe}\n"
    assert error(text).splitlines() == [
        "w.yaml: 4 mistakes:",
        "  w.yaml:3: vital: unknown vital 'heart_rat'; expected one of heart_rate, spo2, "
        "systolic, diastolic, respiratory_rate, temperature, news2 (did you mean 'heart_rate'?)",
        "  w.yaml:10: severity: unknown severity 'HIGH'; expected one of high, medium, low "
        "(did you mean 'high'? severities are lowercase)",
        "  w.yaml:17: for: 1:30 is read by YAML as the number 90, not a time; write a duration "
        'such as for: 90s, or quote it: for: "1:30"',
        "  w.yaml:23: alerts: expected true or false, got 'maybe'",
    ]


def test_duplicate_names_bad_scales_and_unknown_override_rules_come_in_the_same_pass() -> None:
    text = "rules:\n" + rule(name="a") + rule(name="a", vital="heart_rat")
    text += rule(name="b", severity="hgh") + rule(name="c")
    text += "overrides:\n  - patients: [P1, 1001]\n    spo2_scale: 3\n    rules:\n"
    text += "      b: {below: 90}\n      zz: {below: 90}\n      c: {belo: 90}\n"
    assert error(text).splitlines() == [
        "w.yaml: 7 mistakes:",
        "  w.yaml:7: name: duplicate rule name 'a'; the first is at line 2",
        "  w.yaml:8: vital: unknown vital 'heart_rat'; expected one of heart_rate, spo2, "
        "systolic, diastolic, respiratory_rate, temperature, news2 (did you mean 'heart_rate'?)",
        "  w.yaml:15: severity: unknown severity 'hgh'; expected one of high, medium, low "
        "(did you mean 'high'?)",
        "  w.yaml:23: patients: expected a patient id as text (quote ids YAML reads as numbers "
        "or booleans: '1001'), got 1001",
        "  w.yaml:24: spo2_scale: expected 1 or 2 (the NEWS2 SpO2 scale), got 3",
        # b is refused above: its override is not a mistake again; zz is named nowhere
        "  w.yaml:27: zz: unknown rule in this override; expected a, b, c",
        "  w.yaml:28: belo: unknown key in the override of rule 'c'; expected above, below, "
        "outside, clear, for, enabled, area, extreme, min_for, grace (did you mean 'below'?)",
    ]


def test_an_override_in_a_file_without_rules_says_there_is_none_to_override() -> None:
    text = "rules: []\noverrides:\n  - patient: P1\n    rules: {ghost: {above: 1}}\n"
    assert error(text) == (
        "w.yaml:4: ghost: unknown rule in this override; this file's rules: section defines "
        "no rule to override"
    )


def test_one_mistake_is_reported_as_before() -> None:
    assert error("rules:\n" + rule(vital="SpO2")).startswith("w.yaml:3: vital: unknown vital")
    assert "(did you mean 'spo2'?)" in error("rules:\n" + rule(vital="SpO2"))


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        ({"below": None, "above": 100}, "spo2 is never above 100; give a limit below 100"),
        ({"below": 1}, "spo2 is never below 1; give a limit above 1"),
        ({"below": None, "outside": "[1, 100]"}, "spo2 is never outside 1..100"),
        (
            {"vital": "heart_rate", "below": None, "above": 350},
            "heart_rate is never above 350; give a limit below 350",
        ),
    ],
)
def test_a_rule_that_can_never_fire_is_refused(keys: dict, reason: str) -> None:
    text = "rules:\n" + rule(**keys).replace("    below: None\n", "")
    assert f"can never fire: {reason} (rule 'r')" in error(text)


SCALE2 = "overrides:\n  - patient: P7\n    spo2_scale: 2\n"


def scale2(extra: str = "") -> str:
    text = Path(load_default_rules().source).read_text(encoding="utf-8")
    return text.replace("overrides: []", "") + SCALE2 + extra


def test_a_patient_on_spo2_scale_2_gets_spo2_limits_below_the_target_range() -> None:
    rules = parse_rules(scale2(), "w.yaml")
    (low,) = [r for r in rules.rules_for("P7") if r.name == "low_spo2"]
    assert (low.low, low.clear_low, low.extreme_low) == (88, 89, 81)
    assert [r.low for r in rules.rules_for("P1") if r.name == "low_spo2"] == [92]
    assert "note: low_spo2: below 92 -> below 88 (SpO2 scale 2 target 88-92 %" in rules.describe()


def run(engine: RuleEngine, pid: str, spo2: int) -> list[tuple[str, str]]:
    out = []
    for i in range(30):
        r = Reading(pid, T0 + timedelta(seconds=5 * i), 72, spo2, 122, 76, 15, 36.8)
        _, events = engine.assess(r)
        out += [(e.rule, e.kind) for e in events]
    return out


def test_spo2_88_on_air_scores_0_on_scale_2_and_raises_no_alarm() -> None:
    engine = RuleEngine(parse_rules(scale2(), "w.yaml"))
    assert run(engine, "P7", 88) == []
    assert ("low_spo2", "raised") in run(engine, "P1", 88)  # scale 1: below 92
    assert ("low_spo2", "raised") in run(engine, "P8", 85)


def test_a_scale_2_limit_the_override_gives_itself_is_kept_with_a_note() -> None:
    extra = "    rules: {low_spo2: {below: 90, clear: {above: 91}}}\n"
    rules = parse_rules(scale2(extra), "w.yaml")
    assert [r.low for r in rules.rules_for("P7") if r.name == "low_spo2"] == [90]
    assert "it alarms at readings NEWS2 scores 0" in rules.describe()


# --- every independent mistake in one pass: a table, and every combination of it -----------

DROP = object()  # the key is left out of the rule
MISTAKES = {  # name -> (keys changed, the field the mistake is reported under)
    "no severity": ({"severity": DROP}, "severity"),
    "no message": ({"message": DROP}, "message"),
    "vital typo": ({"vital": "heart_rat"}, "vital"),
    "clock for": ({"for": "1:30"}, "for"),
    "bad flag": ({"enabled": "maybe"}, "enabled"),
    "unknown key": ({"colour": "red"}, "colour"),
    "never fires": ({"below": DROP, "above": 100}, "above"),  # SpO2 is never above 100
}
COMBINATIONS = [
    c
    for n in range(1, len(MISTAKES) + 1)
    for c in itertools.combinations(MISTAKES, n)
    if not {"vital typo", "never fires"} <= set(c)  # an unknown vital cannot be judged
]


def one_rule(*mistakes: str) -> str:
    keys: dict[str, object] = {"name": "r", "vital": "spo2", "below": 92}
    keys |= {"severity": "high", "message": "m"}
    for m in mistakes:
        keys |= MISTAKES[m][0]
    return "rules:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in keys.items() if v is not DROP)


@pytest.mark.parametrize("mistakes", COMBINATIONS, ids=" + ".join)
def test_every_mistake_of_a_rule_is_reported_at_once(mistakes: tuple[str, ...]) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(one_rule(*mistakes), "w.yaml")
    text = str(info.value)
    lines = text.splitlines()[1:] if len(mistakes) > 1 else [text]
    fields = sorted(ln.strip().split(": ")[1] for ln in lines)
    assert fields == sorted(MISTAKES[m][1] for m in mistakes), text
    if len(mistakes) > 1:
        assert text.splitlines()[0] == f"w.yaml: {len(mistakes)} mistakes:"
    assert all(re.match(r"\s*w\.yaml:\d+: \w+: ", ln) for ln in lines), text


def test_the_newcomers_file_is_refused_with_its_four_rounds_of_mistakes_in_one() -> None:
    text = (
        "rules:\n"
        "  - name: fast\n    vital: heart_rat\n    above: 120\n    for: 1:30\n"
        "  - name: low_sats\n    vital: spo2\n    above: 100\n    severity: high\n"
        "    message: 'SpO2 {value}'\n"
    )
    assert error(text).splitlines() == [
        "w.yaml: 5 mistakes:",
        "  w.yaml:2: severity: missing in rule 'fast'; expected one of high, medium, low",
        "  w.yaml:2: message: missing in rule 'fast'; expected text such as "
        "'High heart rate: {value}'",
        "  w.yaml:3: vital: unknown vital 'heart_rat'; expected one of heart_rate, spo2, "
        "systolic, diastolic, respiratory_rate, temperature, news2 (did you mean 'heart_rate'?)",
        "  w.yaml:5: for: 1:30 is read by YAML as the number 90, not a time; write a duration "
        'such as for: 90s, or quote it: for: "1:30"',
        "  w.yaml:8: above: can never fire: spo2 is never above 100; give a limit below 100 "
        "(rule 'low_sats')",
    ]
