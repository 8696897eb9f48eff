"""The `vitals watch` board as text: rows, order, ages, sparklines, colour only when asked."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from vitals.board import (
    CLEAR_BELOW,
    CLEAR_LINE_END,
    CLEAR_SCREEN,
    HOME,
    age_text,
    fit,
    frame,
    render,
    sparkline,
)
from vitals.queries import ActiveAlert, PatientView, sickest_first

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def patient(
    pid: str,
    *,
    age: float = 2,
    hr: int = 80,
    spo2: int = 97,
    news2: int = 0,
    alerts: tuple[tuple[str, str], ...] = (),
) -> PatientView:
    ts = NOW - timedelta(seconds=age)
    return PatientView(
        patient_id=pid,
        timestamp=ts,
        heart_rate=hr,
        spo2=spo2,
        systolic=120,
        diastolic=80,
        respiratory_rate=16,
        temperature=36.8,
        consciousness="A",
        on_oxygen=False,
        news2=news2,
        alerts=[ActiveAlert(f"rule{i}", sev, msg, ts) for i, (sev, msg) in enumerate(alerts)],
        hr_series=[(ts - timedelta(minutes=9 - i), 60 + 10 * i) for i in range(10)],
        spo2_series=[(ts - timedelta(minutes=9 - i), 99 - i) for i in range(10)],
    )


def test_one_row_per_patient_under_a_header() -> None:
    lines = render([patient("P001"), patient("P002")], now=NOW)
    assert lines[0].startswith("vitals watch · 2 patients · 0 alerting · 2026-11-25 14:00:00 UTC")
    assert lines[1].split()[:9] == [
        "PATIENT",
        "NEWS2",
        "HR",
        "SpO2",
        "BP",
        "RR",
        "TEMP",
        "AGE",
        "HR",
    ]
    assert [ln.split()[0] for ln in lines[2:]] == ["P001", "P002"]


def test_a_row_shows_each_vital_its_age_and_news2() -> None:
    (row,) = render([patient("P001", hr=131, spo2=91, news2=7)], now=NOW)[2:]
    assert row.split()[:8] == ["P001", "7", "131", "91", "120/80", "16", "36.8", "2s"]


def test_sickest_first_then_news2() -> None:
    rows = render(
        [
            patient("CALM", news2=0),
            patient("NEWS6", news2=6),
            patient("LOW", news2=1, alerts=(("low", "Red score"),)),
            patient("HIGH", news2=2, alerts=(("high", "Low SpO2: 88"),)),
            patient("MED", news2=9, alerts=(("medium", "High heart rate: 120"),)),
        ],
        now=NOW,
    )[2:]
    assert [r.split()[0] for r in rows] == ["HIGH", "MED", "LOW", "NEWS6", "CALM"]


def test_alerts_carry_their_severity_as_a_word_without_colour() -> None:
    (row,) = render(
        [patient("P1", alerts=(("high", "Low SpO2: 88"), ("medium", "High heart rate: 120")))],
        now=NOW,
    )[2:]
    assert row.endswith("HIGH Low SpO2: 88 · MED High heart rate: 120")
    assert "\x1b" not in row


def test_colour_only_when_asked_and_by_severity() -> None:
    p = patient("P1", news2=7, alerts=(("high", "Low SpO2: 88"), ("low", "Red score")))
    plain = render([p], now=NOW, colour=False)
    coloured = render([p], now=NOW, colour=True)
    assert all("\x1b" not in ln for ln in plain)
    row = coloured[2]
    assert "\x1b[31m\x1b[1mHIGH Low SpO2: 88\x1b[0m" in row  # red, bold
    assert "\x1b[36mLOW Red score\x1b[0m" in row  # cyan
    assert [ANSI.sub("", ln) for ln in coloured] == plain


@pytest.mark.parametrize(
    ("age", "shown"),
    [(5, "5s"), (59, "59s"), (61, "1m STALE"), (7200, "2h STALE"), (3 * 86400, "3d STALE")],
)
def test_age_and_the_stale_marker(age: float, shown: str) -> None:
    (row,) = render([patient("P1", age=age)], now=NOW, stale_after=60)[2:]
    assert f" {shown} " in row


def test_a_patient_with_alerts_but_no_reading_is_shown_as_stale() -> None:
    p = PatientView("P9", None, alerts=[ActiveAlert("r", "high", "Low SpO2: 80", NOW)])
    (row,) = render([p], now=NOW)[2:]
    assert row.split()[:8] == ["P9", "-", "-", "-", "-", "-", "-", "-"]
    assert row.endswith("HIGH Low SpO2: 80")


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (-3, "0s"), (90, "1m"), (3600, "1h")])
def test_age_text(seconds: float, text: str) -> None:
    assert age_text(seconds) == text


def test_sparkline_rises_with_the_values_on_a_fixed_scale() -> None:
    start = NOW - timedelta(minutes=8)
    series = [(start + timedelta(minutes=i), 40 + 15 * i) for i in range(9)]
    assert sparkline(series, start, NOW, width=9, scale=(40, 160)) == "▁▂▃▄▅▅▆▇█"


def test_sparkline_leaves_gaps_blank_and_clamps_to_the_scale() -> None:
    start = NOW - timedelta(minutes=4)
    series = [(start, 10), (NOW, 500)]
    assert sparkline(series, start, NOW, width=5, scale=(40, 160)) == "▁   █"


def test_sparkline_averages_the_readings_of_one_slice() -> None:
    start = NOW - timedelta(minutes=1)
    series = [(start, 40), (start + timedelta(seconds=1), 160)]
    assert sparkline(series, start, NOW, width=2, scale=(40, 160)) == "▅ "


def test_rows_fit_the_width_and_the_alert_text_is_cut_with_an_ellipsis() -> None:
    p = patient("P1", alerts=(("high", "A very long alert message " * 5),))
    lines = render([p], now=NOW, width=120)
    assert all(len(ln) <= 120 for ln in lines)
    assert lines[2].endswith("…")


def test_more_patients_than_lines_keeps_the_sickest_and_says_how_many_are_hidden() -> None:
    patients = [patient(f"P{i:02d}", news2=i) for i in range(10)]
    lines = render(patients, now=NOW, height=6)
    assert len(lines) == 6
    assert [ln.split()[0] for ln in lines[2:5]] == ["P09", "P08", "P07"]
    assert lines[5] == "… 7 more · 0 alerting"


def test_the_line_for_the_hidden_counts_the_alerting_among_them() -> None:
    calm = [patient(f"C{i}") for i in range(5)]
    alerting = [patient(f"A{i}", alerts=(("low", "SpO2 93 %"),)) for i in range(3)]
    shown, rest = fit(sickest_first(calm + alerting), 4)
    assert [p.patient_id for p in shown] == ["A0", "A1", "A2"]
    assert rest == "… 5 more · 0 alerting"
    shown, rest = fit(sickest_first(calm + alerting), 2)
    assert [p.patient_id for p in shown] == ["A0"]
    assert rest == "… 7 more · 2 alerting"


@pytest.mark.parametrize(("room", "shown"), [(None, 8), (8, 8), (20, 8), (1, 1), (0, 1), (-3, 1)])
def test_all_fit_or_at_least_the_sickest_is_shown(room: int | None, shown: int) -> None:
    rows, rest = fit([patient(f"P{i}") for i in range(8)], room)
    assert len(rows) == shown
    assert (rest == "") == (shown == 8)


def test_a_board_of_two_thousand_fits_a_24_line_terminal() -> None:
    patients = [patient(f"P{i:04d}", news2=i % 7) for i in range(2000)]
    lines = render(patients, now=NOW, height=24, width=100)
    assert len(lines) == 24
    assert lines[0].startswith("vitals watch · 2000 patients · 0 alerting")
    assert lines[-1] == "… 1979 more · 0 alerting"
    assert all(len(ANSI.sub("", ln)) <= 100 for ln in lines)


def test_an_empty_ward_says_what_to_start() -> None:
    lines = render([], now=NOW)
    assert lines[1] == "no readings yet (is `vitals consume` running, and `vitals produce`?)"


def test_a_notice_appears_under_the_title() -> None:
    lines = render([], now=NOW, notice="Cassandra did not answer; retrying")
    assert lines[1] == "Cassandra did not answer; retrying"


def test_a_frame_homes_the_cursor_and_clears_what_is_left() -> None:
    assert frame(["a", "b"], first=True) == (
        f"{CLEAR_SCREEN}{HOME}a{CLEAR_LINE_END}\nb{CLEAR_LINE_END}{CLEAR_BELOW}"
    )
    assert frame(["a"], first=False) == f"{HOME}a{CLEAR_LINE_END}{CLEAR_BELOW}"


@pytest.mark.parametrize("colour", [False, True])
def test_columns_after_the_age_stay_aligned_whatever_the_age(colour: bool) -> None:
    ages = {5: "5s", 12 * 60: "12m STALE", 3 * 3600: "3h STALE", 123 * 86400: "123d STALE"}
    ward = [patient(f"P{i}", age=a, news2=i) for i, a in enumerate(ages)]
    lines = [ANSI.sub("", ln) for ln in render(ward, now=NOW, colour=colour)]
    age_at, trend_at = lines[1].index("AGE"), lines[1].index("HR 10m")
    cells = {ln.split()[0]: ln[age_at:trend_at] for ln in lines[2:]}
    for i, shown in enumerate(ages.values()):
        assert cells[f"P{i}"].rstrip() == shown
        assert cells[f"P{i}"].endswith(" ")  # one space at least before the trend column


def acked(p: PatientView, rule: str, by: str) -> PatientView:
    p.alerts = [replace(a, acked_by=by) if a.rule == rule else a for a in p.alerts]
    return p


def test_an_acknowledged_alert_says_by_whom() -> None:
    p = acked(patient("P1", alerts=(("high", "Low SpO2: 88"), ("low", "RR 22"))), "rule0", "alice")
    lines = render([p], now=NOW)
    assert lines[2].endswith("LOW RR 22 · HIGH Low SpO2: 88 (ack alice)")
    assert "1 alerting ·" in lines[0]


def test_an_acknowledged_alert_is_dimmed_not_bold() -> None:
    p = acked(patient("P1", alerts=(("high", "Low SpO2: 88"),)), "rule0", "alice")
    row = render([p], now=NOW, colour=True)[2]
    assert "\x1b[31m\x1b[2mHIGH Low SpO2: 88 (ack alice)\x1b[0m" in row


def test_a_patient_whose_alerts_are_all_acknowledged_ranks_below_an_unacknowledged_one() -> None:
    seen = acked(patient("P1", news2=9, alerts=(("high", "Low SpO2: 84"),)), "rule0", "bob")
    waiting = patient("P2", news2=3, alerts=(("medium", "HR 120"),))
    lines = render([seen, waiting], now=NOW)
    assert [ln.split()[0] for ln in lines[2:]] == ["P2", "P1"]
    assert "2 alerting (1 acknowledged) ·" in lines[0]


def test_an_incomplete_news2_and_a_vital_older_than_its_window_are_not_shown_as_current():
    p = replace(
        patient("P1"),
        news2_incomplete="temperature",
        measured_at={
            "heart_rate": NOW,
            "systolic": NOW - timedelta(minutes=75),  # beyond the 60 min window
            "temperature": NOW - timedelta(hours=5),  # beyond the 4 h window
        },
    )
    (row,) = [ln for ln in render([p], now=NOW, width=160) if "P1" in ln]
    assert " inc " in row
    assert "120/80?" in row and "36.8?" in row
    assert " 80 " in row  # measured now: no mark
