"""A viewer's ward page offers no alarm action and sends none: its keyboard shortcuts (P
pause/resume alarm audio, A acknowledge the sickest alert) send no request and say that a
clinician is needed; a clinician's P pauses the audio (the control that proves the test
sees a request). Web server in-process with users and roles, the alarm stored in the real
Cassandra, headless Chromium at 390 and 1280 px.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.integration.browser import SHOTS, browser  # noqa: F401 (fixture)
from vitals.web.app import WebSettings, create_app
from vitals.web.auth import Authenticator, hash_password
from vitals.web.server import BackgroundServer

pytestmark = pytest.mark.services

PASSWORD = "correct-horse-battery"
VIEWER, CLINICIAN = "vic", "cleo"


@pytest.fixture(scope="module")
def server(kafka_settings, cassandra_settings) -> Iterator[str]:
    settings = WebSettings(cassandra=replace(cassandra_settings), kafka=kafka_settings)
    hashed = hash_password(PASSWORD)
    auth = Authenticator(
        users={VIEWER: hashed, CLINICIAN: hashed},
        roles={CLINICIAN: "clinician"},  # the viewer has no role: the default
    )
    with BackgroundServer(create_app(settings, auth)) as url:
        yield url


@pytest.fixture
def alarm(session) -> str:
    """A patient (unique to the test) with a reading and an active high-priority alarm."""
    pid = f"K{uuid.uuid4().hex[:8].upper()}"
    now = datetime.now(UTC).replace(microsecond=0)
    session.execute(
        "INSERT INTO patient_vitals (patient_id, day, timestamp, heart_rate, spo2) "
        "VALUES (%s, %s, %s, 96, 85)",
        (pid, now.date(), now),
    )
    session.execute(
        "INSERT INTO patient_latest (patient_id, timestamp, heart_rate, spo2) "
        "VALUES (%s, %s, 96, 85)",
        (pid, now),
    )
    session.execute(
        "INSERT INTO active_alerts (patient_id, rule, severity, message, value, raised_at) "
        "VALUES (%s, 'low_spo2', 'high', 'Low SpO2: 85', 85, %s)",
        (pid, now),
    )
    return pid


@pytest.fixture
def signed_in(browser):  # noqa: F811
    """``open(user, width, url)``: a page signed in as ``user``; its requests other than
    GET are recorded in ``page.sent`` as ``"POST /api/…"``."""
    contexts = []
    errors: list[str] = []

    def open_(user: str, width: int, url: str):
        c = browser.new_context(
            viewport={"width": width, "height": 900},
            http_credentials={"username": user, "password": PASSWORD},
        )
        contexts.append(c)
        page = c.new_page()
        page.sent = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "request",
            lambda r: (
                r.method != "GET"
                and page.sent.append(f"{r.method} {r.url.split('/', 3)[3].split('?')[0]}")
            ),
        )
        page.goto(url)
        page.wait_for_selector("section.tile li.alert[data-rule='low_spo2']", timeout=30_000)
        return page

    yield open_
    for c in contexts:
        c.close()
    assert errors == [], f"JavaScript errors: {errors}"


def sent_after(page, action) -> list[str]:
    """The requests other than GET that ``action`` made: once a marker request made after
    it has gone out, any request it made has gone out too (a page sends in order)."""
    marker = f"api/health?marker={uuid.uuid4().hex}"
    before = len(page.sent)
    action()
    with page.expect_request(lambda r: marker in r.url, timeout=10_000):
        page.evaluate("(m) => fetch('/' + m)", marker)
    return page.sent[before:]


@pytest.mark.parametrize("width", [390, 1280])
def test_a_viewers_keys_send_nothing_and_say_a_clinician_is_needed(signed_in, server, alarm, width):
    page = signed_in(VIEWER, width, f"{server}/?prefix={alarm}")
    assert page.evaluate("document.body.dataset.role") == "viewer"
    announce = page.locator("#announce")

    assert sent_after(page, lambda: page.keyboard.press("p")) == []
    assert announce.inner_text() == (
        "Only a clinician may pause alarm audio: you are signed in as a viewer."
    )
    assert page.evaluate("vitalsAlarm.state().paused") is False

    assert sent_after(page, lambda: page.keyboard.press("a")) == []
    assert announce.inner_text() == (
        "Only a clinician may acknowledge alarms: you are signed in as a viewer."
    )
    assert page.locator("dialog[open]").count() == 0
    # nothing on the page offers what the keys refuse
    assert page.locator("button.ack").count() == 0
    assert not page.locator("#audio-pause").is_visible()
    assert not page.locator(".keys").is_visible()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"viewer-keys-{width}.png"))


@pytest.mark.parametrize("width", [390, 1280])
def test_a_viewers_patient_page_offers_no_action(signed_in, server, alarm, width):
    page = signed_in(VIEWER, width, f"{server}/?prefix={alarm}")
    page.goto(f"{server}/patients/{alarm}")
    page.wait_for_selector("#now li.alert[data-rule='low_spo2']", timeout=30_000)
    assert sent_after(page, lambda: (page.keyboard.press("a"), page.keyboard.press("p"))) == []
    buttons = page.locator("button:visible").all_inner_texts()
    assert sorted(buttons) == ["1 h", "24 h", "8 h", "Show range"]


def test_a_clinicians_p_pauses_the_alarm_audio(signed_in, server, alarm):
    page = signed_in(CLINICIAN, 1280, f"{server}/?prefix={alarm}")
    page.wait_for_function("() => document.body.dataset.role === 'clinician'")
    assert sent_after(page, lambda: page.keyboard.press("p")) == ["POST api/audio/pause"]
    page.wait_for_function("() => vitalsAlarm.state().paused", timeout=10_000)
    assert page.locator("#audio-pause").inner_text() == "Resume audio"
