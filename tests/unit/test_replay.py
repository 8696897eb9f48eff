"""A labelled simulated ward, its replay through the rules, and the alarm-quality report."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from vitals.alarm_quality import Labelled, Labels, assess, load_labels
from vitals.cli import cli
from vitals.errors import InputFileError
from vitals.readings import Reading
from vitals.replay import event_dict, read_recording, replay
from vitals.rules import load_default_rules, load_rules
from vitals.simulation import LabelledWard, simulate

ROOT = Path(__file__).resolve().parents[2]
BEFORE = ROOT / "sample_data" / "rules_before.yaml"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
NORMAL = dict(heart_rate=72, spo2=97, systolic=122, diastolic=76, respiratory_rate=15)


def ward(seed: int = 3, patients: int = 4, hours: float = 2.0) -> LabelledWard:
    return LabelledWard([f"P{i}" for i in range(patients)], start=T0, hours=hours, seed=seed)


def test_the_same_seed_gives_the_same_ward_and_labels() -> None:
    a, b = ward(), ward()
    assert simulate(a, interval=5) == simulate(b, interval=5)
    assert a.labels() == b.labels()


def test_every_labelled_artifact_is_in_the_readings() -> None:
    w = ward(seed=5, patients=6, hours=4)
    readings = {(r.patient_id, r.timestamp): r for r in simulate(w, interval=5)}
    arts = w.labels()["artifacts"]
    assert {a["kind"] for a in arts} == {"probe_motion", "double_count", "lead_off"}
    for a in arts:
        start, end = datetime.fromisoformat(a["start"]), datetime.fromisoformat(a["end"])
        if a["kind"] == "probe_motion":
            assert 70 <= readings[(a["patient_id"], start)].spo2 <= 84
        elif a["kind"] == "double_count":
            assert 150 <= readings[(a["patient_id"], start)].heart_rate <= 180
        else:
            inside = [t for p, t in readings if p == a["patient_id"] and start <= t <= end]
            assert inside == []


def reading(s: float, pid: str = "P1", **changes: float) -> Reading:
    return Reading(pid, T0 + timedelta(seconds=s), **{**NORMAL, "temperature": 36.8, **changes})


def test_the_report_counts_episodes_delays_and_non_actionable_alerts() -> None:
    # P1: an artifact at 60 s; a desaturation from 300 s (first reading below 92 at 310 s)
    readings = [reading(s) for s in range(0, 300, 5)]
    readings[12] = reading(60, spo2=75)
    readings += [reading(s, spo2=93 if s < 310 else 90) for s in range(300, 600, 5)]
    episode = Labelled(
        "P1", "desaturation", T0 + timedelta(seconds=300), T0 + timedelta(seconds=600)
    )
    artifact = Labelled(
        "P1", "probe_motion", T0 + timedelta(seconds=60), T0 + timedelta(seconds=60)
    )
    labels = Labels((episode,), (artifact,))

    after = assess(readings, replay(readings, load_default_rules()), labels, load_default_rules())
    assert (after.alertable, after.alerted, after.delays) == (1, 1, [20.0])  # 2 % x 10 s = 40
    assert sum(after.non_actionable.values()) == 0

    rules = load_rules(BEFORE)
    before = assess(readings, replay(readings, rules), labels, rules)
    assert before.delays == [0.0]
    assert before.non_actionable == {"low_spo2": 1, "news2": 1}  # one artifact, two alarms
    assert before.per_patient_shift == pytest.approx(2 / (595 / 3600 / 8))  # first..last reading


def test_the_most_raises_of_one_rule_in_ten_minutes() -> None:
    values = [75 if i % 4 == 0 else 97 for i in range(120)]  # a dip every 20 s
    readings = [reading(i * 5, spo2=v) for i, v in enumerate(values)]
    rules = load_rules(BEFORE)
    report = assess(readings, replay(readings, rules), None, rules)
    assert report.flap == (30, "low_spo2", "P1")


def write_ward(tmp_path: Path, *extra: str) -> tuple[Path, Path]:
    csv, labels = tmp_path / "w.csv", tmp_path / "w.json"
    args = ["produce", "--patient-count", "3", "--interval", "5", "--duration", "3600"]
    args += ["--seed", "7", "--start", "2025-03-01T08:00:00Z", "--output", str(csv)]
    res = CliRunner().invoke(cli, [*args, "--labels", str(labels), *extra])
    assert res.exit_code == 0, res.output
    return csv, labels


def test_produce_output_writes_a_ward_without_kafka(tmp_path: Path) -> None:
    csv, labels = write_ward(tmp_path)
    readings = read_recording(csv)
    assert readings[0].timestamp == T0
    assert {r.patient_id for r in readings} == {"P001", "P002", "P003"}
    assert json.loads(labels.read_text())["patients"] == ["P001", "P002", "P003"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--output", "x.csv"], "--output needs --duration"),
        (["--start", "2025-01-01T00:00:00Z"], "--start is only used with --output"),
        (["--output", "x.csv", "--duration", "60", "--start", "soon"], "--start"),
        (["--output", "x.csv", "--duration", "60", "--rate", "5"], "--output and --rate"),
        (["--output", "x.csv", "--duration", "60", "--simulation", "load"], "--simulation ward"),
    ],
)
def test_produce_output_refuses_what_it_cannot_do(args: list[str], error: str) -> None:
    res = CliRunner().invoke(cli, ["produce", *args])
    assert res.exit_code == 2 and error in res.output


def test_replay_json_prints_one_event_per_line_then_the_report(tmp_path: Path) -> None:
    csv, labels = write_ward(tmp_path)
    res = CliRunner().invoke(
        cli, ["rules", "replay", str(csv), "--labels", str(labels), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    *events, report = [json.loads(line) for line in res.output.splitlines()]
    expected = replay(read_recording(csv), load_default_rules())
    assert events == [event_dict(e) for e in expected]
    assert report["report"][0]["episodes"] == len(load_labels(labels).episodes)


def test_replay_compare_prints_both_rule_files_side_by_side(tmp_path: Path) -> None:
    csv, labels = write_ward(tmp_path)
    args = ["rules", "replay", str(csv), "--labels", str(labels), "--compare", str(BEFORE)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    header = res.output.splitlines()[2]
    assert header.split() == ["default_rules.yaml", "rules_before.yaml"]
    assert "non-actionable / patient / 8 h" in res.output


def test_a_labels_file_that_is_not_json_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "l.json"
    bad.write_text("episodes: []")
    with pytest.raises(InputFileError, match=r"l\.json: is not JSON"):
        load_labels(bad)


def test_replay_refuses_rows_without_their_own_time(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text(
        "patient_id,heart_rate,spo2,systolic,diastolic,respiratory_rate,temperature\n"
        "P1,80,97,120,80,16,36.8\n"
    )
    res = CliRunner().invoke(cli, ["rules", "replay", str(f)])
    assert res.exit_code == 2
    assert "r.csv:2: timestamp: is empty; a replay needs every reading's own time" in res.output


def test_a_csv_with_several_bad_rows_reports_every_one_in_one_pass(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text(
        "patient_id,timestamp,heart_rate,spo2,systolic,diastolic,respiratory_rate,temperature\n"
        "P1,2025-03-01T08:00:00Z,ninety,97,120,80,16,36.8\n"
        "P1,2025-03-01T08:00:05Z,80,97,120,80,16,36.8\n"
        "P1,2025-03-01T08:00:10Z,80,970,120,80,16,36.8\n"
        "P1,2025-03-01T08:00:15,80,97,120,80,16,36.8\n"
    )
    res = CliRunner().invoke(cli, ["rules", "replay", str(f)])
    assert res.exit_code == 2
    assert res.output.splitlines() == [
        f"Error: {f}: 3 bad rows, nothing sent (--skip-bad-rows sends the others):",
        f"  {f}:2: heart_rate: 'ninety' is not a number",
        f"  {f}:4: spo2: 970.0 is outside the possible range 1..100",
        f"  {f}:5: timestamp: '2025-03-01T08:00:15' has no time zone; add one, e.g. "
        "2025-03-01T08:00:15+00:00",
    ]
