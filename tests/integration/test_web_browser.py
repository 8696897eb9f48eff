"""The central station in headless Chromium, fed by the real pipeline.

Needs Debian's chromium (`tools/ensure_chromium.sh`; see tests/integration/browser.py).
Screenshots go to `.screenshots/`.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import start_consumer, wait_until
from tests.integration.browser import SHOTS, browser  # noqa: F401 (fixture)
from vitals.producer import VitalsProducer
from vitals.readings import Reading
from vitals.web.app import WebSettings, create_app
from vitals.web.server import BackgroundServer

pytestmark = pytest.mark.services

UPDATE_BOUND_S = 2.0  # the bound: a stored reading shows within 2 s


@pytest.fixture
def page(browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def send(kafka_settings, topic: str, readings: list[Reading]) -> None:
    with VitalsProducer(kafka=kafka_settings, topic=topic) as producer:
        for r in readings:
            producer.send(r)
    assert producer.stats.failed == 0


def test_ward_shows_an_alert_live_then_patient_chart_then_acknowledgement(
    page, kafka_settings, cassandra_settings, topics, keyspace, session
):
    SHOTS.mkdir(exist_ok=True)
    tag = uuid.uuid4().hex[:4].upper()
    sick, well = f"B{tag}-01", f"B{tag}-02"
    consumer = start_consumer(topics, keyspace)
    now = datetime.now(UTC)
    history = [
        Reading(pid, now - timedelta(seconds=s), 78 + s % 7, 97 - s % 2, 121, 76, 16, 36.9)
        for s in range(600, 0, -10)
        for pid in (sick, well)
    ]
    send(kafka_settings, topics.vitals, history)
    latest = session.prepare("SELECT spo2 FROM patient_latest WHERE patient_id = ?")
    wait_until(lambda: session.execute(latest, (well,)).one(), 30, "the history to be stored")
    settings = WebSettings(
        cassandra=cassandra_settings, kafka=kafka_settings, alerts_topic=topics.alerts
    )
    with BackgroundServer(create_app(settings)) as url:
        # ward page: one tile per patient
        page.goto(f"{url}/?prefix=B{tag}")
        tile = page.locator(f'section.tile[data-patient="{sick}"]')
        tile.wait_for(timeout=10_000)
        assert page.locator(f'section.tile[data-patient="{well}"]').count() == 1
        assert tile.get_attribute("data-severity") == "none"

        # an abnormal reading through Kafka and the consumer: the tile turns within the bound
        send(
            kafka_settings,
            topics.vitals,
            [Reading(sick, datetime.now(UTC), 128, 84, 95, 60, 26, 38.4)],
        )
        wait_until(
            lambda: (r := session.execute(latest, (sick,)).one()) and r.spo2 == 84, 30, "stored"
        )
        stored = time.monotonic()
        alert = tile.locator('.alert[data-rule="low_spo2"]')
        alert.wait_for(timeout=UPDATE_BOUND_S * 1000)
        shown_after = time.monotonic() - stored
        assert tile.get_attribute("data-severity") == "high"
        assert "HIGH" in tile.locator(".tile-head .badge").inner_text()
        assert "Low SpO2: 84" in alert.inner_text()
        # sickest first
        assert page.locator("section.tile").first.get_attribute("data-patient") == sick
        page.screenshot(path=str(SHOTS / "ward-alert.png"), full_page=True)

        # patient page: charts drawn from the stored readings
        page.goto(f"{url}/patients/{sick}")
        page.locator('.chart[data-chart="Heart rate (bpm)"] canvas').wait_for(timeout=10_000)
        page.wait_for_function(
            "() => document.getElementById('range-info').textContent.includes('readings')"
        )
        info = page.locator("#range-info").inner_text()
        assert int(info.split()[0]) >= 60, info
        assert page.locator(".chart canvas").count() == 6
        page.locator('#history tr[data-kind="raised"]').first.wait_for(timeout=5_000)
        page.screenshot(path=str(SHOTS / "patient.png"), full_page=True)

        # acknowledge from the ward: the alert and the tile show muted on the board
        page.goto(f"{url}/?prefix=B{tag}")
        tile.locator('.alert[data-rule="low_spo2"] button.ack').click()
        page.fill("#ack-name", "Nurse Kim")
        page.fill("#ack-comment", "O2 started")
        page.click("#ack-confirm")
        tile.locator('.alert[data-rule="low_spo2"][data-acked="true"]').wait_for(timeout=5_000)
        assert "ACK Nurse Kim" in tile.locator('.alert[data-rule="low_spo2"]').inner_text()
        page.screenshot(path=str(SHOTS / "ward-acknowledged.png"), full_page=True)
        row = session.execute(
            "SELECT acked_by, comment FROM alert_acks WHERE patient_id = %s AND rule = 'low_spo2'",
            (sick,),
        ).one()
        assert (row.acked_by, row.comment) == ("Nurse Kim", "O2 started")
    assert consumer.stop() == 0
    assert shown_after < UPDATE_BOUND_S
