"""Who is in the census (monitored now), the ward a patient is listed under, the ward list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vitals.census import CENSUS_WINDOW, group_of, in_census, ward_list, window_from
from vitals.errors import ConfigError
from vitals.telemetry import RETIRED_AFTER

NOW = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("last", "ended", "inside"),
    [
        (NOW - timedelta(seconds=5), None, True),  # reading now
        (NOW - 11.9 * H, None, True),  # silent, but within the window
        (NOW - 12 * H - timedelta(seconds=1), None, False),  # silent for longer: left
        (NOW - 2 * H, NOW - H, False),  # monitoring ended after the last reading
        (NOW - 2 * H, NOW - 2 * H, False),  # ended with that reading on screen
        (NOW - H, NOW - 2 * H, True),  # a reading after the end: monitored again
        (None, None, False),  # no reading at all
    ],
)
def test_a_patient_is_in_the_census_from_a_reading_until_ended_or_silent(last, ended, inside):
    assert in_census(last, ended, now=NOW, window=12 * H) is inside


def test_naive_driver_times_are_utc():
    last = (NOW - timedelta(minutes=1)).replace(tzinfo=None)
    assert in_census(last, None, now=NOW, window=12 * H)


def test_the_census_window_defaults_to_the_consumers_retirement(monkeypatch):
    monkeypatch.delenv("VITALS_CENSUS_WINDOW", raising=False)
    assert window_from(None) == CENSUS_WINDOW == RETIRED_AFTER
    monkeypatch.setenv("VITALS_CENSUS_WINDOW", "90m")
    assert window_from(None) == timedelta(minutes=90)
    assert window_from("2d") == timedelta(days=2)


@pytest.mark.parametrize("text", ["soon", "0s", "12"])
def test_a_census_window_that_is_not_a_duration_is_refused(text):
    with pytest.raises(ConfigError, match=r"12h|duration"):
        window_from(text)


@pytest.mark.parametrize(
    ("pid", "ward", "group"),
    [
        ("P0012", None, "P"),
        ("ICU-07", None, "ICU-"),
        ("ICU-07", "Ward 7", "Ward 7"),
        ("alice", None, "unassigned"),
        ("42", None, "unassigned"),
        ("P0012", "", "P"),
    ],
)
def test_a_patient_is_listed_under_its_ward_else_its_id_prefix(pid, ward, group):
    assert group_of(pid, ward) == group


def state(pid: str, group: str, *, alert: bool = False, acked: bool = False, stale=False):
    alerts = [{"rule": "r", "acknowledged": {"by": "x"} if acked else None}] if alert else []
    return {
        "patient_id": pid,
        "group": group,
        "alerts": alerts,
        "unacknowledged": int(alert and not acked),
        "stale": stale,
    }


def test_the_ward_list_counts_patients_alerting_unacknowledged_and_stale_per_ward():
    states = [
        state("A1", "Ward A"),
        state("A2", "Ward A", alert=True, acked=True),
        state("B1", "Ward B", alert=True),
        state("B2", "Ward B", stale=True),
        state("x", "unassigned"),
    ]
    assert ward_list(states) == [
        {"ward": "Ward B", "patients": 2, "alerting": 1, "unacknowledged": 1, "stale": 1},
        {"ward": "Ward A", "patients": 2, "alerting": 1, "unacknowledged": 0, "stale": 0},
        {"ward": "unassigned", "patients": 1, "alerting": 0, "unacknowledged": 0, "stale": 0},
    ]


def test_the_census_window_option_defaults_to_the_census_window():
    from vitals.cli import cli

    params = {p.name: p for p in cli.commands["watch"].params}
    assert window_from(params["census_window"].default) == CENSUS_WINDOW


@pytest.mark.parametrize("command", ["watch", "serve"])
def test_a_bad_census_window_is_refused_before_connecting(command):
    from click.testing import CliRunner

    from vitals.cli import cli

    result = CliRunner().invoke(cli, [command, "--census-window", "soon"])
    assert result.exit_code == 2
    assert "Invalid value for '--census-window'" in result.output
    assert "'soon' is not a duration; write a number and a unit" in result.output


def test_the_web_board_and_watch_put_patients_in_one_order():
    from vitals.queries import ActiveAlert, PatientView, sickest_first
    from vitals.web.data import sort_key

    cases = {  # id: (alerts as (severity, acknowledged), news2)
        "A": ([("low", False)], 1),
        "B": ([("high", True)], 0),
        "C": ([], 7),
        "D": ([("medium", False), ("high", True)], 2),
        "E": ([], 0),
    }
    views = [
        PatientView(
            pid,
            NOW,
            news2=n,
            alerts=[ActiveAlert("r", sev, "", NOW, "x" if ack else None) for sev, ack in alerts],
        )
        for pid, (alerts, n) in cases.items()
    ]
    rank = {"high": 3, "medium": 2, "low": 1}
    states = [
        {
            "patient_id": pid,
            "alerts": [{"severity": sev, "acknowledged": {} if ack else None} for sev, ack in al],
            "severity": max((sev for sev, _ in al), key=rank.get, default=None),
            "latest": {"news2": n},
            "stale": False,
        }
        for pid, (al, n) in cases.items()
    ]
    web = [s["patient_id"] for s in sorted(states, key=sort_key)]
    assert web == [p.patient_id for p in sickest_first(views)] == ["D", "A", "B", "C", "E"]
