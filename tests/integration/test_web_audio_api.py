"""`/api/audio/`: pausing a ward's alarm sound is stored (who, when, until) like an
acknowledgement, against the real Cassandra (server in-process)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from vitals.store import apply_schema, connect
from vitals.web.app import WebSettings, create_app
from vitals.web.auth import Authenticator
from vitals.web.server import BackgroundServer

pytestmark = pytest.mark.services

TOKEN = "t0ken-for-audio-tests-0123456789"


def station() -> str:
    return f"A{uuid.uuid4().hex[:6].upper()}-"


@pytest.fixture(scope="module")
def settings(kafka_settings, cassandra_settings):
    return WebSettings(cassandra=cassandra_settings, kafka=kafka_settings)


@pytest.fixture(scope="module")
def web(settings):
    with (
        BackgroundServer(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def rows(session, name: str) -> list:
    return list(
        session.execute(
            "SELECT paused_at, until, paused_by, action FROM alarm_audio_pauses WHERE station = %s",
            (f"ward:{name}",),
        )
    )


def test_a_pause_is_stored_with_who_and_until_and_is_in_force_for_its_ward_only(web, session):
    ward, other = station(), station()
    before = datetime.now(UTC) - timedelta(seconds=1)
    r = web.post("/api/audio/pause", json={"station": ward, "by": "Nurse Kim"})
    assert r.status_code == 200, r.text
    pause = r.json()
    assert (pause["station"], pause["action"], pause["by"]) == (ward, "paused", "Nurse Kim")
    assert pause["remaining_s"] == 120
    [row] = rows(session, ward)
    assert (row.paused_by, row.action) == ("Nurse Kim", "paused")
    assert row.paused_at.replace(tzinfo=UTC) >= before
    assert (row.until - row.paused_at) == timedelta(seconds=120)
    assert row.paused_at.replace(tzinfo=UTC) == datetime.fromisoformat(pause["paused_at"])

    now = web.get("/api/audio/pause", params={"station": ward}).json()
    assert now["pause"]["paused_at"] == pause["paused_at"]
    assert 0 < now["pause"]["remaining_s"] <= 120
    assert web.get("/api/audio/pause", params={"station": other}).json() == {
        "station": other,
        "pause": None,
    }


def test_the_whole_board_is_a_station_too(web, session):
    r = web.post("/api/audio/pause", json={"seconds": 30})
    assert r.status_code == 200, r.text
    assert r.json()["by"] == "local"  # auth off, no name given
    assert web.get("/api/audio/pause").json()["pause"]["station"] == ""


def test_resume_ends_the_pause_and_both_are_kept(web, session):
    ward = station()
    web.post("/api/audio/pause", json={"station": ward, "by": "Nurse Kim"}).raise_for_status()
    r = web.post("/api/audio/resume", json={"station": ward, "by": "Dr Ode"})
    assert r.status_code == 200, r.text
    assert (r.json()["action"], r.json()["remaining_s"]) == ("resumed", 0)
    assert web.get("/api/audio/pause", params={"station": ward}).json()["pause"] is None
    assert [(x.action, x.paused_by) for x in rows(session, ward)] == [
        ("resumed", "Dr Ode"),
        ("paused", "Nurse Kim"),
    ]


def test_resuming_a_station_never_paused_is_404_and_stores_nothing(web, session):
    ward = station()
    r = web.post("/api/audio/resume", json={"station": ward})
    assert r.status_code == 404
    assert r.json()["detail"] == (
        f"the alarm audio of station {ward!r} was never paused: nothing to resume (is the "
        "ward spelt as the board shows it?)"
    )
    assert rows(session, ward) == []


def test_a_second_resume_of_a_real_station_answers_the_same(web, session):
    ward = station()
    web.post("/api/audio/pause", json={"station": ward}).raise_for_status()
    for _ in range(2):
        r = web.post("/api/audio/resume", json={"station": ward})
        assert (r.status_code, r.json()["action"]) == (200, "resumed")
    assert web.get("/api/audio/pause", params={"station": ward}).json()["pause"] is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"seconds": 0}, "seconds: Input should be greater than or equal to 1"),
        ({"seconds": 601}, "seconds: Input should be less than or equal to 600"),
        ({"station": "x" * 65}, "station: String should have at most 64 characters"),
        ({"minutes": 2}, "minutes: Extra inputs are not permitted"),
        ({"by": ""}, "by: String should have at least 1 character"),
    ],
)
def test_bad_pauses_get_400_and_store_nothing(web, session, body, says):
    r = web.post("/api/audio/pause", json={"station": "BAD-", **body})
    assert r.status_code == 400
    assert says in r.json()["detail"]
    assert rows(session, "BAD-") == []


def test_with_auth_the_pause_records_the_authenticated_user(settings, session):
    ward = station()
    with (
        BackgroundServer(
            create_app(settings, Authenticator(token=TOKEN, token_role="clinician"))
        ) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        assert client.post("/api/audio/pause", json={"station": ward}).status_code == 401
        r = client.post(
            "/api/audio/pause",
            json={"station": ward, "by": "someone else"},
            auth=("Nurse Lee", TOKEN),
        )
        assert r.status_code == 200, r.text
    assert [x.paused_by for x in rows(session, ward)] == ["api-token (as Nurse Lee)"]


def test_a_keyspace_without_the_table_gets_503_saying_run_vitals_init(
    kafka_settings, cassandra_base
):
    name = f"t_{uuid.uuid4().hex[:12]}"
    cluster, session = connect(cassandra_base, keyspace=None)
    try:
        apply_schema(session, name)
        session.execute(f"DROP TABLE {name}.alarm_audio_pauses", timeout=60)
        settings = WebSettings(
            cassandra=replace(cassandra_base, keyspace=name), kafka=kafka_settings
        )
        with (
            BackgroundServer(create_app(settings)) as url,
            httpx.Client(base_url=url, timeout=30) as client,
        ):
            r = client.get("/api/audio/pause")
        assert r.status_code == 503
        assert "table alarm_audio_pauses is missing" in r.json()["detail"]
        assert "run `vitals init`" in r.json()["detail"]
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)
        cluster.shutdown()
