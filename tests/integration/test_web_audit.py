"""The audit trail against the real Cassandra: every request for one patient's data through
the web server is one row (who, when, what, from where, outcome); `vitals audit` lists them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from click.testing import CliRunner

from tests.helpers import CASSANDRA_HOST, CASSANDRA_PORT, wait_until
from vitals.audit import Access, AuditLog, accesses
from vitals.cli import cli
from vitals.web.app import WebSettings, create_app
from vitals.web.auth import Authenticator, hash_password
from vitals.web.server import BackgroundServer

pytestmark = pytest.mark.services

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def settings(cassandra_settings, kafka_settings) -> WebSettings:
    return WebSettings(cassandra=cassandra_settings, kafka=kafka_settings)


@pytest.fixture
def patient(session) -> str:
    """A patient the server knows (a latest reading), unique to the test."""
    pid = f"A{uuid.uuid4().hex[:8].upper()}"
    session.execute(
        "INSERT INTO patient_latest (patient_id, timestamp, heart_rate) VALUES (%s, %s, 72)",
        (pid, datetime.now(UTC)),
    )
    return pid


@pytest.fixture(scope="module")
def open_server(settings) -> Iterator[str]:
    with BackgroundServer(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def auth_server(settings) -> Iterator[str]:
    auth = Authenticator(users={"alice": hash_password(PASSWORD)})
    with BackgroundServer(create_app(settings, auth)) as url:
        yield url


def trail(session, patient: str, n: int) -> list[Access]:
    """Wait (bounded) until ``patient`` has ``n`` audit rows; returns them, newest first."""
    start = datetime.now(UTC) - timedelta(hours=1)

    def rows() -> list[Access]:
        found = list(accesses(session, patient, start, datetime.now(UTC) + timedelta(minutes=1)))
        return found if len(found) >= n else []

    return wait_until(rows, 15, f"{n} audit rows for {patient}")  # type: ignore[return-value]


def test_an_authenticated_users_chart_read_is_one_row_naming_them(auth_server, session, patient):
    r = httpx.get(
        f"{auth_server}/api/patients/{patient}/readings", auth=("alice", PASSWORD), timeout=30
    )
    assert r.status_code == 200
    (row,) = trail(session, patient, 1)
    assert (row.user, row.method, row.path, row.status) == (
        "alice",
        "GET",
        f"/api/patients/{patient}/readings",
        200,
    )
    assert row.client.startswith("127.0.0.1:")
    assert abs((datetime.now(UTC) - row.at).total_seconds()) < 60


def test_a_refused_login_is_not_an_access_only_the_successful_one_is_recorded(
    auth_server, session, patient
):
    r = httpx.get(f"{auth_server}/patients/{patient}", auth=("alice", "wrong-pass"), timeout=30)
    assert r.status_code == 401
    # the refusal happens before the audit layer: nothing of the patient was served
    r = httpx.get(f"{auth_server}/patients/{patient}", auth=("alice", PASSWORD), timeout=30)
    assert r.status_code == 200
    rows = trail(session, patient, 1)
    assert [(a.user, a.path, a.status) for a in rows] == [("alice", f"/patients/{patient}", 200)]


def test_without_auth_the_user_is_local_and_every_endpoint_is_recorded(
    open_server, session, patient
):
    paths = [
        f"/patients/{patient}",
        f"/api/patients/{patient}",
        f"/api/patients/{patient}/alerts",
        f"/api/fhir/Observation?patient=Patient/{patient}",
    ]
    for p in paths:
        assert httpx.get(f"{open_server}{p}", timeout=30).status_code == 200, p
    rows = trail(session, patient, 4)
    assert {a.user for a in rows} == {"local"}
    assert sorted(a.path for a in rows) == sorted(p.split("?")[0] for p in paths)


def test_an_unknown_patient_is_recorded_with_its_404(open_server, session):
    pid = f"NOPE{uuid.uuid4().hex[:6]}"
    assert httpx.get(f"{open_server}/api/patients/{pid}", timeout=30).status_code == 404
    (row,) = trail(session, pid, 1)
    assert row.status == 404


def test_ward_level_requests_record_no_patient(open_server, session, patient):
    assert httpx.get(f"{open_server}/api/patients?prefix={patient}", timeout=30).status_code == 200
    assert httpx.get(f"{open_server}/api/patients/{patient}", timeout=30).status_code == 200
    rows = trail(session, patient, 1)  # only the one-patient request
    assert [a.path for a in rows] == [f"/api/patients/{patient}"]


def test_recording_an_access_does_not_wait_for_cassandra(session, patient):
    log = AuditLog(session)
    now = datetime.now(UTC)
    n = 2000
    began = time.perf_counter()
    for i in range(n):
        log.record(Access(patient, now + timedelta(milliseconds=i), "bench", "GET", "/x", "", 200))
    per_call = (time.perf_counter() - began) / n
    log.close(timeout=60)
    assert per_call < 100e-6, f"record() took {per_call * 1e6:.0f} µs per call"
    assert (log.written, log.lost) == (n, 0)
    assert len(trail(session, patient, n)) == n


def test_vitals_audit_lists_who_saw_the_patient(auth_server, session, patient, keyspace):
    assert (
        httpx.get(
            f"{auth_server}/api/patients/{patient}", auth=("alice", PASSWORD), timeout=30
        ).status_code
        == 200
    )
    trail(session, patient, 1)
    env = {
        "VITALS_CASSANDRA_HOSTS": CASSANDRA_HOST,
        "VITALS_CASSANDRA_PORT": str(CASSANDRA_PORT),
        "VITALS_KEYSPACE": keyspace,
    }
    result = CliRunner().invoke(cli, ["audit", patient, "--since", "1h"], env=env)
    assert result.exit_code == 0, result.output
    (line,) = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert "alice" in line and f"GET /api/patients/{patient}" in line and " 200 " in line
    assert f"1 access to {patient}" in result.stderr


def test_vitals_audit_prints_control_characters_of_a_stored_row_escaped(session, keyspace):
    """Defence in depth: a row stored before display names were checked (a user name holding
    a line break or a bidi override) prints as one line that shows what was stored."""
    pid = f"B{uuid.uuid4().hex[:8].upper()}"
    forged = "api-token (as Lee\n2026-11-29 00:00:00  alice  GET /api/patients/B00 200)"
    log = AuditLog(session)
    log.record(Access(pid, datetime.now(UTC), forged, "GET", f"/api/patients/{pid}", "", 200))
    log.record(
        Access(pid, datetime.now(UTC), "eve\u202eecila", "GET\r", "/x\x1b[2J", "1.2.3.4\t", 200)
    )
    log.close(timeout=30)
    trail(session, pid, 2)
    env = {
        "VITALS_CASSANDRA_HOSTS": CASSANDRA_HOST,
        "VITALS_CASSANDRA_PORT": str(CASSANDRA_PORT),
        "VITALS_KEYSPACE": keyspace,
    }
    result = CliRunner().invoke(cli, ["audit", pid, "--since", "1h"], env=env)
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) == 2, lines
    assert any("api-token (as Lee\\n2026-11-29 00:00:00  alice  GET" in ln for ln in lines)
    (other,) = [ln for ln in lines if "eve" in ln]
    assert "eve\\u202eecila" in other and "GET\\r /x\\x1b[2J" in other and "1.2.3.4\\t" in other
    assert not any(ch in result.stdout for ch in "\r\x1b\u202e\t")
