"""A ``grace:`` shorter than a device's reading interval turns each value into a spot
measurement, judged at once: ``vitals rules check`` warns (exit 0) below 15 s."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from vitals.cli import cli
from vitals.readings import Reading
from vitals.rules import RuleEngine, load_default_rules, parse_rules
from vitals.rules.checks import short_grace_warnings

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
SHORT = """rules:
  - name: low_spo2
    vital: spo2
    below: 90
    for: 60s
    grace: 10s
    severity: high
    message: "Low SpO2: {value}"
news2: {alerts: false}
"""


def test_a_grace_shorter_than_the_reading_interval_judges_each_value_at_once() -> None:
    """The behaviour the warning is about: an oximeter every 15 s, one SpO2 of 70."""
    engine = RuleEngine(parse_rules(SHORT, source="short.yaml"))
    got = []
    for i, v in enumerate([97, 97, 70, 97]):
        r = Reading("P1", T0 + timedelta(seconds=15 * i), spo2=v)
        got += [(e.kind, e.rule) for e in engine.assess(r)[1]]
    assert got == [("raised", "low_spo2"), ("cleared", "low_spo2")]


def test_rules_check_warns_of_a_short_grace_and_exits_0(tmp_path: Path) -> None:
    f = tmp_path / "short.yaml"
    f.write_text(SHORT)
    res = CliRunner().invoke(cli, ["rules", "check", str(f)])
    assert res.exit_code == 0, res.output
    assert f"Warning: {f}:2: rule low_spo2: grace: 10s is shorter than 15s" in res.stderr
    assert "for: 1m never delays its alarm" in res.stderr
    assert res.stdout.rstrip().endswith(f"{f}: OK")


def test_the_default_rules_and_a_grace_of_15_s_give_no_warning() -> None:
    assert short_grace_warnings(load_default_rules()) == []
    ok = SHORT.replace("grace: 10s", "grace: 15s")
    assert short_grace_warnings(parse_rules(ok, source="ok.yaml")) == []
