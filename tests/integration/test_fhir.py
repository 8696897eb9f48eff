"""FHIR R4 out: `GET /api/fhir/Observation` and `vitals query --format fhir` against real Cassandra.

Every Bundle is validated with fhir.resources (R4B models, identical to R4 for Bundle and
Observation). The patient's readings straddle midnight UTC, so a search crosses two day
partitions.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from click.testing import CliRunner
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.helpers import CASSANDRA_HOST, CASSANDRA_PORT
from vitals.cli import cli
from vitals.web.app import WebSettings, create_app
from vitals.web.auth import Authenticator, hash_password
from vitals.web.server import BackgroundServer

pytestmark = pytest.mark.services

MIDNIGHT = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
FIRST = MIDNIGHT - timedelta(minutes=5)  # 23:55:00 yesterday
STEP = timedelta(seconds=30)
N = 20  # 23:55:00 .. 00:04:30
EXPECTED = {
    "8867-4": ("/min", "heartrate"),
    "59408-5": ("%", "oxygensat"),
    "85354-9": (None, "bp"),
    "9279-1": ("/min", "resprate"),
    "8310-5": ("Cel", "bodytemp"),
    "1104051000000101": ("{score}", None),
}


def z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def patient(session) -> str:
    """N readings of one patient across midnight UTC; the reading at 00:00:00 has no
    temperature and no NEWS2 (a partial reading)."""
    pid = f"F-{uuid.uuid4().hex[:6]}"
    insert = session.prepare(
        "INSERT INTO patient_vitals (patient_id, day, timestamp, heart_rate, spo2, systolic, "
        "diastolic, respiratory_rate, temperature, news2) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    for i in range(N):
        t = FIRST + i * STEP
        partial = t == MIDNIGHT
        temp, news2 = (None, None) if partial else (36.6, 1)
        session.execute(insert, (pid, t.date(), t, 70 + i, 96, 120, 80, 16, temp, news2))
    last = FIRST + (N - 1) * STEP
    session.execute(
        "INSERT INTO patient_latest (patient_id, timestamp, heart_rate) VALUES (%s, %s, 89)",
        (pid, last),
    )
    return pid


@pytest.fixture(scope="module")
def server(kafka_settings, cassandra_settings):
    settings = WebSettings(cassandra=cassandra_settings, kafka=kafka_settings)
    auth = Authenticator(users={"alice": hash_password("correct horse battery")})
    with BackgroundServer(create_app(settings, auth)) as url:
        yield url


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server, timeout=30, auth=("alice", "correct horse battery")) as c:
        yield c


def search(client, **params) -> dict:
    r = client.get("/api/fhir/Observation", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/fhir+json"
    Bundle.model_validate(r.json())  # raises on anything that is not a valid R4 Bundle
    return r.json()


def resources(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", [])]


def test_a_search_across_midnight_utc_returns_a_valid_searchset_with_loinc_codes_and_ucum_units(
    client, patient
):
    b = search(
        client,
        patient=patient,
        date=[f"ge{z(MIDNIGHT - 2 * STEP)}", f"lt{z(MIDNIGHT + 2 * STEP)}"],
        _count=1000,
    )
    assert b["type"] == "searchset" and "next" not in {ln["relation"] for ln in b["link"]}
    obs = resources(b)
    urls = [e["fullUrl"] for e in b["entry"]]
    assert len(set(urls)) == len(urls) and all(u.startswith("urn:uuid:") for u in urls)
    times = sorted({o["effectiveDateTime"] for o in obs}, reverse=True)
    assert times == [z(MIDNIGHT + k * STEP).replace("Z", ".000Z") for k in (1, 0, -1, -2)]
    by_code: dict[str, list[dict]] = {}
    for o in obs:
        by_code.setdefault(o["code"]["coding"][0]["code"], []).append(o)
    # 4 readings: six kinds each, minus temperature and NEWS2 of the partial one at 00:00
    assert {c: len(v) for c, v in by_code.items()} == {
        "8867-4": 4,
        "59408-5": 4,
        "85354-9": 4,
        "9279-1": 4,
        "8310-5": 3,
        "1104051000000101": 3,
    }
    for code, found in by_code.items():
        unit, profile = EXPECTED[code]
        for o in found:
            assert o["subject"]["reference"] == f"Patient/{patient}"
            if profile:
                assert o["category"][0]["coding"][0]["code"] == "vital-signs"
                assert o["meta"]["profile"] == [
                    f"http://hl7.org/fhir/StructureDefinition/{profile}"
                ]
            if unit:
                assert o["valueQuantity"]["system"] == "http://unitsofmeasure.org"
                assert o["valueQuantity"]["code"] == unit
    assert {c["code"] for c in by_code["59408-5"][0]["code"]["coding"]} == {"59408-5", "2708-6"}
    bp = by_code["85354-9"][0]
    assert "valueQuantity" not in bp
    assert [
        (c["code"]["coding"][0]["code"], c["valueQuantity"]["value"], c["valueQuantity"]["code"])
        for c in bp["component"]
    ] == [("8480-6", 120, "mm[Hg]"), ("8462-4", 80, "mm[Hg]")]
    assert by_code["8310-5"][0]["valueQuantity"]["value"] == 36.6
    hr_at_midnight = [
        o for o in by_code["8867-4"] if o["effectiveDateTime"].startswith(z(MIDNIGHT)[:19])
    ]
    assert hr_at_midnight[0]["valueQuantity"]["value"] == 70 + 10


def test_pages_follow_next_links_without_losing_or_repeating_or_splitting_a_reading(
    client, patient
):
    whole = search(client, patient=patient, date=[f"ge{z(FIRST)}"], _count=1000)
    pages = [search(client, patient=patient, date=[f"ge{z(FIRST)}"], _count=10)]
    while nxt := [ln["url"] for ln in pages[-1]["link"] if ln["relation"] == "next"]:
        r = client.get(nxt[0])
        assert r.status_code == 200, r.text
        Bundle.model_validate(r.json())
        pages.append(r.json())
        assert len(pages) < 50
    ids = [o["id"] for p in pages for o in resources(p)]
    assert ids == [o["id"] for o in resources(whole)]
    assert len(ids) == N * 6 - 2
    assert all(len(resources(p)) <= 10 for p in pages)
    for p in pages[:-1]:  # a page ends on a whole reading: the next one starts earlier
        last = resources(p)[-1]["effectiveDateTime"]
        first_next = resources(pages[pages.index(p) + 1])[0]["effectiveDateTime"]
        assert first_next < last


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("8867-4", {"8867-4"}),
        ("http://loinc.org|85354-9", {"85354-9"}),
        ("2708-6", {"59408-5"}),
        ("9279-1,8310-5", {"9279-1", "8310-5"}),
        ("http://snomed.info/sct|1104051000000101", {"1104051000000101"}),
    ],
)
def test_the_code_parameter_selects_observations(client, patient, code, expected):
    b = search(client, patient=patient, date=[f"ge{z(FIRST)}"], code=code, _count=1000)
    assert {o["code"]["coding"][0]["code"] for o in resources(b)} == expected


@pytest.mark.parametrize(
    ("params", "status", "diagnostics"),
    [
        ({"date": "ge2026-13-01"}, 400, "'2026-13-01' is not a date"),
        ({"date": "ge2026-11-29T08:00:00"}, 400, "has no time zone"),
        ({"date": ["ge2026-11-29T08:00:00Z", "lt2026-11-29T07:00:00Z"]}, 400, "is empty"),
        ({"date": ["ge2026-01-01T00:00:00Z", "lt2026-11-29T00:00:00Z"]}, 400, "at most 31 days"),
        ({"code": "1234-5"}, 400, "'1234-5' is not a code of these Observations"),
    ],
)
def test_bad_searches_get_an_operation_outcome_saying_why(
    client, patient, params, status, diagnostics
):
    r = client.get("/api/fhir/Observation", params={"patient": patient, **params})
    assert r.status_code == status
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert diagnostics in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("params", "code", "expression", "diagnostics"),
    [
        ({}, "required", "patient", "patient: required; e.g. patient=P001"),
        ({"patient": "P1", "_count": 0}, "invalid", "_count", "_count: Input should be greater"),
        ({"patient": "P1", "_count": "ten"}, "invalid", "_count", "_count: Input should be a"),
        ({"patient": ""}, "invalid", "patient", "patient: String should have at least 1"),
    ],
)
def test_parameters_refused_before_the_search_get_an_operation_outcome_too(
    client, params, code, expression, diagnostics
):
    r = client.get("/api/fhir/Observation", params=params)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    outcome = OperationOutcome.model_validate(r.json())  # a valid R4 resource
    (issue,) = outcome.issue
    assert (issue.severity, issue.code, issue.expression) == ("error", code, [expression])
    assert issue.diagnostics.startswith(diagnostics)


def test_an_unknown_patient_is_not_found(client):
    r = client.get("/api/fhir/Observation", params={"patient": "Patient/NOBODY-here"})
    assert r.status_code == 404 and r.json()["issue"][0]["code"] == "not-found"


def test_patient_data_needs_the_same_authentication_as_the_api(server, patient):
    r = httpx.get(f"{server}/api/fhir/Observation", params={"patient": patient}, timeout=30)
    assert r.status_code == 401
    assert "Observation" not in r.text


def test_vitals_query_format_fhir_writes_the_same_observations_as_the_api(
    client, patient, keyspace
):
    args = [
        "query",
        patient,
        "--format",
        "fhir",
        "--since",
        z(FIRST),
        "--until",
        z(MIDNIGHT + 3 * STEP),
    ]
    env = {
        "VITALS_CASSANDRA_HOSTS": CASSANDRA_HOST,
        "VITALS_CASSANDRA_PORT": str(CASSANDRA_PORT),
        "VITALS_KEYSPACE": keyspace,
    }
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    Bundle.model_validate(written)
    # --until is inclusive in `vitals query`; the API's lt is exclusive
    api = search(
        client, patient=patient, date=[f"ge{z(FIRST)}", f"lt{z(MIDNIGHT + 3 * STEP)}"], _count=1000
    )
    cli_ids = [e["resource"]["id"] for e in written["entry"]]
    assert cli_ids[6:] == [o["id"] for o in resources(api)]  # same ids, newest first
    assert len(cli_ids) == 6 + len(resources(api))
