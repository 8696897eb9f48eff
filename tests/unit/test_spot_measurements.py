"""Intermittent measurements (manual spot observations, NIBP cuff cycles, a thermometer) are
judged at once: the alarm condition delay (IEC 60601-1-8) filters a continuous signal, and
a reading minutes after the previous one of its vital has no signal to wait on."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from vitals.cli import cli
from vitals.readings import Reading
from vitals.rules import RuleEngine, load_default_rules, parse_rules

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
SICK = {
    "heart_rate": 135,
    "spo2": 88,
    "systolic": 85,
    "diastolic": 50,
    "respiratory_rate": 28,
    "temperature": 39.5,
    "consciousness": "V",
    "on_oxygen": True,
}
NORMAL = {
    "heart_rate": 72,
    "spo2": 97,
    "systolic": 122,
    "diastolic": 76,
    "respiratory_rate": 15,
    "temperature": 36.8,
}
EVERY_RULE = [
    "high_heart_rate",
    "low_spo2",
    "low_systolic",
    "high_respiratory_rate",
    "fever",
    "news2",
]


def at(seconds: float, **values: object) -> Reading:
    return Reading("P1", T0 + timedelta(seconds=seconds), **values)  # type: ignore[arg-type]


def events(engine: RuleEngine, readings: list[Reading]) -> list[tuple[float, str, str]]:
    """``(seconds after T0, kind, rule)`` of every event, in order."""
    out = []
    for r in readings:
        for e in engine.assess(r)[1]:
            out.append(((e.timestamp - T0).total_seconds(), e.kind, e.rule))
    return out


@pytest.mark.parametrize("every", [timedelta(minutes=5), timedelta(minutes=2)])
def test_spot_observations_of_a_sick_patient_raise_every_alarm_at_the_first(
    every: timedelta,
) -> None:
    readings = [at(i * every.total_seconds(), **SICK) for i in range(4)]
    got = events(RuleEngine(load_default_rules()), readings)
    # all dated at the first observation; HR, SpO2 and RR (continuous vitals, whose first
    # value may be a stream's artifact) are known to be spot values at the second one
    assert sorted(got) == sorted((0, "raised", rule) for rule in EVERY_RULE)


def test_a_replayed_csv_of_spot_observations_raises_at_its_first_row(tmp_path: Path) -> None:
    f = tmp_path / "spot.csv"
    rows = [
        f"P1,{(T0 + timedelta(minutes=5 * i)).isoformat()},135,88,85,50,28,39.5,V,true"
        for i in range(4)
    ]
    header = "patient_id,timestamp,heart_rate,spo2,systolic,diastolic,respiratory_rate,"
    f.write_text(header + "temperature,consciousness,on_oxygen\n" + "\n".join(rows) + "\n")
    res = CliRunner().invoke(cli, ["rules", "replay", str(f), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert res.output.count('"kind": "raised"') == len(EVERY_RULE)
    assert res.output.count(f'"timestamp": "{T0.isoformat()}"') == len(EVERY_RULE)


def monitor(minutes: int, *, bp: tuple[int, int], temperature: float) -> list[Reading]:
    """HR, SpO2 and RR every 5 s; blood pressure and temperature every 15 min (a cuff cycle)."""
    out = []
    for s in range(0, minutes * 60, 5):
        cuff = {"systolic": bp[0], "diastolic": bp[1], "temperature": temperature}
        out.append(
            at(s, heart_rate=80, spo2=96, respiratory_rate=16, **(cuff if s % 900 == 0 else {}))
        )
    return out


def test_a_cuff_cycle_and_a_thermometer_alarm_at_their_first_result() -> None:
    got = events(RuleEngine(load_default_rules()), monitor(31, bp=(62, 38), temperature=40.6))
    assert (0, "raised", "low_systolic") in got
    assert (0, "raised", "fever") in got


def test_a_cuff_result_back_inside_its_clear_limit_clears_at_once() -> None:
    engine = RuleEngine(load_default_rules())
    events(engine, [at(0, systolic=62, diastolic=38)])
    got = events(engine, [at(900, systolic=118, diastolic=70)])
    assert got == [(900, "cleared", "low_systolic")]


def test_a_continuous_signal_still_waits_for_its_delay() -> None:
    readings = [at(s, heart_rate=72) for s in range(0, 60, 5)]
    readings += [at(s, heart_rate=125) for s in range(60, 100, 5)]
    got = events(RuleEngine(load_default_rules()), readings)
    assert got == [(75, "raised", "high_heart_rate")]  # 15 s after the first beyond 110


def test_a_continuous_signal_resuming_after_a_silent_gap_waits_for_its_delay_again() -> None:
    readings = [at(s, heart_rate=72) for s in range(0, 60, 5)]
    readings += [at(s, heart_rate=125) for s in range(240, 280, 5)]  # 3 min lead-off
    got = events(RuleEngine(load_default_rules()), readings)
    assert got == [(255, "raised", "high_heart_rate")]


def test_probe_off_statuses_keep_a_signal_continuous_through_its_gap() -> None:
    readings = [at(s, heart_rate=72, spo2=97) for s in range(0, 60, 5)]
    readings += [at(s, heart_rate=72, status=(("spo2", "probe_off"),)) for s in range(60, 240, 5)]
    readings += [at(s, heart_rate=72, spo2=80) for s in range(240, 280, 5)]
    got = [e for e in events(RuleEngine(load_default_rules()), readings) if e[2] == "low_spo2"]
    assert got == [(250, "raised", "low_spo2")]  # extreme (< 85) for min_for 10 s


def test_a_first_value_of_an_intermittent_vital_beyond_its_limit_is_judged_at_once() -> None:
    got = events(RuleEngine(load_default_rules()), [at(0, systolic=62, temperature=40.6)])
    assert got == [(0, "raised", "low_systolic"), (0, "raised", "fever")]


def test_a_continuous_vitals_first_value_waits_for_the_next_one_to_decide() -> None:
    """Alone (the next value more than grace: later): a spot value, raised at its own time."""
    engine = RuleEngine(load_default_rules())
    assert events(engine, [at(0, heart_rate=125)]) == []
    assert engine.active_alerts("P1") == []
    got = events(engine, [at(300, heart_rate=80)])
    assert got == [(0, "raised", "high_heart_rate"), (300, "cleared", "high_heart_rate")]


def test_a_two_reading_artifact_at_the_start_of_a_stream_does_not_alarm() -> None:
    readings = [at(0, heart_rate=170), at(1, heart_rate=170)]
    readings += [at(s, heart_rate=80) for s in range(2, 120)]
    assert events(RuleEngine(load_default_rules()), readings) == []


@pytest.mark.parametrize("seen", [{"heart_rate": T0, "spo2": T0}, None])
def test_a_stream_continuing_after_a_restore_keeps_its_delay(seen: dict | None) -> None:
    """A new owner (restart, rebalance) seeds each vital's newest time from the store
    (without them: from the patient's newest reading)."""
    engine = RuleEngine(load_default_rules())
    if seen is None:
        engine.restore("P1", [], last_seen=T0)
    else:
        engine.restore("P1", [], last_seen=T0, seen=seen)
    readings = [at(1, heart_rate=175), at(2, heart_rate=175)]
    readings += [at(s, heart_rate=80) for s in range(3, 120)]
    assert events(engine, readings) == []


def test_a_rule_counting_readings_without_grace_still_counts_them() -> None:
    rules = parse_rules(
        "rules:\n  - {name: hr, vital: heart_rate, above: 110, for: 3, severity: medium,"
        " message: x}\nnews2: {alerts: false}\n"
    )
    readings = [at(i * 600, heart_rate=125) for i in range(3)]
    assert events(RuleEngine(rules), readings) == [(1200, "raised", "hr")]


def test_a_rule_without_grace_behaves_as_before_it_existed() -> None:
    """README: a rules file without grace: behaves as the seed's (rules_before.yaml)."""
    rules = parse_rules(
        "rules:\n  - {name: hr, vital: heart_rate, above: 110, for: 30s, severity: medium,"
        " message: x}\nnews2: {alerts: false}\n"
    )
    readings = [at(0, heart_rate=125), at(300, heart_rate=125)]
    assert events(RuleEngine(rules), readings) == [(300, "raised", "hr")]


def news2_events(readings: list[Reading]) -> list[tuple[float, str, str]]:
    got = events(RuleEngine(load_default_rules()), readings)
    return [e for e in got if e[2] == "news2"]


def test_spot_news2_scores_raise_escalate_and_clear_at_once_with_a_window() -> None:
    medium = {**NORMAL, "respiratory_rate": 22, "heart_rate": 115, "temperature": 38.5}  # 5
    readings = [
        at(0, **NORMAL),
        at(600, **medium),
        at(1200, **SICK),
        at(1800, **NORMAL, consciousness="A", on_oxygen=False),
    ]
    assert news2_events(readings) == [
        (600, "raised", "news2"),
        (1200, "escalated", "news2"),
        (1800, "cleared", "news2"),
    ]


def test_a_continuous_news2_series_still_follows_its_window() -> None:
    medium = {**NORMAL, "respiratory_rate": 22, "heart_rate": 115, "temperature": 38.5}
    readings = [at(s, **NORMAL) for s in range(0, 120, 5)]
    readings += [at(s, **medium) for s in range(120, 240, 5)]
    got = news2_events(readings)
    assert got and got[0][1] == "raised" and got[0][0] >= 160  # 2/3 of a 1 min window


def test_the_first_spot_value_after_a_silent_stream_alarms_with_the_next_value() -> None:
    """README: taken as the stream resuming; the next observation is judged at once."""
    readings = [at(s, heart_rate=72) for s in range(0, 60, 5)]
    readings += [at(600, heart_rate=135), at(900, heart_rate=135)]
    got = events(RuleEngine(load_default_rules()), readings)
    assert got == [(900, "raised", "high_heart_rate")]
