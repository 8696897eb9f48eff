"""Alarm sound of the ward page (IEC 60601-1-8 priority patterns, audio paused), in Chromium.

Alerts come through the real pipeline (Kafka -> consumer -> Cassandra -> board). The page's
AudioContext is instrumented: every oscillator start (one per pulse) is recorded with its
audio time, so the pattern heard is checked, not only the page's word for it. The
2-minute pause runs on playwright's fake page clock, not on real waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import wait_until
from tests.integration.browser import SHOTS, browser, normal, ward  # noqa: F401 (fixtures)
from vitals.readings import Reading

pytestmark = pytest.mark.services

HIGH_PULSES_MS = [0, 250, 500, 1000, 1250, 2100, 2350, 2600, 3100, 3350]  # IEC 60601-1-8

# Record each pulse the page schedules: its start in audio time (s), its frequency (Hz), and
# whether it was stopped at once (silenced before its end).
INSTRUMENT_JS = """(() => {
  const Real = window.AudioContext;
  window.__pulses = [];
  window.AudioContext = class extends Real {
    createOscillator() {
      const o = super.createOscillator();
      const start = o.start.bind(o);
      const stop = o.stop.bind(o);
      const pulse = { when: 0, hz: 0, stoppedNow: false };
      o.start = (when) => {
        Object.assign(pulse, { when, hz: o.frequency.value });
        window.__pulses.push(pulse);
        return start(when);
      };
      o.stop = (when) => {
        if (when === undefined) pulse.stoppedNow = true;
        return stop(when);
      };
      return o;
    }
  };
})();"""


def admit(ward, session, tag: str) -> str:  # noqa: F811
    """A new patient of the ward with one normal reading 2 min ago (stored): their tile."""
    pid = f"{ward.prefix}-{tag}"
    ward.send([normal(pid, datetime.now(UTC) - timedelta(minutes=2))])
    latest = session.prepare("SELECT timestamp FROM patient_latest WHERE patient_id = ?")
    wait_until(lambda: session.execute(latest, (pid,)).one(), 60, f"{pid} stored")
    return pid


def desaturate(ward, pid: str) -> None:  # noqa: F811
    """SpO2 84 % for the last 60 s (a reading every 10 s, event time): low_spo2 raises a
    HIGH priority alert whatever its delay (`for: 30s` in the default rules)."""
    now = datetime.now(UTC)
    ward.send(
        [
            Reading(pid, now - timedelta(seconds=s), 128, 84, 95, 60, 26, 38.4)
            for s in range(60, -1, -10)
        ]
    )


@pytest.fixture
def page(browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(INSTRUMENT_JS)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def state(page) -> dict:
    return page.evaluate("vitalsAlarm.state()")


def wait_state(page, condition: str, timeout: float = 30_000) -> dict:
    """Wait until ``condition`` (JS, over ``s`` = the page's alarm state) holds."""
    page.wait_for_function(
        f"() => {{ const s = vitalsAlarm.state(); return {condition}; }}", timeout=timeout
    )
    return state(page)


def open_board(page, ward, station: str) -> None:  # noqa: F811
    page.goto(f"{ward.url}/?prefix={station}")
    page.locator(f'section.tile[data-patient="{station}"]').wait_for(timeout=15_000)


def enable_sound(page) -> None:
    page.click("#sound-enable")
    wait_state(page, "s.enabled")
    assert page.locator("#sound-enable").is_hidden()


def test_sound_is_off_and_says_so_until_a_user_gesture(page, ward):  # noqa: F811
    open_board(page, ward, ward.patients[0])
    s = state(page)
    assert (s["enabled"], s["playing"]) == (False, None)
    assert s["contextState"] == "suspended"
    assert page.locator("#sound-enable").is_visible()
    assert "click to enable alarm sound" in page.locator("#sound-enable").inner_text()
    assert page.get_attribute("#sound", "data-state") == "off"
    assert page.evaluate("window.__pulses.length") == 0

    enable_sound(page)
    assert page.get_attribute("#sound", "data-state") == "on"
    assert page.locator("#sound-status").inner_text() == "Alarm sound on"


def test_a_new_high_alert_sounds_the_high_pattern_until_acknowledged(page, ward, session):  # noqa: F811
    pid = admit(ward, session, "S1")
    open_board(page, ward, pid)
    enable_sound(page)
    assert state(page)["playing"] is None

    desaturate(ward, pid)
    s = wait_state(page, "s.playing === 'high'")
    assert page.get_attribute("#sound", "data-state") == "sounding"
    assert "HIGH priority" in page.locator("#sound-status").inner_text()
    assert [b["pulses"] for b in s["bursts"]] == [HIGH_PULSES_MS]
    pulses = page.evaluate("window.__pulses")
    assert len(pulses) == 10
    offsets = [round((p["when"] - pulses[0]["when"]) * 1000) for p in pulses]
    assert offsets == HIGH_PULSES_MS
    assert all(150 <= p["hz"] <= 1000 for p in pulses)
    # announced to screen readers
    assert f"New HIGH alarm: {pid}" in page.locator("#announce").inner_text()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "alarm-sounding.png"))

    # acknowledge from the keyboard, the sickest alert first (A opens it, Enter confirms):
    # the reading raised several alerts; the sound lasts while one is unacknowledged
    raised = s["alerts"]
    assert raised >= 1
    for left in range(raised - 1, -1, -1):
        assert state(page)["playing"] is not None
        page.keyboard.press("a")
        page.fill("#ack-name", "Nurse Kim")
        page.press("#ack-name", "Enter")
        wait_state(page, f"s.alerts === {left}")
    s = wait_state(page, "s.playing === null && s.wanted === null")
    assert s["enabled"]
    assert page.get_attribute("#sound", "data-state") == "on"


def test_pause_silences_for_two_minutes_is_stored_and_ends_on_time(page, ward, session):  # noqa: F811
    pid = admit(ward, session, "S2")
    page.clock.install()
    open_board(page, ward, pid)
    page.evaluate("localStorage.setItem('vitals.name', 'Nurse Lee')")
    enable_sound(page)
    desaturate(ward, pid)
    wait_state(page, "s.playing === 'high'")

    # from here the page's clock moves only when the test says so
    page.clock.pause_at(page.evaluate("Date.now()") + 1_000)
    page.keyboard.press("p")
    s = wait_state(page, "s.paused && s.playing === null")
    # not one more pulse of the burst under way: each one due after the pause was cancelled
    audio_now, pulses = page.evaluate("[vitalsAlarm.audioTime(), window.__pulses]")
    assert [p for p in pulses if p["when"] > audio_now and not p["stoppedNow"]] == []
    assert (s["pauseRemainingS"], s["pausedBy"]) == (120, "Nurse Lee")
    assert page.locator("#sound-status").inner_text() == "Audio paused 2:00 (Nurse Lee)"
    assert page.get_attribute("#audio-pause", "aria-pressed") == "true"
    row = session.execute(
        "SELECT paused_at, until, paused_by, action FROM alarm_audio_pauses WHERE station = %s",
        (f"ward:{pid}",),
    ).one()
    assert (row.paused_by, row.action) == ("Nurse Lee", "paused")
    assert (row.until - row.paused_at).total_seconds() == 120
    bursts = len(s["bursts"])

    # the countdown shows whole seconds left, rounded up; the page ticks every 100 ms
    page.clock.run_for(119_100)
    s = state(page)
    assert (s["paused"], s["playing"], s["pauseRemainingS"]) == (True, None, 1)
    assert page.locator("#sound-status").inner_text() == "Audio paused 0:01 (Nurse Lee)"
    assert len(s["bursts"]) == bursts  # silent for the whole pause

    page.clock.run_for(800)  # 119.9 s
    assert state(page)["paused"]

    page.clock.run_for(200)  # 120.1 s: ended on time, to the tick
    s = state(page)
    assert (s["paused"], s["playing"]) == (False, "high")
    assert len(s["bursts"]) == bursts + 1
    assert s["bursts"][-1]["pulses"] == HIGH_PULSES_MS


def test_a_high_alert_raised_during_a_pause_is_never_silent(page, ward, session):  # noqa: F811
    pid = admit(ward, session, "S3")
    open_board(page, ward, pid)
    enable_sound(page)
    page.click("#audio-pause")
    wait_state(page, "s.paused")

    desaturate(ward, pid)
    s = wait_state(page, "s.playing === 'high'")
    assert s["paused"]  # the pause still covers what was active before it, not this alarm
    assert page.get_attribute("#sound", "data-state") == "paused"


def test_resume_ends_a_pause_and_is_stored(page, ward, session):  # noqa: F811
    pid = ward.patients[3]
    open_board(page, ward, pid)
    page.click("#audio-pause")
    wait_state(page, "s.paused")
    page.click("#audio-pause")  # now "Resume audio"
    wait_state(page, "!s.paused")
    rows = list(
        session.execute(
            "SELECT action, paused_at, until FROM alarm_audio_pauses WHERE station = %s",
            (f"ward:{pid}",),
        )
    )
    assert [r.action for r in rows] == ["resumed", "paused"]  # newest first
    assert rows[0].until == rows[0].paused_at
    current = page.evaluate(
        "s => fetch('/api/audio/pause?station=' + encodeURIComponent(s)).then(r => r.json())", pid
    )
    assert current == {"station": pid, "pause": None}


def test_a_pause_reaches_every_screen_of_the_ward_within_5_s(page, browser, ward, session):  # noqa: F811
    pid = admit(ward, session, "S5")
    other = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        wall = other.new_page()
        open_board(page, ward, pid)
        open_board(wall, ward, pid)
        page.evaluate("localStorage.setItem('vitals.name', 'Nurse Kim')")
        page.keyboard.press("p")
        wait_state(page, "s.paused")
        s = wait_state(wall, "s.paused", timeout=5_000 + 2_000)  # refresh every 5 s, + a read
        assert s["pausedBy"] == "Nurse Kim"
        assert "Audio paused" in wall.locator("#sound-status").inner_text()
    finally:
        other.close()
