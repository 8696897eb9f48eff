"""Parsing the times people type, and which day partitions a range touches."""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime, timedelta

import pytest

from vitals.errors import ConfigError
from vitals.queries import (
    ActiveAlert,
    PatientView,
    as_stored,
    days_newest_first,
    parse_duration,
    parse_time,
    sickest_first,
    time_range,
)

NOW = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(minutes=90)),
        (" 2H ", timedelta(hours=2)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "2 h", "-2h", "2h-", "two hours"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ConfigError, match=r"is not a duration; write a number and a unit"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("2h", NOW - timedelta(hours=2)),
        ("1d", NOW - timedelta(days=1)),
        ("2026-11-25T23:30", datetime(2026, 11, 25, 23, 30, tzinfo=UTC)),
        ("2026-11-25 23:30:15", datetime(2026, 11, 25, 23, 30, 15, tzinfo=UTC)),
        ("2026-11-25T23:30:00Z", datetime(2026, 11, 25, 23, 30, tzinfo=UTC)),
        ("2026-11-26T00:30:00+01:00", datetime(2026, 11, 25, 23, 30, tzinfo=UTC)),
        ("2026-11-25", datetime(2026, 11, 25, tzinfo=UTC)),
    ],
)
def test_times(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "25/11/2026", "2026-13-01", "3x"])
def test_bad_times_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_time(text, now=NOW)
    assert str(e.value) == (
        f"{text!r} is neither a duration nor a time; write 2h, 30m, 1d (that long ago), now, "
        "or an ISO time such as 2026-11-25T23:30 or 2026-11-25T23:30:00+01:00 "
        "(UTC when no zone is given)"
    )


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"--since 1h .* is after --until 2h .*; swap them"):
        time_range("1h", "2h", now=NOW)


def test_a_range_across_midnight_touches_both_days_newest_first() -> None:
    start, end = time_range("2026-11-25T23:50", "2026-11-26T00:10", now=NOW)
    assert days_newest_first(start, end) == [date(2026, 11, 26), date(2026, 11, 25)]


def test_a_range_within_one_day_is_one_partition() -> None:
    start, end = time_range("20m", "now", now=NOW)
    assert days_newest_first(start, end) == [date(2026, 11, 26)]


def test_days_are_utc_days_whatever_the_zone_given() -> None:
    start = datetime(2026, 11, 26, 0, 30, tzinfo=UTC).astimezone(
        __import__("datetime").timezone(timedelta(hours=-5))
    )
    assert days_newest_first(start, start) == [date(2026, 11, 26)]


def _patient(pid: str, news2: int, *severities: str) -> PatientView:
    p = PatientView(pid, NOW, news2=news2)
    p.alerts = [ActiveAlert(f"r{i}", s, "m", NOW) for i, s in enumerate(severities)]
    return p


def test_sickest_first_is_worst_active_alert_then_news2_then_id() -> None:
    patients = [
        _patient("A", 9),
        _patient("B", 1, "low"),
        _patient("C", 2, "high"),
        _patient("D", 3, "medium", "low"),
        _patient("E", 5, "high"),
        _patient("F", 9),
    ]
    assert [p.patient_id for p in sickest_first(patients)] == ["E", "C", "D", "B", "A", "F"]


@pytest.mark.parametrize("stored", [25.1, 35.9, 36.1, 37.6, 38.3, 41.7, 44.9])
def test_a_temperature_read_back_from_a_32_bit_float_is_what_was_stored(stored):
    read_back = struct.unpack("f", struct.pack("f", stored))[0]  # what the driver returns
    assert read_back != stored
    assert as_stored("temperature", read_back) == stored


def test_columns_that_are_not_32_bit_floats_are_left_alone():
    assert as_stored("heart_rate", 80) == 80
    assert as_stored("value", 37.599998474121094) == 37.599998474121094
    assert as_stored("temperature", None) is None


def test_a_range_of_31_days_is_allowed_and_one_more_second_is_not():
    assert time_range("2026-10-26T00:30:00Z", "now", now=NOW)[0] == NOW - timedelta(days=31)
    with pytest.raises(ConfigError, match=r"spans 31 days; at most 31 days are read at a time"):
        time_range("2026-10-26T00:29:59Z", "now", now=NOW)
