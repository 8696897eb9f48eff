"""`vitals serve`'s JSON API against the real Kafka and Cassandra (server in-process)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from click.testing import CliRunner

from tests.helpers import read_topic, start_consumer, wait_until
from vitals.cli import cli
from vitals.producer import VitalsProducer
from vitals.readings import Reading
from vitals.web.app import WebSettings, create_app
from vitals.web.auth import Authenticator, hash_password
from vitals.web.server import BackgroundServer

pytestmark = pytest.mark.services

TOKEN = "t0ken-for-tests-0123456789"


def pid() -> str:
    return f"W{uuid.uuid4().hex[:6].upper()}"


def reading(patient: str, ts: datetime, *, hr: int = 80, spo2: int = 97) -> Reading:
    return Reading(patient, ts, hr, spo2, 120, 75, 16, 37.0)


def send(kafka_settings, topic: str, readings: list[Reading]) -> None:
    with VitalsProducer(kafka=kafka_settings, topic=topic) as producer:
        for r in readings:
            producer.send(r)
    assert producer.stats.failed == 0


@pytest.fixture
def web(kafka_settings, cassandra_settings, topics):
    settings = WebSettings(
        cassandra=cassandra_settings,
        kafka=kafka_settings,
        alerts_topic=topics.alerts,
        poll_interval=0.5,
    )
    with (
        BackgroundServer(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


@pytest.fixture
def consumer(topics, keyspace):
    p = start_consumer(topics, keyspace)
    yield p
    assert p.stop() == 0


def active_alert(client: httpx.Client, patient: str, rule: str) -> dict | None:
    r = client.get(f"/api/patients/{patient}")
    if r.status_code != 200:
        return None
    return next((a for a in r.json()["alerts"] if a["rule"] == rule), None)


# --- reads ---------------------------------------------------------------------------------


def test_readings_across_midnight_utc_come_back_complete_and_ordered(
    web, consumer, kafka_settings, topics
):
    patient = pid()
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    sent = [reading(patient, midnight + timedelta(seconds=s)) for s in range(-90, 90)]
    send(kafka_settings, topics.vitals, sent)
    wait_until(
        lambda: web.get(f"/api/patients/{patient}").status_code == 200,
        30,
        "the patient to appear",
    )
    params = {
        "start": (midnight - timedelta(seconds=90)).isoformat(),
        "end": (midnight + timedelta(seconds=90)).isoformat(),
    }

    def complete():
        body = web.get(f"/api/patients/{patient}/readings", params=params).json()
        return body if body["count"] == 180 else None

    body = wait_until(complete, 30, "all 180 readings to be stored")
    times = [datetime.fromisoformat(r["timestamp"]) for r in body["readings"]]
    assert times == [r.timestamp for r in sent]
    assert body["truncated"] is False
    assert {t.date() for t in times} == {(midnight - timedelta(days=1)).date(), midnight.date()}

    newest = web.get(f"/api/patients/{patient}/readings", params={**params, "limit": 100}).json()
    assert newest["truncated"] is True
    assert [r["timestamp"] for r in newest["readings"]] == [
        r["timestamp"] for r in body["readings"][-100:]
    ]


@pytest.mark.parametrize("temperature", [37.6, 36.1, 38.3, 35.9])
def test_temperatures_come_back_as_stored_not_as_32_bit_floats(web, session, temperature):
    patient = pid()
    now = datetime.now(UTC).replace(microsecond=0)
    session.execute(
        "INSERT INTO patient_vitals (patient_id, day, timestamp, heart_rate, temperature) "
        "VALUES (%s, %s, %s, 80, %s)",
        (patient, now.date(), now, temperature),
    )
    session.execute(
        "INSERT INTO patient_latest (patient_id, timestamp, heart_rate, temperature) "
        "VALUES (%s, %s, 80, %s)",
        (patient, now, temperature),
    )
    one = web.get(f"/api/patients/{patient}")
    ward = web.get("/api/patients", params={"prefix": patient})
    history = web.get(f"/api/patients/{patient}/readings")
    assert one.json()["latest"]["temperature"] == temperature
    assert ward.json()[0]["latest"]["temperature"] == temperature
    assert history.json()["readings"][0]["temperature"] == temperature
    for r in (one, ward, history):
        assert f'"temperature":{temperature}' in r.text, r.text


def test_live_stream_updates_within_2_s_of_the_reading_being_stored(
    web, consumer, kafka_settings, topics, session
):
    patient = pid()
    seen: dict[str, float] = {}
    stop = threading.Event()

    def listen() -> None:
        with web.stream("GET", "/api/stream", timeout=30) as r:
            for line in r.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("data:") and patient in line and "seen" not in seen:
                    seen["seen"] = time.monotonic()
                    return
                if line.startswith("event: snapshot"):
                    seen.setdefault("connected", time.monotonic())

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    wait_until(lambda: "connected" in seen, 10, "the stream's snapshot")
    stmt = session.prepare("SELECT timestamp FROM patient_latest WHERE patient_id = ?")
    send(kafka_settings, topics.vitals, [reading(patient, datetime.now(UTC))])
    wait_until(lambda: session.execute(stmt, (patient,)).one(), 30, "the reading to be stored")
    stored = time.monotonic()
    wait_until(lambda: "seen" in seen, 5, "an update event naming the patient")
    stop.set()
    assert seen["seen"] - stored < 2.0


# --- acknowledgement -------------------------------------------------------------------------


def test_acknowledgement_is_stored_and_published(web, consumer, kafka_settings, topics, session):
    patient = pid()
    send(kafka_settings, topics.vitals, [reading(patient, datetime.now(UTC), spo2=85)])
    alert = wait_until(lambda: active_alert(web, patient, "low_spo2"), 30, "low_spo2 raised")
    assert alert["acknowledged"] is None

    r = web.post(
        f"/api/patients/{patient}/alerts/low_spo2/ack",
        json={"raised_at": alert["raised_at"], "comment": "O2 applied", "by": "Nurse Kim"},
    )

    assert r.status_code == 200, r.text
    event = r.json()
    assert (event["kind"], event["by"], event["comment"]) == (
        "acknowledged",
        "Nurse Kim",
        "O2 applied",
    )
    row = session.execute(
        "SELECT raised_at, acked_by, comment FROM alert_acks WHERE patient_id = %s AND rule = %s",
        (patient, "low_spo2"),
    ).one()
    assert (row.acked_by, row.comment) == ("Nurse Kim", "O2 applied")
    assert row.raised_at.replace(tzinfo=UTC) == datetime.fromisoformat(alert["raised_at"])
    kinds = [
        e
        for rec in read_topic(topics.alerts, 3)
        if rec.key == patient.encode() and (e := json.loads(rec.value))["rule"] == "low_spo2"
    ]
    assert [k["kind"] for k in kinds] == ["raised", "acknowledged"]
    assert kinds[1]["by"] == "Nurse Kim"
    assert millis(kinds[1]["raised_at"]) == millis(kinds[0]["timestamp"])  # Cassandra keeps ms
    history = web.get(f"/api/patients/{patient}/alerts").json()["events"]
    assert [e["kind"] for e in history if e["rule"] == "low_spo2"] == ["raised", "acknowledged"]
    shown = wait_until(
        lambda: (active_alert(web, patient, "low_spo2") or {}).get("acknowledged"),
        5,
        "the alert shown as acknowledged",
    )
    assert shown["by"] == "Nurse Kim"


def test_an_acknowledgement_does_not_carry_over_to_a_new_raise(
    web, consumer, kafka_settings, topics
):
    patient = pid()
    t0 = datetime.now(UTC) - timedelta(seconds=10)
    send(kafka_settings, topics.vitals, [reading(patient, t0, spo2=85)])
    first = wait_until(lambda: active_alert(web, patient, "low_spo2"), 30, "low_spo2 raised")
    ack = {"raised_at": first["raised_at"]}
    assert web.post(f"/api/patients/{patient}/alerts/low_spo2/ack", json=ack).status_code == 200

    send(
        kafka_settings,
        topics.vitals,
        [
            reading(patient, t0 + timedelta(seconds=1)),
            reading(patient, t0 + timedelta(seconds=2), spo2=84),
        ],
    )
    second = wait_until(
        lambda: (
            (a := active_alert(web, patient, "low_spo2"))
            and a["raised_at"] != first["raised_at"]
            and a
        ),
        30,
        "low_spo2 cleared and raised again",
    )

    assert second["acknowledged"] is None
    again = web.post(f"/api/patients/{patient}/alerts/low_spo2/ack", json=ack)
    assert again.status_code == 409
    assert "raised again" in again.json()["detail"]


# --- bad requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/api/patients/NOBODY-{tag}", {}, 404, "unknown patient"),
        ("/api/patients/NOBODY-{tag}/readings", {}, 404, "unknown patient"),
        ("/api/patients/NOBODY-{tag}/alerts", {}, 404, "unknown patient"),
        ("/api/patients/{pid}/readings", {"start": "yesterday"}, 400, "query.start"),
        (
            "/api/patients/{pid}/readings",
            {"start": "1h"},
            400,
            "query.start: '1h' is not a time; give an ISO 8601 time with a time zone, such as "
            "2026-11-25T23:30:00Z or 2026-11-25T23:30:00%2B01:00 (a '+' must be sent as %2B "
            "in a URL). Durations such as 1h are not accepted here: leave start and end "
            "out for the last hour",
        ),
        ("/api/patients/{pid}/alerts", {"end": "tomorrow"}, 400, "query.end: 'tomorrow' is not"),
        ("/api/patients/{pid}/readings", {"start": "2026-01-01T00:00:00"}, 400, "no time zone"),
        (
            "/api/patients/{pid}/readings",
            {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            400,
            "must be before end",
        ),
        (
            "/api/patients/{pid}/readings",
            {"start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            400,
            "longer than 31 days",
        ),
        ("/api/patients/{pid}/readings", {"limit": "100000000"}, 400, "query.limit"),
        ("/api/patients/{pid}/readings", {"limit": "0"}, 400, "query.limit"),
        ("/api/patients/{pid}/readings", {"limit": "lots"}, 400, "query.limit"),
        ("/api/patients/{long}", {}, 400, "patient_id"),
        ("/api/trends", {"minutes": "100000"}, 400, "query.minutes"),
    ],
)
def test_bad_parameters_get_4xx_with_a_clear_message(web, session, path, params, status, says):
    patient = pid()
    session.execute(
        "INSERT INTO patient_latest (patient_id, timestamp, heart_rate) VALUES (%s, %s, 80)",
        (patient, datetime.now(UTC)),
    )
    url = path.format(tag=uuid.uuid4().hex[:6], pid=patient, long="X" * 65)
    r = web.get(url, params=params)
    assert r.status_code == status, r.text
    assert says in r.json()["detail"]


@pytest.mark.parametrize("end", ["", "&end=2026-01-01T01:00:00+01:00"])
def test_an_unencoded_plus_in_a_time_gets_a_hint_to_encode_it(web, session, end):
    patient = pid()
    session.execute(
        "INSERT INTO patient_latest (patient_id, timestamp, heart_rate) VALUES (%s, %s, 80)",
        (patient, datetime.now(UTC)),
    )
    r = web.get(f"/api/patients/{patient}/readings?start=2026-01-01T00:00:00+01:00{end}")
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith(
        "query.start: '2026-01-01T00:00:00 01:00': a '+' in a URL query arrives as a space; "
        "encode it as %2B (2026-01-01T00:00:00%2B01:00), or give the time in UTC with Z"
    )
    encoded = web.get(f"/api/patients/{patient}/readings?start=2026-01-01T00:00:00%2B01:00")
    assert encoded.status_code == 400  # a real time now: only the range is refused
    assert "longer than 31 days" in encoded.json()["detail"]


@pytest.mark.parametrize("path", ["/api/", "/api"])
def test_the_api_root_points_to_the_docs(web, path):
    r = web.get(path, follow_redirects=True)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["openapi"] == "/api/openapi.json"
    assert "GET /api/patients/{patient_id}/readings  A patient's readings" in "\n".join(
        body["routes"]
    )
    assert web.get(body["openapi"]).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"raised_at": "not a time"}, 400, "raised_at"),
        ({"raised_at": "2026-01-01T00:00:00"}, 400, "raised_at"),
        ({"comment": "x" * 501}, 400, "comment"),
        ({"surprise": 1}, 400, "surprise"),
        ({}, 404, "no active alert"),
    ],
)
def test_bad_acknowledgements_get_4xx(web, session, body, status, says):
    patient = pid()
    session.execute(
        "INSERT INTO patient_latest (patient_id, timestamp, heart_rate) VALUES (%s, %s, 80)",
        (patient, datetime.now(UTC)),
    )
    r = web.post(f"/api/patients/{patient}/alerts/low_spo2/ack", json=body)
    assert r.status_code == status, r.text
    assert says in r.json()["detail"]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"{", "body: not valid JSON (Expecting property name enclosed in double quotes at "),
        (b'{"by": "a",}', "body: not valid JSON ("),
        (b"by=alice", "body: not valid JSON (Expecting value at character 0)"),
    ],
)
def test_a_malformed_json_acknowledgement_says_so_in_the_usual_error_shape(web, raw, says):
    r = web.post(
        f"/api/patients/{pid()}/alerts/low_spo2/ack",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert list(r.json()) == ["detail"]
    assert r.json()["detail"].startswith(says)
    assert r.json()["detail"].endswith("; send a JSON object")


# --- auth ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alice_hash() -> str:
    return hash_password("correct horse battery")


@pytest.fixture
def authed(kafka_settings, cassandra_settings, topics, alice_hash):
    settings = WebSettings(
        cassandra=cassandra_settings, kafka=kafka_settings, alerts_topic=topics.alerts
    )
    auth = Authenticator(users={"alice": alice_hash}, roles={"alice": "clinician"}, token=TOKEN)
    with (
        BackgroundServer(create_app(settings, auth)) as url,
        httpx.Client(base_url=url, timeout=30) as c,
    ):
        yield c


@pytest.mark.parametrize("path", ["/api/health", "/api/patients", "/", "/api/openapi.json"])
def test_auth_on_no_credentials_is_401(authed, path):
    r = authed.get(path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic")
    assert "authentication required" in r.json()["detail"]


@pytest.mark.parametrize(
    "credentials",
    [
        {"auth": ("alice", "wrong password")},
        {"auth": ("mallory", "correct horse battery")},
        {"headers": {"Authorization": "Bearer not-the-token"}},
        {"headers": {"Authorization": "Basic !!!"}},
    ],
)
def test_auth_on_wrong_credentials_are_401(authed, credentials):
    r = authed.get("/api/health", **credentials)
    assert r.status_code == 401
    assert r.json()["detail"] == "wrong user name, password or token"


@pytest.mark.parametrize(
    ("credentials", "user"),
    [
        ({"auth": ("alice", "correct horse battery")}, "alice"),
        ({"headers": {"Authorization": f"Bearer {TOKEN}"}}, "api-token"),
        ({"auth": ("Nurse Lee", TOKEN)}, "api-token (as Nurse Lee)"),
    ],
)
def test_auth_on_good_credentials_are_let_in(authed, credentials, user):
    r = authed.get("/api/health", **credentials)
    assert r.status_code == 200
    assert r.json()["user"] == user and r.json()["auth"] == "users+token"


def test_with_auth_the_acknowledgement_records_the_authenticated_user(authed, session):
    patient = pid()
    now = datetime.now(UTC).replace(microsecond=0)
    session.execute(
        "INSERT INTO patient_latest (patient_id, timestamp, spo2) VALUES (%s, %s, 85)",
        (patient, now),
    )
    session.execute(
        "INSERT INTO active_alerts (patient_id, rule, severity, message, value, raised_at) "
        "VALUES (%s, 'low_spo2', 'high', 'Low SpO2: 85', 85, %s)",
        (patient, now),
    )
    r = authed.post(
        f"/api/patients/{patient}/alerts/low_spo2/ack",
        json={"by": "someone else"},
        auth=("alice", "correct horse battery"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["by"] == "alice"


# --- the command -----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_serve_refuses_a_non_loopback_bind_without_auth(host, monkeypatch):
    monkeypatch.delenv("VITALS_API_TOKEN", raising=False)
    monkeypatch.delenv("VITALS_WEB_USERS", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--host", host])
    assert result.exit_code == 2
    assert f"refusing to serve patient data on {host} without authentication" in result.output
    assert "--auth USERS_FILE" in result.output and "VITALS_API_TOKEN" in result.output


def test_serve_refuses_a_short_token(monkeypatch):
    monkeypatch.setenv("VITALS_API_TOKEN", "short")
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "Error: VITALS_API_TOKEN is too short (at least 16 characters)" in result.output
    assert "short" not in result.output.replace("too short", "")


def test_hash_password_prints_a_users_file_line_that_verifies(tmp_path):
    result = CliRunner().invoke(cli, ["serve", "--hash-password", "bob"], input="s3cret-pass\n")
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("bob:$argon2id$")
    users = tmp_path / "users.txt"
    users.write_text(line + "\n")
    from vitals.web.auth import load_users

    auth = Authenticator(users=load_users(str(users)))
    assert auth.user("Basic " + _b64("bob:s3cret-pass")) == "bob"
    assert auth.user("Basic " + _b64("bob:wrong")) is None


def test_a_bad_users_file_line_is_named(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("# staff\nalice-without-hash\n")
    result = CliRunner().invoke(cli, ["serve", "--auth", str(users)])
    assert result.exit_code == 2
    assert f"Error: {users}:2: expected NAME:ARGON2-HASH" in result.output


def millis(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def test_acknowledging_a_raise_that_never_was_says_so(web, consumer, kafka_settings, topics):
    """A raised_at later than the active raise cannot be an earlier raise: the 409 must not
    claim the alert "was raised again" (it was not)."""
    patient = pid()
    send(kafka_settings, topics.vitals, [reading(patient, datetime.now(UTC), spo2=85)])
    alert = wait_until(lambda: active_alert(web, patient, "low_spo2"), 30, "low_spo2 raised")
    later = (datetime.fromisoformat(alert["raised_at"]) + timedelta(hours=1)).isoformat()
    r = web.post(f"/api/patients/{patient}/alerts/low_spo2/ack", json={"raised_at": later})
    assert r.status_code == 409
    assert "was not raised at" in r.json()["detail"] and "raised again" not in r.json()["detail"]
