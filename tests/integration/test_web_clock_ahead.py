"""A reading dated more than 30 s after the server's clock (a bedside clock running
ahead): the ward tile's badge says ``○ CLOCK AHEAD`` and each of its vitals ``? clock
ahead`` (its age is unknown), never an age, "STALE" or "older than its window"; the patient
page says the same. Through the real pipeline (``tests.integration.browser.ward``), in
headless Chromium on a phone (390 px) and a laptop (1280 px).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import wait_until
from tests.integration.browser import SHOTS, browser, ward  # noqa: F401 (fixtures)
from vitals.readings import Reading

pytestmark = pytest.mark.services

AHEAD = timedelta(minutes=10)  # well past the 30 s allowed, and longer than this module runs


@pytest.fixture(scope="module")
def ahead(ward, session):  # noqa: F811
    """A patient of the ward whose monitor's clock runs 10 minutes ahead."""
    pid = f"{ward.prefix}-AHEAD"
    at = (datetime.now(UTC) + AHEAD).replace(microsecond=0)
    ward.send([Reading(pid, at, 74, 97, 122, 78, 16, 36.8)])
    latest = session.prepare("SELECT timestamp FROM patient_latest WHERE patient_id = ?")
    wait_until(lambda: session.execute(latest, (pid,)).one(), 60, f"{pid}'s reading stored")
    return pid


@pytest.fixture
def page(browser):  # noqa: F811
    pages = []
    errors: list[str] = []

    def make(width: int):
        p = browser.new_page(viewport={"width": width, "height": 900})
        p.on("pageerror", lambda e: errors.append(str(e)))
        pages.append(p)
        return p

    yield make
    for p in pages:
        p.close()
    assert errors == [], f"JavaScript errors: {errors}"


VITALS = ("heart_rate", "spo2", "blood_pressure", "respiratory_rate", "temperature")

# Each vital cell's age note, tooltip, and whether the note is cut off in its cell
CELLS_JS = """(root) => [...root.querySelectorAll('[data-vital]')].map((c) => {
  const a = c.querySelector('.age');
  return { vital: c.dataset.vital, note: a.textContent, title: c.title,
           stale: c.dataset.stale, cut: a.scrollWidth > a.clientWidth + 1 };
})"""


def assert_every_vital_says_clock_ahead(cells: list[dict]) -> None:
    assert [c["vital"] for c in cells] == list(VITALS)
    for c in cells:
        assert (c["note"], c["stale"], c["cut"]) == ("? clock ahead", "true", False), c
        assert c["title"].endswith("min ahead of the server's clock: not current"), c
        assert "ago" not in c["title"] and "window" not in c["title"], c


@pytest.mark.parametrize("width", [390, 1280])
def test_a_tile_says_clock_ahead_not_an_age(page, ward, ahead, width):  # noqa: F811
    p = page(width)
    p.goto(f"{ward.url}/?prefix={ward.prefix}")
    tile = p.locator(f'section.tile[data-patient="{ahead}"]')
    tile.locator(".badge").filter(has_text="CLOCK AHEAD").wait_for(timeout=15_000)
    SHOTS.mkdir(exist_ok=True)
    tile.screenshot(path=str(SHOTS / f"clock-ahead-tile-{width}.png"))
    assert tile.locator(".badge").inner_text() == "○ CLOCK AHEAD"
    when = tile.locator(".when").inner_text()
    assert when.startswith("CLOCK AHEAD: last reading dated "), when
    assert "min ahead of the server's clock · " in when and "STALE" not in when, when
    assert_every_vital_says_clock_ahead(tile.evaluate(CELLS_JS))


@pytest.mark.parametrize("width", [390, 1280])
def test_the_patient_page_says_clock_ahead_not_an_age(page, ward, ahead, width):  # noqa: F811
    p = page(width)
    p.goto(f"{ward.url}/patients/{ahead}")
    now = p.locator("#now")
    now.locator(".badge").filter(has_text="CLOCK AHEAD").wait_for(timeout=15_000)
    SHOTS.mkdir(exist_ok=True)
    p.screenshot(path=str(SHOTS / f"clock-ahead-patient-{width}.png"), full_page=True)
    assert now.locator(".badge").inner_text() == "○ CLOCK AHEAD"
    when = now.locator(".when").inner_text()
    assert when.endswith("min ahead of the server's clock"), when
    assert_every_vital_says_clock_ahead(now.evaluate(CELLS_JS))
