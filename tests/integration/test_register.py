"""The patient register against the real Cassandra: set from the CLI and the API, shown by
`vitals patient show`, `vitals watch`, `vitals query` and the API."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from tests.helpers import vitals_env
from vitals.errors import ConfigError
from vitals.readings import Reading
from vitals.register import Register
from vitals.store import Writer, apply_schema, connect
from vitals.web.app import WebSettings, create_app
from vitals.web.server import BackgroundServer

pytestmark = pytest.mark.services


def pid() -> str:
    return f"R{uuid.uuid4().hex[:6].upper()}"


def vitals(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vitals", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def env(topics, keyspace):
    return vitals_env(topics, keyspace)


def store_reading(session, patient: str) -> None:
    r = Reading(patient, datetime.now(UTC).replace(microsecond=0), 80, 97, 120, 75, 16, 37.0)
    w = Writer(session)
    assert w.execute(w.batches(w.reading_rows([r], [0])))
    assert w.execute(w.latest_statements([(r, 0)]))


def test_set_changes_only_the_fields_given_and_show_lists_them(env):
    patient = pid()
    first = vitals(
        env, "patient", "set", patient, "--ward", "Ward 7", "--bed", "7", "--name", "J. Smith"
    )
    assert (first.returncode, first.stdout) == (0, f"{patient}: Ward 7 · Bed 7 · J. Smith\n")
    moved = vitals(env, "patient", "set", patient, "--bed", "12", "--by", "nurse.k")
    assert moved.stdout == f"{patient}: Ward 7 · Bed 12 · J. Smith\n"
    shown = vitals(env, "patient", "show", patient)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[1].split() == [patient, "Ward", "7", "12", "J.", "Smith"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "X" * 65], "Error: name: 'XXXXXXXXXXXXXXXXXXXX'… is 65 characters; at most 64"),
        ([], "Error: nothing to set: give a ward, a bed and/or a name"),
    ],
)
def test_set_refuses_bad_fields_with_exit_2(env, args, message):
    res = vitals(env, "patient", "set", pid(), *args)
    assert res.returncode == 2
    assert res.stderr.strip() == message


def test_show_of_a_patient_not_in_the_register_says_how_to_add_it(env):
    res = vitals(env, "patient", "show", "NOBODY")
    assert res.returncode == 1
    assert "'NOBODY' is not in the register; add it with `vitals patient set NOBODY" in res.stderr


def test_watch_and_query_show_where_the_patient_lies(env, session):
    patient = pid()
    store_reading(session, patient)
    assert vitals(env, "patient", "set", patient, "--ward", "ICU", "--bed", "3").returncode == 0
    watch = vitals(env, "watch", "--once", "--prefix", patient)
    assert watch.returncode == 0, watch.stderr
    lines = watch.stdout.splitlines()
    assert lines[1].split()[:3] == ["PATIENT", "PLACE", "NEWS2"]
    assert lines[2].startswith(f"{patient} ICU · Bed 3 ")
    query = vitals(env, "query", patient)
    assert query.stderr.startswith(f"1 reading of {patient} (ICU · Bed 3) from "), query.stderr


@pytest.fixture
def web(kafka_settings, cassandra_settings, topics):
    settings = WebSettings(
        cassandra=cassandra_settings, kafka=kafka_settings, alerts_topic=topics.alerts
    )
    with (
        BackgroundServer(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def test_the_api_places_a_patient_and_every_state_carries_the_place(web, session):
    patient = pid()
    store_reading(session, patient)
    r = web.put(f"/api/patients/{patient}/register", json={"ward": "Ward 7", "bed": "7"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "patient_id": patient,
        "ward": "Ward 7",
        "bed": "7",
        "name": None,
        "label": "Ward 7 · Bed 7",
    }
    r = web.put(f"/api/patients/{patient}/register", json={"name": "J. Smith", "bed": ""})
    assert r.json()["label"] == "Ward 7 · J. Smith"
    one = web.get(f"/api/patients/{patient}").json()
    ward = web.get("/api/patients", params={"prefix": patient}).json()
    for state in (one, ward[0]):
        assert (state["ward"], state["bed"], state["name"]) == ("Ward 7", None, "J. Smith")


@pytest.mark.parametrize(
    ("body", "says"),
    [({"name": "X" * 65}, "name"), ({"room": "4"}, "room"), ({}, "nothing to set")],
)
def test_the_api_refuses_a_bad_placement_with_400(web, body, says):
    r = web.put(f"/api/patients/{pid()}/register", json=body)
    assert r.status_code == 400, r.text
    assert says in r.json()["detail"]


def test_a_keyspace_made_before_the_register_still_serves_the_views(cassandra_base):
    name = f"t_{uuid.uuid4().hex[:12]}"
    cluster, session = connect(cassandra_base, keyspace=None)
    try:
        apply_schema(session, name)
        session.execute(f"DROP TABLE {name}.patient_register", timeout=60)
        session.set_keyspace(name)
        register = Register(session)
        assert register.all() == {} and register.get("P1") is None
        with pytest.raises(ConfigError, match="has no patient_register table; run `vitals init`"):
            register.set("P1", bed="7", by="test")
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)
        cluster.shutdown()
