"""The rules file and the alert engine, as a clinical engineer would rely on them."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from vitals import news2
from vitals.errors import RulesError
from vitals.readings import Reading
from vitals.rules import AlertEvent, RuleEngine, RuleSet, load_default_rules, load_rules

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
NORMAL = {
    "heart_rate": 70,
    "spo2": 98,
    "systolic": 120,
    "diastolic": 70,
    "respiratory_rate": 16,
    "temperature": 37.0,
}
HR_RULE = {
    "name": "hr",
    "vital": "heart_rate",
    "above": 110,
    "severity": "medium",
    "message": "High heart rate: {value}",
}


def reading(t: float, patient: str = "P001", **changes: object) -> Reading:
    """A normal reading ``t`` seconds after T0, with some vitals changed."""
    return Reading(patient, T0 + timedelta(seconds=t), **{**NORMAL, **changes})


def rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def ruleset(tmp_path: Path, *rules: dict, news2_alerts: bool = False, **top: object) -> RuleSet:
    doc = {"rules": list(rules), "news2": {"alerts": news2_alerts}, **top}
    return load_rules(rules_file(tmp_path, yaml.safe_dump(doc, sort_keys=False)))


def hr_engine(tmp_path: Path, **changes: object) -> RuleEngine:
    return RuleEngine(ruleset(tmp_path, {**HR_RULE, **changes}))


def feed(
    engine: RuleEngine,
    key: str,
    values: list,
    *,
    every: float = 1,
    start: float = 0,
    patient: str = "P001",
) -> list[tuple[float, str, str]]:
    """Feed one reading per value of vital ``key``; return (seconds, kind, rule) per event."""
    out = []
    for i, v in enumerate(values):
        r = reading(start + i * every, patient, **{key: v})
        for e in engine.evaluate(r, news2.score(r)):
            out.append(((e.timestamp - T0).total_seconds(), e.kind, e.rule))
    return out


# --- the default file ---------------------------------------------------------------------


def test_default_rules_reproduce_the_seed_alert_line_once_the_values_persist() -> None:
    engine = RuleEngine(load_default_rules())
    messages = []
    for s in range(0, 45, 5):  # the seed's limits, held for 40 s (see test_alarm_delays)
        r = reading(s, heart_rate=115, spo2=91)
        messages += [e.message for e in engine.assess(r)[1]]
    seed = [m for m in messages if m.startswith(("High heart rate", "Low SpO2"))]
    assert ">>> ALERT: " + "; ".join(seed) == ">>> ALERT: High heart rate: 115; Low SpO2: 91"


def test_describe_lists_the_effective_rules() -> None:
    text = load_default_rules().describe()
    assert (
        "high_heart_rate        heart_rate > 110 for 15s (sooner: > 140, after 10s; grace 1m), "
        "clears < 105" in text
    )
    assert "news2" in text.splitlines()[-1]


# --- conditions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "vital", "value", "raised"),
    [
        ({"above": 110}, "heart_rate", 110, False),
        ({"above": 110}, "heart_rate", 111, True),
        ({"above": 110}, "heart_rate", 110.49, False),  # reads as 110
        ({"above": 110}, "heart_rate", 110.5, True),  # reads as 111
        ({"below": 92}, "spo2", 92, False),
        ({"below": 92}, "spo2", 91, True),
        ({"below": 92}, "spo2", 91.5, False),  # reads as 92
        ({"outside": [50, 120]}, "heart_rate", 49, True),
        ({"outside": [50, 120]}, "heart_rate", 50, False),
        ({"outside": [50, 120]}, "heart_rate", 120, False),
        ({"outside": [50, 120]}, "heart_rate", 121, True),
        ({"above": 38.0}, "temperature", 38.0, False),
        ({"above": 38.0}, "temperature", 38.04, False),  # reads as 38.0
        ({"above": 38.0}, "temperature", 38.05, True),  # reads as 38.1
        ({"below": 35.0}, "temperature", 34.95, False),  # reads as 35.0
        ({"below": 35.0}, "temperature", 34.9, True),
        ({"above": 4}, "news2", 111, True),  # heart rate 111 scores 2, respiration 25 scores 3
    ],
)
def test_conditions(
    tmp_path: Path, condition: dict, vital: str, value: float, raised: bool
) -> None:
    rule = {"name": "r", "vital": vital, **condition, "severity": "low", "message": "{value}"}
    engine = RuleEngine(ruleset(tmp_path, rule))
    changes = {"heart_rate": value, "respiratory_rate": 25} if vital == "news2" else {vital: value}
    r = reading(0, **changes)
    assert bool(engine.evaluate(r, news2.score(r))) is raised


def test_a_raised_event_carries_the_reading_value_and_message(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path, message="HR {value} > {threshold} ({severity}, {patient_id})")
    r = reading(5, heart_rate=110.5)
    assert engine.evaluate(r, news2.score(r)) == [
        AlertEvent(
            "P001", "hr", "medium", "raised", r.timestamp, 111.0, "HR 111 > 110 (medium, P001)"
        )
    ]


def test_an_outside_rule_names_the_limit_crossed(tmp_path: Path) -> None:
    rule = {**HR_RULE, "message": "{value} vs {threshold}"}
    del rule["above"]
    engine = RuleEngine(ruleset(tmp_path, {**rule, "outside": [50, 120]}))
    low, high = reading(0, heart_rate=45), reading(1, "P002", heart_rate=125)
    assert engine.evaluate(low, news2.score(low))[0].message == "45 vs 50"
    assert engine.evaluate(high, news2.score(high))[0].message == "125 vs 120"


def test_an_alert_is_raised_once_while_it_stays_true(tmp_path: Path) -> None:
    assert feed(hr_engine(tmp_path), "heart_rate", [115, 120, 130, 111]) == [(0, "raised", "hr")]


def test_without_clear_an_alert_clears_when_the_condition_is_false(tmp_path: Path) -> None:
    events = feed(hr_engine(tmp_path), "heart_rate", [115, 111, 110, 109])
    assert events == [(0, "raised", "hr"), (2, "cleared", "hr")]


def test_a_cleared_event_names_its_raise(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path)
    first, second = reading(0, heart_rate=115), reading(7, heart_rate=100)
    raised = engine.evaluate(first, news2.score(first))[0]
    [cleared] = engine.evaluate(second, news2.score(second))
    assert (cleared.kind, cleared.severity, cleared.timestamp, cleared.raised_at) == (
        "cleared",
        "medium",
        second.timestamp,
        raised.timestamp,
    )
    assert (cleared.value, cleared.message) == (100.0, "Cleared: High heart rate: 115 (now 100)")


def test_each_patient_has_its_own_state(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path)
    assert feed(engine, "heart_rate", [115], patient="P001") == [(0, "raised", "hr")]
    assert feed(engine, "heart_rate", [115], patient="P002") == [(0, "raised", "hr")]
    assert feed(engine, "heart_rate", [100], start=1, patient="P002") == [(1, "cleared", "hr")]
    assert [e.rule for e in engine.active_alerts("P001")] == ["hr"]


# --- hysteresis -----------------------------------------------------------------------------


def test_hysteresis_clears_only_below_the_clear_limit(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path, clear={"below": 105})
    events = feed(engine, "heart_rate", [111, 110, 109, 106, 105, 104, 111])
    assert events == [(0, "raised", "hr"), (5, "cleared", "hr"), (6, "raised", "hr")]


def test_a_value_hovering_at_the_limit_does_not_flap(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path, clear={"below": 105})
    assert feed(engine, "heart_rate", [110, 111, 110, 111, 109, 112, 110, 111]) == [
        (1, "raised", "hr")
    ]


def test_hysteresis_of_a_below_rule(tmp_path: Path) -> None:
    rule = {
        "name": "spo2",
        "vital": "spo2",
        "below": 92,
        "clear": {"above": 94},
        "severity": "high",
        "message": "Low SpO2: {value}",
    }
    events = feed(RuleEngine(ruleset(tmp_path, rule)), "spo2", [91, 92, 94, 95, 91])
    assert events == [(0, "raised", "spo2"), (3, "cleared", "spo2"), (4, "raised", "spo2")]


def test_hysteresis_of_an_outside_rule(tmp_path: Path) -> None:
    rule = {
        "name": "hr",
        "vital": "heart_rate",
        "outside": [50, 120],
        "clear": {"inside": [55, 110]},
        "severity": "high",
        "message": "{value}",
    }
    events = feed(RuleEngine(ruleset(tmp_path, rule)), "heart_rate", [49, 52, 55, 125, 115, 110])
    assert events == [
        (0, "raised", "hr"),
        (2, "cleared", "hr"),
        (3, "raised", "hr"),
        (5, "cleared", "hr"),
    ]


# --- for: -----------------------------------------------------------------------------------


def test_for_readings_raises_at_the_nth_consecutive_true_reading(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path, **{"for": 3})
    assert feed(engine, "heart_rate", [115, 115, 115, 115]) == [(2, "raised", "hr")]


def test_for_readings_restarts_after_a_false_reading(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path, **{"for": 3})
    assert feed(engine, "heart_rate", [115, 115, 100, 115, 115, 115]) == [(5, "raised", "hr")]


@pytest.mark.parametrize(
    ("duration", "every", "raised_at"),
    [("30s", 10, 30), ("30s", 7, 35), ("2m", 60, 120), ("1m30s", 45, 90), ("1h", 1800, 3600)],
)
def test_for_a_duration_is_measured_on_the_readings_timestamps(
    tmp_path: Path, duration: str, every: float, raised_at: float
) -> None:
    engine = hr_engine(tmp_path, **{"for": duration})
    assert feed(engine, "heart_rate", [115] * 12, every=every) == [(raised_at, "raised", "hr")]


def test_for_a_duration_restarts_after_a_false_reading(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path, **{"for": "30s"})
    events = feed(engine, "heart_rate", [115, 115, 100, 115, 115, 115, 115, 115], every=10)
    assert events == [(60, "raised", "hr")]


def test_a_gap_in_the_readings_does_not_restart_a_duration(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path, **{"for": "30s"})
    assert feed(engine, "heart_rate", [115, 115], every=600) == [(600, "raised", "hr")]


# --- NEWS2 ----------------------------------------------------------------------------------


def news2_feed(engine: RuleEngine, changes: list[dict]) -> list[tuple[float, str, str, str]]:
    out = []
    for i, c in enumerate(changes):
        r = reading(i, **c)
        out += [(i, e.kind, e.rule, e.severity) for e in engine.evaluate(r, news2.score(r))]
    return out


RED = {"consciousness": "V"}  # 3 points
FIVE = {"consciousness": "V", "heart_rate": 111}  # 3 + 2
SEVEN = {"consciousness": "V", "heart_rate": 111, "on_oxygen": True}  # 3 + 2 + 2


def test_news2_alerts_escalate_in_one_event_per_level(tmp_path: Path) -> None:
    engine = RuleEngine(ruleset(tmp_path, news2_alerts=True))
    assert news2_feed(engine, [{}, RED, FIVE, SEVEN]) == [
        (1, "raised", "news2", "low"),
        (2, "escalated", "news2", "medium"),
        (3, "escalated", "news2", "high"),
    ]


def test_a_lower_news2_level_keeps_the_higher_alert_until_no_level_is_reached(
    tmp_path: Path,
) -> None:
    engine = RuleEngine(ruleset(tmp_path, news2_alerts=True))
    assert news2_feed(engine, [SEVEN, FIVE, RED, SEVEN, {"heart_rate": 111}]) == [
        (0, "raised", "news2", "high"),
        (4, "cleared", "news2", "high"),
    ]


def test_news2_alert_message(tmp_path: Path) -> None:
    engine = RuleEngine(ruleset(tmp_path, news2_alerts=True))
    r = reading(0, **SEVEN)
    assert [e.message for e in engine.evaluate(r, news2.score(r))] == [
        "NEWS2 7: emergency response"
    ]


def test_news2_alerts_can_be_turned_off(tmp_path: Path) -> None:
    assert news2_feed(RuleEngine(ruleset(tmp_path, news2_alerts=False)), [SEVEN]) == []


# --- overrides ------------------------------------------------------------------------------


def test_an_override_changes_a_limit_for_its_patients_only(tmp_path: Path) -> None:
    override = {"patients": ["P002", "P003"], "rules": {"hr": {"above": 120}}}
    engine = RuleEngine(ruleset(tmp_path, HR_RULE, overrides=[override]))
    assert feed(engine, "heart_rate", [115], patient="P001") == [(0, "raised", "hr")]
    assert feed(engine, "heart_rate", [115, 121], patient="P002") == [(1, "raised", "hr")]
    assert feed(engine, "heart_rate", [121], patient="P003") == [(0, "raised", "hr")]


def test_an_override_sets_spo2_scale_2(tmp_path: Path) -> None:
    rs = ruleset(tmp_path, HR_RULE, overrides=[{"patient": "P002", "spo2_scale": 2}])
    assert (rs.spo2_scale("P001"), rs.spo2_scale("P002")) == (1, 2)
    r = reading(0, "P002", spo2=88)
    assert news2.score(r, spo2_scale=rs.spo2_scale("P002")).total == 0


def test_an_override_can_disable_a_rule(tmp_path: Path) -> None:
    override = {"patient": "P002", "rules": {"hr": {"enabled": False}}}
    engine = RuleEngine(ruleset(tmp_path, HR_RULE, overrides=[override]))
    assert feed(engine, "heart_rate", [150], patient="P002") == []


def test_later_overrides_win_key_by_key(tmp_path: Path) -> None:
    overrides = [
        {"patient": "P002", "spo2_scale": 2, "rules": {"hr": {"above": 120, "for": 2}}},
        {"patients": ["P002"], "rules": {"hr": {"above": 130}}},
    ]
    rs = ruleset(tmp_path, HR_RULE, overrides=overrides)
    [rule] = rs.rules_for("P002")
    assert (rule.high, rule.for_readings, rs.spo2_scale("P002")) == (130, 2, 2)
    assert "P002: NEWS2 SpO2 scale 2" in rs.describe()


# --- handing patients between consumers -------------------------------------------------------


def raised_event(rule: str = "hr", t: float = 0, patient: str = "P001") -> AlertEvent:
    return AlertEvent(
        patient, rule, "medium", "raised", T0 + timedelta(seconds=t), 115.0, "High heart rate: 115"
    )


def test_a_restored_alert_is_not_raised_again_and_is_cleared(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path)
    engine.restore("P001", [raised_event(t=0)])
    assert feed(engine, "heart_rate", [120, 100], start=10) == [(11, "cleared", "hr")]


def test_a_cleared_restored_alert_names_when_it_was_raised(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path)
    engine.restore("P001", [raised_event(t=0)])
    r = reading(10, heart_rate=100)
    [e] = engine.evaluate(r, news2.score(r))
    assert (e.raised_at, e.message) == (T0, "Cleared: High heart rate: 115 (now 100)")


def test_a_restored_alert_is_not_cleared_by_readings_before_its_raise(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path)
    engine.restore("P001", [raised_event(t=50)])
    assert feed(engine, "heart_rate", [100, 115, 100], start=49) == [(51, "cleared", "hr")]


def test_readings_up_to_the_restored_last_seen_are_a_replay_and_change_nothing(
    tmp_path: Path,
) -> None:
    engine = hr_engine(tmp_path)
    engine.restore("P001", [], last_seen=T0 + timedelta(seconds=20))
    # the previous owner already raised and cleared for these; a replay must not repeat it
    assert feed(engine, "heart_rate", [115, 100], start=19) == []
    assert feed(engine, "heart_rate", [115], start=21) == [(21, "raised", "hr")]


def test_a_restored_alert_of_an_unknown_rule_is_cleared_at_the_next_reading(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path)
    engine.restore("P001", [raised_event("gone")])
    assert feed(engine, "heart_rate", [70], start=1) == [(1, "cleared", "gone")]
    assert engine.active_alerts("P001") == []


def test_active_alerts_are_the_raised_events(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path)
    r = reading(0, heart_rate=115)
    events = engine.evaluate(r, news2.score(r))
    assert engine.active_alerts("P001") == events
    assert engine.active_alerts("P009") == []


def test_restore_refuses_events_of_another_patient(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot restore"):
        hr_engine(tmp_path).restore("P001", [raised_event(patient="P002")])


def test_forget_drops_a_patient(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path)
    feed(engine, "heart_rate", [115])
    engine.forget("P001")
    assert engine.active_alerts("P001") == []
    assert feed(engine, "heart_rate", [115], start=1) == [(1, "raised", "hr")]


# --- replays --------------------------------------------------------------------------------


def test_replaying_readings_produces_no_events(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path, clear={"below": 105})
    values = [100, 115, 112, 104, 120]
    assert len(feed(engine, "heart_rate", values)) == 3
    assert feed(engine, "heart_rate", values) == []


def test_a_reading_with_the_same_timestamp_is_ignored(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path)
    assert feed(engine, "heart_rate", [100]) == []
    assert feed(engine, "heart_rate", [115]) == []


def test_an_older_reading_does_not_break_a_sustained_count(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path, **{"for": 3})
    assert feed(engine, "heart_rate", [115, 115], start=10) == []
    assert feed(engine, "heart_rate", [100], start=0) == []  # replayed, ignored
    assert feed(engine, "heart_rate", [115], start=12) == [(12, "raised", "hr")]


# --- replacing the rules (SIGHUP) -------------------------------------------------------------


def test_replace_rules_keeps_active_alerts_of_rules_with_the_same_name(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path)
    feed(engine, "heart_rate", [115])
    engine.replace_rules(ruleset(tmp_path, {**HR_RULE, "clear": {"below": 100}}))
    assert feed(engine, "heart_rate", [120, 105, 99], start=1) == [(3, "cleared", "hr")]


def test_replace_rules_keeps_sustained_counts(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path, **{"for": 3})
    feed(engine, "heart_rate", [115, 115])
    engine.replace_rules(ruleset(tmp_path, {**HR_RULE, "for": 3, "message": "new"}))
    assert feed(engine, "heart_rate", [115], start=2) == [(2, "raised", "hr")]


def test_replace_rules_clears_alerts_of_removed_rules(tmp_path: Path) -> None:
    engine = hr_engine(tmp_path)
    feed(engine, "heart_rate", [115])
    engine.replace_rules(ruleset(tmp_path, {**HR_RULE, "name": "other", "above": 200}))
    assert feed(engine, "heart_rate", [115], start=1) == [(1, "cleared", "hr")]


# --- malformed files ------------------------------------------------------------------------

RULE = """\
rules:
  - name: hr
    vital: heart_rate
    above: 110
    severity: medium
    message: "High heart rate: {value}"
"""
OVERRIDE = RULE + "overrides:\n  - patient: P001\n"
CLEARING = OVERRIDE.replace("    message:", "    clear: {below: 105}\n    message:")


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        ("", None, None, "the file is empty; expected rules: (see default_rules.yaml)"),
        (
            "# only a comment\n",
            None,
            None,
            "the file is empty; expected rules: (see default_rules.yaml)",
        ),
        ("rules: [a, b\n", 2, None, "not valid YAML: expected ',' or ']', but got '<stream end>'"),
        ("- a\n", 1, None, "expected a rules file ('key: value' lines), got a list"),
        (
            "rule:\n  - name: x\n",
            1,
            "rule",
            "unknown key in a rules file; expected rules, overrides, news2 (did you mean 'rules'?)",
        ),
        (
            RULE.replace("above", "abve"),
            4,
            "abve",
            "unknown key in a rule; expected name, vital, above, below, outside, severity, message, "
            "for, clear, enabled, area, extreme, min_for, grace (did you mean 'above'?)",
        ),
        (
            RULE.replace("heart_rate", "heart_rat"),
            3,
            "vital",
            "unknown vital 'heart_rat'; expected one of heart_rate, spo2, systolic, diastolic, "
            "respiratory_rate, temperature, news2 (did you mean 'heart_rate'?)",
        ),
        (RULE.replace("110", "high"), 4, "above", "expected a number, got 'high'"),
        (
            RULE.replace("above: 110", "outside: [120, 50]"),
            4,
            "outside",
            "low bound 120 is not below high bound 50; write [low, high]",
        ),
        (
            RULE + "    for: 30 seconds\n",
            7,
            "for",
            "expected a number of readings (e.g. 3) or a duration such as 30s, 2m, 1h, 1m30s, "
            "got '30 seconds'",
        ),
        (
            RULE + RULE.removeprefix("rules:\n"),
            7,
            "name",
            "duplicate rule name 'hr'; the first is at line 2",
        ),
        (
            RULE.replace("    severity: medium\n", ""),
            2,
            "severity",
            "missing in rule 'hr'; expected one of high, medium, low",
        ),
        (
            RULE.replace("above: 110", "above: 110\n    below: 50"),
            5,
            "below",
            "this rule already has above:; give only one of above:, below:, outside:",
        ),
        (
            RULE + "    clear: {below: 115}\n",
            7,
            "clear",
            "below: 115 is above the limit above: 110; it must not be above it (rule 'hr')",
        ),
        (
            CLEARING.replace(
                "- patient: P001", "- patient: P001\n    rules:\n      hr: {above: 100}"
            ),
            11,
            "clear",
            "below: 105 is above the limit above: 100; it must not be above it "
            "(rule 'hr'); give this override a clear: of its own",
        ),
    ],
)
def test_exact_messages(
    tmp_path: Path, text: str, line: int | None, key: str | None, reason: str
) -> None:
    path = rules_file(tmp_path, text)
    with pytest.raises(RulesError) as info:
        load_rules(path)
    where = f"{path}:{line}" if line else str(path)
    assert str(info.value) == f"{where}: {key}: {reason}" if key else f"{where}: {reason}"
    assert (info.value.line, info.value.field, info.value.exit_code) == (line, key, 2)


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        ("rules: {a: 1}\n", 1, "rules", "expected a list of rules"),
        ("rules:\n  - hr\n", 2, "rules", "expected a rule ('key: value' lines), got 'hr'"),
        ("rules:\n\t- x\n", 2, None, "not valid YAML"),
        (RULE.replace("heart_rate", "pulse"), 3, "vital", "did you mean 'heart_rate'?"),
        (RULE.replace("heart_rate", "[a]"), 3, "vital", "expected text, got a list"),
        (RULE.replace("110", "yes"), 4, "above", "expected a number, got true"),
        (RULE.replace("110", ""), 4, "above", "expected a number, got nothing"),
        (RULE.replace("110", "1000"), 4, "above", "outside the possible heart_rate range 0..350"),
        (RULE.replace("above: 110", "outside: [50, 50]"), 4, "outside", "not below high bound"),
        (RULE.replace("above: 110", "outside: [50]"), 4, "outside", "expected [low, high]"),
        (RULE + "    for: 0\n", 7, "for", "got 0"),
        (RULE + "    for: 1.5\n", 7, "for", "got 1.5"),
        (RULE + "    for: 0s\n", 7, "for", "got '0s'"),
        (RULE + "    for: 5d\n", 7, "for", "got '5d'"),
        (RULE.replace("    vital: heart_rate\n", ""), 2, "vital", "missing in rule 'hr'"),
        (RULE.replace("    above: 110\n", ""), 2, None, "rule 'hr' has no condition"),
        (RULE.replace("medium", "hihg"), 5, "severity", "(did you mean 'high'?)"),
        (RULE + "    clear: {above: 100}\n", 7, "above", "expected below"),
        (RULE + "    clear: 105\n", 7, "clear", "got 105"),
        (RULE + "    above: 120\n", 7, "above", "given twice in a rule (first at line 4)"),
        (RULE.replace("{value}", "{val}"), 6, "message", "unknown placeholder {val}"),
        (RULE.replace("{value}", "{value"), 6, "message", "literal braces"),
        (RULE.replace("name: hr", "name: news2"), 2, "name", "built-in NEWS2 rule"),
        (RULE.replace("name: hr", "name: my rule"), 2, "name", "got 'my rule'"),
        (RULE + "    enabled: maybe\n", 7, "enabled", "expected true or false"),
        (RULE + "news2:\n  alert: true\n", 8, "alert", "(did you mean 'alerts'?)"),
        (RULE + "news2:\n  message: '{threshold}'\n", 8, "message", "unknown placeholder"),
        (
            OVERRIDE + "    rules:\n      hr_high: {above: 120}\n",
            10,
            "hr_high",
            "unknown rule in this override; expected hr",
        ),
        (OVERRIDE + "    rules:\n      news2: {above: 5}\n", 10, "news2", "spo2_scale: 2"),
        (OVERRIDE + "    patients: [P002]\n    spo2_scale: 2\n", 8, "patients", "exactly one of"),
        (OVERRIDE, 8, None, "this override changes nothing"),
        (OVERRIDE + "    spo2_scale: 3\n", 9, "spo2_scale", "expected 1 or 2"),
        (OVERRIDE + "    rules:\n      hr: {below: 50}\n", 10, "below", "is an above: rule"),
        (OVERRIDE + "    rules:\n      hr: {abov: 120}\n", 10, "abov", "did you mean 'above'"),
        (
            RULE + "overrides:\n  - patients: [P001, 1001]\n    spo2_scale: 2\n",
            8,
            "patients",
            "quote ids",
        ),
        (RULE.replace("110", "!!python/object:os.system 1"), 4, None, "not valid YAML"),
    ],
)
def test_every_mistake_names_its_line_and_key(
    tmp_path: Path, text: str, line: int, key: str | None, words: str
) -> None:
    with pytest.raises(RulesError) as info:
        load_rules(rules_file(tmp_path, text))
    assert words in info.value.reason
    assert (info.value.line, info.value.field) == (line, key)


def test_a_missing_file_is_a_rules_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot be read: No such file or directory"):
        load_rules(tmp_path / "nope.yaml")


def test_a_file_that_is_not_text_is_a_rules_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(b"\xff\xfe\x00rules")
    with pytest.raises(RulesError, match="is not UTF-8 text"):
        load_rules(path)
