"""The central station shows each vital's own age, stale vitals and incomplete NEWS2.

Patients fed through the real pipeline (Kafka -> consumer -> Cassandra -> web server,
``tests.integration.browser.ward``): a monitor whose last cuff reading was 20 minutes
ago, one whose cuff stopped 70 minutes ago (older than the 60 min window) and a pulse
oximeter (heart rate and SpO2 only).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.helpers import wait_until
from tests.integration.browser import SHOTS, browser, ward  # noqa: F401 (fixtures)
from vitals.readings import Reading

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def partial(ward, session):  # noqa: F811
    """Three more patients of the ward: ``bp20``, ``bp70`` and ``oxi`` (see the module doc)."""
    now = datetime.now(UTC)
    bp20, bp70, oxi = (f"{ward.prefix}-{n}" for n in ("BP20", "BP70", "OXI"))
    full = [
        Reading(bp20, now - timedelta(minutes=20), 72, 97, 118, 76, 16, 36.9),
        Reading(bp70, now - timedelta(minutes=70), 72, 97, 131, 84, 16, 36.9),
    ]
    monitor = [
        Reading(p, now - timedelta(seconds=s), heart_rate=75, spo2=97, respiratory_rate=16)
        for s in range(60, 0, -20)
        for p in (bp20, bp70)
    ]
    oximeter = [Reading(oxi, now - timedelta(seconds=s), heart_rate=80, spo2=96) for s in (40, 20)]
    ward.send(full)
    ward.send(monitor + oximeter)
    newest = now - timedelta(seconds=21)  # stored to the second by the producer
    latest = session.prepare("SELECT timestamp FROM patient_latest WHERE patient_id = ?")
    for p in (bp20, bp70, oxi):

        def stored(p=p):
            row = session.execute(latest, (p,)).one()
            return row is not None and row.timestamp.replace(tzinfo=UTC) >= newest

        wait_until(stored, 60, f"{p}'s newest reading stored")
    return {"bp20": bp20, "bp70": bp70, "oxi": oxi, "now": now}


def age(measured: dict) -> float:
    """Seconds since a vital's ``measured_at``."""
    return (datetime.now(UTC) - datetime.fromisoformat(measured["measured_at"])).total_seconds()


def test_api_states_carry_each_vitals_time_and_an_incomplete_news2(ward, partial):  # noqa: F811
    got = httpx.get(f"{ward.url}/api/patients/{partial['bp20']}", timeout=10).json()
    # nothing in a state varies with the clock alone (the live board pushes changed states)
    assert httpx.get(f"{ward.url}/api/patients/{partial['bp20']}", timeout=10).json() == got
    latest = got["latest"]
    bp = latest["measured"]["blood_pressure"]
    assert (latest["systolic"], latest["diastolic"]) == (118, 76)
    assert 19 * 60 <= age(bp) <= 25 * 60 and bp["stale"] is False
    assert bp["window_s"] == 3600
    assert age(latest["measured"]["heart_rate"]) < 5 * 60
    assert latest["news2_incomplete"] == [] and latest["news2"] == 0

    stale = httpx.get(f"{ward.url}/api/patients/{partial['bp70']}", timeout=10).json()["latest"]
    assert stale["measured"]["blood_pressure"]["stale"] is True
    assert stale["news2_incomplete"] == ["blood_pressure"] and stale["news2"] is None

    oxi = httpx.get(f"{ward.url}/api/patients?prefix={partial['oxi']}", timeout=10).json()
    (state,) = oxi
    assert state["latest"]["systolic"] is None and state["latest"]["temperature"] is None
    assert set(state["latest"]["measured"]) == {"heart_rate", "spo2"}
    assert state["latest"]["news2_incomplete"] == [
        "respiratory_rate",
        "blood_pressure",
        "temperature",
    ]


def test_tile_shows_a_20_minute_old_blood_pressure_with_its_age(browser, ward, partial):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{ward.url}/?prefix={ward.prefix}")
        tile = page.locator(f'section.tile[data-patient="{partial["bp20"]}"]')
        bp = tile.locator('[data-vital="blood_pressure"]')
        bp.locator(".age").filter(has_text="min ago").wait_for(timeout=15_000)
        assert bp.locator(".v").inner_text() == "118/76"
        assert bp.locator(".age").inner_text() in ("20 min ago", "21 min ago")
        assert bp.get_attribute("title") == f"BP 118/76 mmHg · {bp.locator('.age').inner_text()}"
        assert bp.get_attribute("data-stale") == "false"
        # heart rate is the newest reading's own: no age note
        assert tile.locator('[data-vital="heart_rate"] .age').inner_text() == ""
        assert tile.locator(".news2").inner_text() == "NEWS2 0"

        old = page.locator(f'section.tile[data-patient="{partial["bp70"]}"]')
        old_bp = old.locator('[data-vital="blood_pressure"]')
        assert old_bp.get_attribute("data-stale") == "true"
        assert old_bp.locator(".age").inner_text().startswith("? ")
        assert "not current" in old_bp.get_attribute("title")
        assert old.locator(".news2").inner_text().startswith("NEWS2 incomplete: no blood pressure")

        oxi = page.locator(f'section.tile[data-patient="{partial["oxi"]}"]')
        assert oxi.locator(".news2").inner_text() == (
            "NEWS2 incomplete: no respiratory rate, blood pressure, temperature"
        )
        assert oxi.locator('[data-vital="temperature"] .v').inner_text() == "–"
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "vital-ages-ward.png"), full_page=True)

        page.goto(f"{ward.url}/patients/{partial['bp20']}")
        now_bp = page.locator('#now [data-vital="blood_pressure"]')
        now_bp.locator(".age").filter(has_text="min ago").wait_for(timeout=15_000)
        assert now_bp.inner_text().startswith("BP 118/76 mmHg")
        page.screenshot(path=str(SHOTS / "vital-ages-patient.png"))
    finally:
        page.close()
    assert errors == [], f"JavaScript errors: {errors}"
