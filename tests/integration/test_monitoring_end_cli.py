"""`vitals monitoring end` against the real servers: all-or-nothing when Kafka is down,
refused for an unknown patient, and reported (not repeated) when already ended."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import run_vitals, vitals_env

pytestmark = pytest.mark.services


@pytest.fixture
def env(topics, keyspace):
    return vitals_env(topics, keyspace)


@pytest.fixture
def patient(session) -> str:
    """A patient with one stored reading a minute ago."""
    pid = f"ME-{uuid.uuid4().hex[:8]}"
    at = datetime.now(UTC) - timedelta(minutes=1)
    session.execute("INSERT INTO patient_latest (patient_id, timestamp) VALUES (%s, %s)", (pid, at))
    return pid


def ended_events(session, pid: str) -> list:
    rows = session.execute(
        "SELECT kind FROM patient_alerts WHERE patient_id = %s AND day = %s",
        (pid, datetime.now(UTC).date()),
    )
    return [r.kind for r in rows if r.kind == "ended"]


def stored_end(session, pid: str):
    return session.execute(
        "SELECT ended_by FROM monitoring_ended WHERE patient_id = %s", (pid,)
    ).one()


def test_kafka_unreachable_stores_nothing(env, session, patient):
    out = run_vitals(
        env, "monitoring", "end", patient, "--bootstrap-servers", "127.0.0.1:1", timeout=60
    )
    assert out.returncode == 1, out.stderr
    assert (
        out.stderr.strip().splitlines()[-1].startswith("Error: cannot reach Kafka at 127.0.0.1:1")
    )
    assert "Traceback" not in out.stderr
    assert stored_end(session, patient) is None
    assert ended_events(session, patient) == []


def test_an_unknown_patient_is_refused(env):
    out = run_vitals(env, "monitoring", "end", "NOPE-x", timeout=60)
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip().startswith("Error: unknown patient 'NOPE-x': no reading of it")
    assert "vitals watch --once --all" in out.stderr


def test_a_second_end_is_reported_not_recorded(env, session, patient):
    first = run_vitals(env, "monitoring", "end", patient, "--by", "RN A", "--reason", "home")
    assert first.returncode == 0, first.stderr
    assert stored_end(session, patient).ended_by == "RN A"
    again = run_vitals(env, "monitoring", "end", patient, "--by", "RN B")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"monitoring of {patient} already ended at ")
    assert again.stdout.rstrip().endswith("by RN A: home; nothing recorded")
    assert ended_events(session, patient) == ["ended"]
    assert stored_end(session, patient).ended_by == "RN A"


def test_a_reading_after_the_end_lets_it_end_again(env, session, patient):
    assert run_vitals(env, "monitoring", "end", patient).returncode == 0
    session.execute(
        "INSERT INTO patient_latest (patient_id, timestamp) VALUES (%s, %s)",
        (patient, datetime.now(UTC) + timedelta(seconds=1)),
    )
    out = run_vitals(env, "monitoring", "end", patient, "--by", "RN C")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Monitoring ended by RN C at ")
