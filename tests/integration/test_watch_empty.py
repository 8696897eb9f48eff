"""An empty `vitals watch --once` says why: a --prefix that matched no patient, or readings
older than --census-window, are not "no readings yet"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import run_vitals, vitals_env

pytestmark = pytest.mark.services


@pytest.mark.parametrize(
    ("extra", "who"),
    [([], "monitored now (--all: every patient stored)"), (["--all"], "stored")],
)
def test_a_prefix_that_matches_nobody_says_so(topics, keyspace, extra, who):
    out = run_vitals(vitals_env(topics, keyspace), "watch", "--once", "--prefix", "ZZZ", *extra)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == f"no patient whose id starts with 'ZZZ' is {who}"
    assert "no readings yet" not in out.stdout


def test_an_empty_board_without_prefix_still_asks_for_consume(topics, keyspace):
    out = run_vitals(vitals_env(topics, keyspace), "watch", "--once")
    assert out.stdout.splitlines()[-1].startswith("no readings yet (is `vitals consume` running")


def test_readings_outside_the_census_window_are_named_with_how_to_see_them(
    topics, keyspace, session
):
    then = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    session.execute(
        "INSERT INTO patient_latest (patient_id, timestamp, heart_rate) VALUES ('W1', %s, 80)",
        (then,),
    )
    env = vitals_env(topics, keyspace)
    try:
        out = run_vitals(env, "watch", "--once", "--census-window", "1m")
        shown = run_vitals(env, "watch", "--once", "--census-window", "1h").stdout
    finally:  # the module's other tests want an empty keyspace
        session.execute("DELETE FROM patient_latest WHERE patient_id = 'W1'")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == (
        "no patient is monitored now: readings are stored, none in the last 1m (or "
        "monitoring ended); --all or a longer --census-window shows them"
    )
    assert "W1" in shown and "no patient is monitored" not in shown
