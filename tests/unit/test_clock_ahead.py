"""One definition of a value's age and staleness (vitals.freshness), used by `vitals watch`
and the API's patient states alike; a reading dated in the future is never shown as fresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from vitals.board import render
from vitals.freshness import CLOCK_SKEW, DEFAULT_WINDOWS, ahead, stale
from vitals.queries import PatientView
from vitals.web.data import build_states

NOW = datetime(2026, 11, 29, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "is_stale", "is_ahead"),
    [
        (timedelta(seconds=0), False, False),
        (timedelta(seconds=-29), False, False),  # 29 s old
        (timedelta(seconds=-31), True, False),  # 31 s old, past a 30 s limit
        (CLOCK_SKEW, False, False),  # within the skew tolerance: now
        (CLOCK_SKEW + timedelta(seconds=1), True, True),
        (timedelta(hours=7), True, True),  # the README's sample, 7 h ahead
    ],
)
def test_a_value_is_stale_when_too_old_or_dated_ahead_beyond_the_skew(offset, is_stale, is_ahead):
    assert stale(NOW + offset, now=NOW, after=30) is is_stale
    assert ahead(NOW + offset, now=NOW) is is_ahead


def view(timestamp: datetime, **measured_at: datetime) -> PatientView:
    return PatientView(
        "P1", timestamp, heart_rate=80, spo2=99, systolic=120, diastolic=80,
        respiratory_rate=16, temperature=36.8, measured_at=measured_at,
    )  # fmt: skip


def latest_row(timestamp: datetime, **measured_at: datetime) -> SimpleNamespace:
    row = SimpleNamespace(
        patient_id="P1", timestamp=timestamp, consciousness="A", on_oxygen=False, news2=0,
        news2_incomplete="", bp_measured_at=None, heart_rate=80, spo2=99, systolic=120,
        diastolic=80, respiratory_rate=16, temperature=36.8,
    )  # fmt: skip
    for column, at in measured_at.items():
        setattr(row, f"writetime_{column}", int(at.timestamp() * 1_000_000))
    return row


def test_a_reading_dated_seven_hours_ahead_is_flagged_in_watch_and_the_api():
    future = NOW + timedelta(hours=7)
    (row,) = [ln for ln in render([view(future, spo2=future)], now=NOW) if "P1" in ln]
    assert row.endswith(" 7h AHEAD") and " 0s" not in row
    assert " 99?" in row  # not current
    (state,) = build_states([latest_row(future, spo2=future)], [], [], now=NOW, stale_after=30)
    assert state["stale"] is True and state["clock_ahead"] is True
    assert state["latest"]["measured"]["spo2"]["stale"] is True
    assert state["latest"]["measured"]["spo2"]["clock_ahead"] is True


@pytest.mark.parametrize("minutes_ago", [1, 4, 6, 30])
def test_watch_and_the_api_agree_on_whether_a_vital_is_current(minutes_ago):
    newest = NOW - timedelta(minutes=minutes_ago)
    spo2_at = newest - timedelta(minutes=2)  # from an earlier reading than the newest
    (row,) = [ln for ln in render([view(newest, spo2=spo2_at)], now=NOW) if "P1" in ln]
    (state,) = build_states([latest_row(newest, spo2=spo2_at)], [], [], now=NOW, stale_after=30)
    api_stale = state["latest"]["measured"]["spo2"]["stale"]
    assert api_stale is (NOW - spo2_at > DEFAULT_WINDOWS["spo2"])
    assert (" 99?" in row) is api_stale
