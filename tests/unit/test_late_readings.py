"""A reading dated before the patient's newest one is late, not a replay: a cuff (NIBP)
result completes after that minute's HR/SpO2 readings. Its vitals newer than their own
newest value are judged; a value not newer than its vital's newest is a replay."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from vitals.cli import cli
from vitals.readings import Reading
from vitals.rules import AlertEvent, RuleEngine, load_default_rules

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def at(seconds: float, **values: object) -> Reading:
    return Reading("LB1", T0 + timedelta(seconds=seconds), **values)  # type: ignore[arg-type]


def events(engine: RuleEngine, readings: list[Reading]) -> list[tuple[float, str, str]]:
    out = []
    for r in readings:
        for e in engine.assess(r)[1]:
            out.append(((e.timestamp - T0).total_seconds(), e.kind, e.rule))
    return out


def stream(until: int = 120) -> list[Reading]:
    """HR and SpO2 every 5 s from T0 to ``until`` s."""
    return [at(s, heart_rate=80, spo2=97) for s in range(0, until + 1, 5)]


def test_a_cuff_result_dated_before_the_newest_reading_alarms_at_once() -> None:
    engine = RuleEngine(load_default_rules())
    events(engine, stream())
    got = events(engine, [at(90, systolic=62, diastolic=38)])
    assert got == [(90, "raised", "low_systolic")]
    assert [e.severity for e in engine.active_alerts("LB1")] == ["high"]


def test_a_late_cuff_result_at_the_same_second_as_the_newest_reading_alarms() -> None:
    engine = RuleEngine(load_default_rules())
    events(engine, stream())
    assert events(engine, [at(120, systolic=62, diastolic=38)]) == [(120, "raised", "low_systolic")]


def test_a_late_cuff_result_read_again_is_a_replay() -> None:
    engine = RuleEngine(load_default_rules())
    events(engine, stream())
    cuff = at(90, systolic=62, diastolic=38)
    assert len(events(engine, [cuff])) == 1
    assert events(engine, [cuff, at(80, systolic=62, diastolic=38)]) == []


def test_a_late_cuff_result_back_inside_its_limit_clears_the_alert() -> None:
    engine = RuleEngine(load_default_rules())
    events(engine, [at(0, heart_rate=80, systolic=62, diastolic=38)])
    events(engine, stream(1000)[1:])
    assert events(engine, [at(900, systolic=118, diastolic=70)]) == [
        (900, "cleared", "low_systolic")
    ]


def test_late_values_of_a_vital_already_seen_newer_are_ignored() -> None:
    engine = RuleEngine(load_default_rules())
    events(engine, stream())
    assert events(engine, [at(60, heart_rate=175, spo2=70)]) == []


def test_after_a_restore_only_values_newer_than_their_vitals_stored_ones_are_judged() -> None:
    engine = RuleEngine(load_default_rules())
    raised = AlertEvent("LB1", "low_spo2", "high", "raised", T0, 80.0, "Low SpO2: 80")
    seen = {"heart_rate": T0 + timedelta(seconds=120), "spo2": T0 + timedelta(seconds=120)}
    seen["blood_pressure"] = T0 - timedelta(minutes=10)  # the previous cuff cycle
    engine.restore("LB1", [raised], last_seen=T0 + timedelta(seconds=120), seen=seen)
    # re-read from Kafka: the previous owner judged these; nothing raised or cleared twice
    assert (
        events(engine, [at(100, heart_rate=80, spo2=97), at(-600, systolic=62, diastolic=38)]) == []
    )
    # a cuff result newer than the stored one, dated before the newest reading: judged
    assert events(engine, [at(90, systolic=62, diastolic=38)]) == [(90, "raised", "low_systolic")]


def test_a_replayed_csv_with_a_late_cuff_row_alarms(tmp_path: Path) -> None:
    rows = [f"LB1,{(T0 + timedelta(seconds=s)).isoformat()},80,97,,,," for s in range(0, 125, 5)]
    rows.append(f"LB1,{(T0 + timedelta(seconds=90)).isoformat()},,,62,38,,")
    f = tmp_path / "lb.csv"
    header = "patient_id,timestamp,heart_rate,spo2,systolic,diastolic,respiratory_rate,temperature"
    f.write_text(header + "\n" + "\n".join(rows) + "\n")
    res = CliRunner().invoke(cli, ["rules", "replay", str(f), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert res.output.count('"kind": "raised"') == 1
    assert '"rule": "low_systolic"' in res.output
