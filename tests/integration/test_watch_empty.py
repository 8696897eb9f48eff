"""An empty `vitals watch --once` says why: a --prefix that matched no patient is not
"no readings yet"."""

from __future__ import annotations

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
