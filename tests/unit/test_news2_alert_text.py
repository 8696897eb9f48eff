"""A NEWS2 alert's score, severity and text agree, per RCP NEWS2 2017 (chart 4): aggregate
0-4 with a red score (one parameter scoring 3) -> low (urgent ward-based response), 5-6 ->
medium (urgent response), 7 or more -> high (emergency response)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from vitals.news2 import RESPONSES
from vitals.readings import Reading
from vitals.replay import read_recording, replay
from vitals.rules import RuleEngine, load_default_rules

SAMPLE = Path(__file__).parents[2] / "sample_data" / "vitals_timed.csv"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
NORMAL = {
    "heart_rate": 72,
    "spo2": 97,
    "systolic": 122,
    "diastolic": 76,
    "respiratory_rate": 15,
    "temperature": 36.8,
}
RED_4 = {**NORMAL, "respiratory_rate": 26, "heart_rate": 95}  # 3 + 1: red score, total 4
FIVE = {**NORMAL, "respiratory_rate": 26, "temperature": 39.5}  # 3 + 2: total 5


def rcp_level(total: int) -> str:
    """The alert level an aggregate NEWS2 of an alert's score stands for (a red score below
    5 is ``low``; an alert is only raised with some level)."""
    return "high" if total >= 7 else "medium" if total >= 5 else "low"


def test_every_news2_alert_of_the_sample_quotes_a_score_of_its_own_severity() -> None:
    events = [
        e
        for e in replay(read_recording(SAMPLE), load_default_rules())
        if e.rule == "news2" and e.kind in ("raised", "escalated")
    ]
    assert events
    for e in events:
        assert rcp_level(int(e.value)) == e.severity, e
        assert e.message == f"NEWS2 {int(e.value)}: {RESPONSES[e.severity]}", e


def test_a_window_held_at_a_red_score_quotes_a_red_score_not_the_newest_five() -> None:
    engine = RuleEngine(load_default_rules())
    vitals = [NORMAL] * 24 + [RED_4] * 7 + [FIVE] * 2  # 9 of 13 at least low, 2 medium
    events = []
    for i, v in enumerate(vitals):
        events += engine.assess(Reading("P1", T0 + timedelta(seconds=5 * i), **v))[1]  # type: ignore[arg-type]
    (e,) = [e for e in events if e.rule == "news2"]
    assert (e.kind, e.severity, e.value) == ("raised", "low", 4.0)
    assert e.message == "NEWS2 4: red score, urgent ward-based response"
