"""Roles and the audit trail against the real servers (Kafka, Cassandra; web server
in-process): a viewer's acknowledgement is refused (403) and audited as refused, a
clinician's is stored and audited; one chart read is one audit row; a session's ward
refreshes are one row; the trail holds no vital value and no secret."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from click.testing import CliRunner
from kafka.admin import KafkaAdminClient

from tests.helpers import CASSANDRA_HOST, CASSANDRA_PORT, KAFKA, wait_until
from tests.integration.browser import SHOTS, browser  # noqa: F401 (fixture)
from vitals.admin import TopicSpec, create_topics
from vitals.audit import Access, trail
from vitals.cli import cli
from vitals.web.app import WebSettings, create_app
from vitals.web.auth import Authenticator, hash_password
from vitals.web.server import BackgroundServer

pytestmark = pytest.mark.services

PASSWORD = "correct-horse-battery"
TOKEN = "t0ken-for-role-tests-0123456789"
HEART_RATE = 173  # a value that must never reach the trail
VIEWERS = (
    "uma",
    "vera",
    "wendy",
    "xavier",
    "yara",
    "zoe",
)  # one per test that needs a session of its own
CLINICIANS = ("carol",)


@pytest.fixture(scope="module")
def alerts_topic(kafka_settings) -> Iterator[str]:
    name = f"t.{uuid.uuid4().hex[:10]}.alerts"
    create_topics(kafka_settings, [TopicSpec(name, 1)])
    yield name
    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    try:
        admin.delete_topics([name])
    finally:
        admin.close()


@pytest.fixture(scope="module")
def server(kafka_settings, cassandra_settings, alerts_topic) -> Iterator[str]:
    settings = WebSettings(
        cassandra=replace(cassandra_settings), kafka=kafka_settings, alerts_topic=alerts_topic
    )
    hashed = hash_password(PASSWORD)
    names = VIEWERS + CLINICIANS
    auth = Authenticator(
        users=dict.fromkeys(names, hashed),
        roles={**dict.fromkeys(CLINICIANS, "clinician")},  # the viewers have no role: default
        token=TOKEN,
    )
    with BackgroundServer(create_app(settings, auth)) as url:
        yield url


def client(url: str, user: str) -> httpx.Client:
    return httpx.Client(base_url=url, auth=(user, PASSWORD), timeout=30)


@pytest.fixture
def alarm(session) -> tuple[str, datetime]:
    """A patient (unique to the test) with a reading and an active low-SpO2 alarm."""
    pid = f"R{uuid.uuid4().hex[:8].upper()}"
    now = datetime.now(UTC).replace(microsecond=0)
    session.execute(
        "INSERT INTO patient_vitals (patient_id, day, timestamp, heart_rate, spo2) "
        "VALUES (%s, %s, %s, %s, 85)",
        (pid, now.date(), now, HEART_RATE),
    )
    session.execute(
        "INSERT INTO patient_latest (patient_id, timestamp, heart_rate, spo2) "
        "VALUES (%s, %s, %s, 85)",
        (pid, now, HEART_RATE),
    )
    session.execute(
        "INSERT INTO active_alerts (patient_id, rule, severity, message, value, raised_at) "
        "VALUES (%s, 'low_spo2', 'high', 'Low SpO2: 85', 85, %s)",
        (pid, now),
    )
    return pid, now


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(minutes=10), now + timedelta(minutes=1)


def rows(
    session, n: int, *, patient: str | None = None, user: str | None = None, path: str = ""
) -> list[Access]:
    """Wait (bounded) until the trail has ``n`` rows of ``patient``/``user`` (and ``path``
    when given); returns them, newest first."""

    def found() -> list[Access]:
        got = [
            a
            for a in trail(session, *window(), patient_id=patient, user=user)
            if not path or a.path == path
        ]
        return got if len(got) >= n else []

    return wait_until(found, 15, f"{n} audit rows of {patient or user} {path}")  # type: ignore[return-value]


def settle(url: str, session, user: str) -> None:
    """Wait until every request made before is written: the audit log writes in order, so
    once a later marker request's row is stored, the earlier rows are too."""
    marker = f"M{uuid.uuid4().hex[:8].upper()}"
    with client(url, user) as c:
        c.get(f"/api/patients/{marker}")  # a 404, still audited
    rows(session, 1, patient=marker)


def test_a_viewers_acknowledgement_is_refused_and_audited_as_refused(server, session, alarm):
    pid, _ = alarm
    with client(server, "vera") as c:
        r = c.post(f"/api/patients/{pid}/alerts/low_spo2/ack", json={"comment": "seen"})
    assert r.status_code == 403
    assert r.json() == {
        "detail": "vera is a viewer: acknowledging an alarm needs the clinician role (an "
        "administrator adds ':clinician' to vera's line in the users file)"
    }
    assert (
        session.execute(
            "SELECT acked_by FROM alert_acks WHERE patient_id = %s AND rule = 'low_spo2'", (pid,)
        ).one()
        is None
    )
    (row,) = rows(session, 1, patient=pid)
    assert (row.user, row.role, row.method, row.status, row.outcome) == (
        "vera",
        "viewer",
        "POST",
        403,
        "refused",
    )
    assert row.path == f"/api/patients/{pid}/alerts/low_spo2/ack"


def test_a_clinicians_acknowledgement_is_stored_and_audited(server, session, alarm):
    pid, raised = alarm
    with client(server, "carol") as c:
        r = c.post(f"/api/patients/{pid}/alerts/low_spo2/ack", json={"comment": "seen"})
    assert r.status_code == 200, r.text
    ack = session.execute(
        "SELECT acked_by, raised_at FROM alert_acks WHERE patient_id = %s AND rule = 'low_spo2'",
        (pid,),
    ).one()
    assert (ack.acked_by, ack.raised_at.replace(tzinfo=UTC)) == ("carol", raised)
    (row,) = rows(session, 1, patient=pid)
    assert (row.user, row.role, row.status, row.outcome) == ("carol", "clinician", 200, "ok")


@pytest.mark.parametrize(
    ("method", "path", "what"),
    [
        ("POST", "/api/audio/pause", "pausing alarm audio"),
        ("POST", "/api/audio/resume", "resuming alarm audio"),
        ("POST", "/api/patients/{pid}/end-monitoring", "ending monitoring"),
        ("PUT", "/api/patients/{pid}/register", "placing a patient"),
    ],
)
def test_a_viewer_may_not_act_and_each_refusal_is_audited(
    server, session, alarm, method, path, what
):
    pid, _ = alarm
    path = path.format(pid=pid)
    with client(server, "wendy") as c:
        r = c.request(method, path, json={"station": pid, "ward": "7A"})
    assert r.status_code == 403
    assert r.json()["detail"].startswith(f"wendy is a viewer: {what} needs the clinician role")
    (row,) = rows(session, 1, user="wendy", path=path)
    assert (row.method, row.role, row.status, row.outcome) == (method, "viewer", 403, "refused")


def test_the_token_is_a_viewer_unless_told_otherwise(server, alarm):
    pid, _ = alarm
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server, headers=bearer, timeout=30) as c:
        assert c.get("/api/health").json()["role"] == "viewer"
        r = c.post(f"/api/patients/{pid}/alerts/low_spo2/ack")
    assert r.status_code == 403
    assert r.json()["detail"] == (
        "api-token (VITALS_API_TOKEN, --token-role viewer) is a viewer: acknowledging an "
        "alarm needs the clinician role (an administrator restarts `vitals serve` with "
        "--token-role clinician, or you log in with your own clinician account)"
    )


@pytest.fixture(scope="module")
def token_clinician_server(kafka_settings, cassandra_settings, alerts_topic) -> Iterator[str]:
    """A server whose token is a clinician (``--token-role clinician``), with carol a user."""
    settings = WebSettings(
        cassandra=replace(cassandra_settings), kafka=kafka_settings, alerts_topic=alerts_topic
    )
    auth = Authenticator(
        users={"carol": hash_password(PASSWORD)},
        roles={"carol": "clinician"},
        token=TOKEN,
        token_role="clinician",
    )
    with BackgroundServer(create_app(settings, auth)) as url:
        yield url


def acked_by(session, pid: str) -> str | None:
    row = session.execute(
        "SELECT acked_by FROM alert_acks WHERE patient_id = %s AND rule = 'low_spo2'", (pid,)
    ).one()
    return row.acked_by if row else None


def test_the_token_cannot_act_under_a_users_name(token_clinician_server, session, alarm):
    pid, _ = alarm
    with httpx.Client(base_url=token_clinician_server, auth=("carol", TOKEN)) as c:
        r = c.post(f"/api/patients/{pid}/alerts/low_spo2/ack", json={"comment": "seen"})
    assert r.status_code == 401
    assert r.json()["detail"].startswith(
        "carol is a user of the users file and the token is not their password"
    )
    assert acked_by(session, pid) is None


def test_an_acknowledgement_by_the_token_is_stored_and_audited_as_the_token(
    token_clinician_server, session, alarm
):
    pid, _ = alarm
    with httpx.Client(base_url=token_clinician_server, auth=("DrHouse", TOKEN)) as c:
        r = c.post(f"/api/patients/{pid}/alerts/low_spo2/ack", json={"by": "carol"})
    assert r.status_code == 200, r.text
    assert r.json()["by"] == acked_by(session, pid) == "api-token (as DrHouse)"
    (row,) = rows(session, 1, patient=pid)
    assert (row.user, row.role, row.outcome) == ("api-token (as DrHouse)", "clinician", "ok")


def test_health_tells_the_page_the_callers_role(server):
    with client(server, "vera") as v, client(server, "carol") as c:
        assert v.get("/api/health").json()["role"] == "viewer"
        assert c.get("/api/health").json()["role"] == "clinician"


def test_reading_a_patients_chart_writes_one_audit_row(server, session, alarm):
    pid, _ = alarm
    with client(server, "xavier") as c:
        assert c.get(f"/api/patients/{pid}/readings").status_code == 200
    settle(server, session, "xavier")
    found = list(trail(session, *window(), patient_id=pid))
    assert [(a.user, a.role, a.method, a.path, a.outcome) for a in found] == [
        ("xavier", "viewer", "GET", f"/api/patients/{pid}/readings", "ok")
    ]


def test_two_ward_refreshes_in_one_session_write_one_row(server, session):
    with client(server, "yara") as c:
        for _ in range(2):  # a refresh: the page, then the board's API reads
            assert c.get("/").status_code == 200
            assert c.get("/api/patients").status_code == 200
            assert c.get("/api/alerts").status_code == 200
    settle(server, session, "yara")
    ward = [a for a in trail(session, *window(), user="yara") if a.patient_id is None]
    assert [(a.method, a.path, a.role, a.outcome) for a in ward] == [("GET", "/", "viewer", "ok")]


def test_a_live_stream_is_audited_when_it_opens_not_when_it_ends(server, session):
    with client(server, "uma") as c, c.stream("GET", "/api/stream") as stream:
        assert stream.status_code == 200
        next(stream.iter_lines())  # the stream is open and stays open
        (row,) = rows(session, 1, user="uma")
        assert (row.path, row.patient_id, row.outcome) == ("/api/stream", None, "ok")


def test_the_trail_holds_no_vital_value_and_no_secret(server, session, alarm):
    pid, _ = alarm
    comment = "comment-never-in-the-trail"
    with client(server, "carol") as c:
        c.get(f"/api/patients/{pid}/readings", params={"start": "2026-01-01T00:00:00Z"})
        c.get("/api/fhir/Observation", params={"patient": f"Patient/{pid}"})
        c.post(f"/api/patients/{pid}/alerts/low_spo2/ack", json={"comment": comment})
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        c.get(f"/api/patients/{pid}")
    found = rows(session, 4, patient=pid)
    columns = {
        r.column_name
        for r in session.execute(
            "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s "
            "AND table_name IN ('access_audit', 'access_audit_by_hour')",
            (session.keyspace,),
        )
    }
    assert columns == {
        "patient_id", "day", "hour", "at", "event_id", "username", "role", "method", "path",
        "client", "status", "outcome",
    }  # fmt: skip
    for a in found:
        text = " ".join(str(v) for v in vars(a).values())
        for secret in (PASSWORD, TOKEN, comment, "2026-01-01"):
            assert secret not in text, a
        assert str(HEART_RATE) not in " ".join((a.path.replace(pid, ""), a.method, a.user)), a


def audit_cli(keyspace: str, *args: str):
    env = {
        "VITALS_CASSANDRA_HOSTS": CASSANDRA_HOST,
        "VITALS_CASSANDRA_PORT": str(CASSANDRA_PORT),
        "VITALS_KEYSPACE": keyspace,
    }
    result = CliRunner().invoke(cli, ["audit", *args, "--since", "1h"], env=env)
    assert result.exit_code == 0, result.output
    return [ln for ln in result.stdout.splitlines() if ln.strip()], result.stderr


def test_vitals_audit_reads_by_user_outcome_and_patient(server, session, alarm, keyspace):
    pid, _ = alarm
    with client(server, "zoe") as c:
        assert c.get(f"/api/patients/{pid}/readings").status_code == 200
        assert c.post(f"/api/patients/{pid}/alerts/low_spo2/ack").status_code == 403
        assert c.get("/api/patients").status_code == 200  # the session's ward view
    settle(server, session, "carol")  # the marker is not zoe's

    lines, summary = audit_cli(keyspace, "--user", "zoe")
    assert len(lines) == 3 and all(" zoe " in f" {ln} " and " viewer " in ln for ln in lines)
    assert "3 audit rows by zoe from " in summary
    lines, summary = audit_cli(keyspace, "--user", "zoe", "--outcome", "refused")
    (line,) = lines
    assert f" 403 refused   POST /api/patients/{pid}/alerts/low_spo2/ack" in line
    assert "1 audit row by zoe and refused from " in summary
    lines, summary = audit_cli(keyspace, pid, "--user", "zoe")  # the patient's own partitions
    assert [ln.split()[-1] for ln in lines] == [
        f"/api/patients/{pid}/alerts/low_spo2/ack",
        f"/api/patients/{pid}/readings",
    ]
    assert f"2 accesses to {pid} and by zoe from " in summary
    assert audit_cli(keyspace, "--patient", pid, "--user", "zoe")[0] == lines


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize(("user", "controls"), [("vera", False), ("carol", True)])
def test_the_pages_show_alarm_controls_to_a_clinician_only(
    server,
    browser,  # noqa: F811 (the fixture)
    alarm,
    width,
    user,
    controls,
):
    """A viewer sees the alarm but no Acknowledge button and no audio-pause control, on a
    phone (390 px) and a laptop (1280 px); a clinician sees both (headless Chromium)."""
    pid, _ = alarm
    context = browser.new_context(
        viewport={"width": width, "height": 900},
        http_credentials={"username": user, "password": PASSWORD},
    )
    page = context.new_page()
    SHOTS.mkdir(exist_ok=True)
    try:
        page.goto(f"{server}/?prefix={pid}")
        page.wait_for_selector("section.tile li.alert[data-rule='low_spo2']", timeout=30_000)
        page.wait_for_function("() => document.body.dataset.role !== undefined")
        page.screenshot(path=str(SHOTS / f"roles-ward-{user}-{width}.png"), full_page=True)
        assert page.locator("section.tile button.ack").count() == (1 if controls else 0)
        assert page.locator("#audio-pause").is_visible() == controls
        page.goto(f"{server}/patients/{pid}")
        page.wait_for_selector("#now li.alert[data-rule='low_spo2']", timeout=30_000)
        page.screenshot(path=str(SHOTS / f"roles-patient-{user}-{width}.png"), full_page=True)
        assert page.locator("#now button.ack").count() == (1 if controls else 0)
    finally:
        context.close()


@pytest.mark.parametrize(
    "name",
    [
        "Lee\n2026-11-29 alice GET /api/patients/B00 200",
        "carol ",
        "CAROL",
        "L" * 5000,
        "Lee\u202eecila",
    ],
)
def test_the_token_with_a_name_that_could_forge_the_audit_trail_is_refused(
    token_clinician_server, session, alarm, name
):
    pid, _ = alarm
    header = "Basic " + base64.b64encode(f"{name}:{TOKEN}".encode()).decode()
    with httpx.Client(
        base_url=token_clinician_server, headers={"Authorization": header}, timeout=30
    ) as c:
        read = c.get(f"/api/patients/{pid}")
        ack = c.post(f"/api/patients/{pid}/alerts/low_spo2/ack", json={"comment": "seen"})
    assert (read.status_code, ack.status_code) == (401, 401)
    detail = read.json()["detail"]
    assert detail.startswith(("the name given with the token ", "carol is a user of the users"))
    assert acked_by(session, pid) is None
