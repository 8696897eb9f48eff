"""A census of 50 patients whose ids are 64 characters long (the longest an id may be):
on a phone (390 px) and a laptop (1280 px) nothing on the ward or patient page is cut off,
runs out of its panel or widens the page. Through the real pipeline
(``tests.integration.browser.ward``), in headless Chromium. Screenshots:
``.screenshots/crowd-*.png``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import wait_until
from tests.integration.browser import SHOTS, browser, ward  # noqa: F401 (fixtures)
from vitals.readings import MAX_PATIENT_ID, Reading

pytestmark = pytest.mark.services

CROWD = 50
ALERTING = 5  # the first patients of the crowd have alerts (alert rows on their tiles)
LONG_WARD = "CARDIOTHORACICINTENSIVECAREUNIT" * 2  # 62 letters: a patient's ward on the list


@pytest.fixture(scope="module")
def crowd(ward, session):  # noqa: F811
    """50 more patients of the ward, ids of 64 characters with no place to break a line."""
    now = datetime.now(UTC)
    ids = []
    for n in range(CROWD):
        head = f"{ward.prefix}-{n:02d}"
        ids.append(head + uuid.uuid4().hex.upper().ljust(64, "X")[: MAX_PATIENT_ID - len(head)])
    readings = [
        Reading(p, now - timedelta(seconds=s), 70 + n % 20, 97, 118, 76, 16, 36.9)
        for s in (60, 30)
        for n, p in enumerate(ids)
    ]
    readings += [Reading(p, now, 128, 84, 95, 60, 26, 38.4) for p in ids[:ALERTING]]
    # listed under a ward named by its 62 letters before the first digit (vitals.census.group_of)
    readings.append(Reading(LONG_WARD + "01", now, 72, 97, 121, 76, 16, 36.9))
    ward.send(readings)
    active = session.prepare("SELECT rule FROM active_alerts WHERE patient_id = ?")
    latest = session.prepare("SELECT timestamp FROM patient_latest WHERE patient_id = ?")
    for p in ids[:ALERTING]:
        wait_until(lambda p=p: session.execute(active, (p,)).one(), 60, f"an alert of {p}")
    for p in [*ids, LONG_WARD + "01"]:
        wait_until(lambda p=p: session.execute(latest, (p,)).one(), 60, f"{p}'s reading stored")
    assert all(len(p) == MAX_PATIENT_ID for p in ids)
    return ids


# Every visible element that runs out of the window or out of its panel (a tile, the
# header, the patient summary), and every text cut short by its box (overflow hidden).
CUT_JS = """() => {
  const out = [];
  const W = window.innerWidth;
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
    (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : '');
  for (const box of document.querySelectorAll('header.bar, section.tile, .chart, main.patient > section, .ranges, #tiles.wardlist')) {
    const b = box.getBoundingClientRect();
    for (const e of box.querySelectorAll('*')) {
      const r = e.getBoundingClientRect();
      if (!r.width || !r.height || getComputedStyle(e).visibility === 'hidden') continue;
      if (r.right > Math.min(W, b.right) + 1 || r.left < Math.max(0, b.left) - 1)
        out.push(`${name(e)} "${e.textContent.slice(0, 30)}" ${Math.round(r.left)}..${Math.round(r.right)} px outside ${name(box)} ${Math.round(b.left)}..${Math.round(b.right)}`);
      const st = getComputedStyle(e);
      if (st.overflowX !== 'visible' && e.scrollWidth > e.clientWidth + 1 && !e.matches('.scroll-x'))
        out.push(`${name(e)} "${e.textContent.slice(0, 30)}" cut: ${e.scrollWidth} px in ${e.clientWidth} px`);
    }
  }
  return { window: W, document: document.documentElement.scrollWidth, problems: out };
}"""


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


@pytest.mark.parametrize("width", [390, 1280])
def test_a_ward_of_50_long_ids_fits_the_screen(page, ward, crowd, width):  # noqa: F811
    p = page(width)
    p.goto(f"{ward.url}/?prefix={ward.prefix}")
    p.wait_for_function(
        "n => document.getElementById('counts').dataset.patients === String(n)",
        arg=len(ward.patients) + CROWD,
        timeout=30_000,
    )
    p.wait_for_selector(f'section.tile[data-patient="{crowd[0]}"] li.alert', timeout=15_000)
    SHOTS.mkdir(exist_ok=True)
    p.screenshot(path=str(SHOTS / f"crowd-ward-{width}.png"))
    got = p.evaluate(CUT_JS)
    assert got["document"] <= got["window"], got
    assert got["problems"] == []


@pytest.mark.parametrize("width", [390, 1280])
def test_a_long_ids_patient_page_fits_the_screen(page, ward, crowd, width):  # noqa: F811
    p = page(width)
    p.goto(f"{ward.url}/patients/{crowd[0]}")
    p.wait_for_selector("#now li.alert", timeout=15_000)
    p.wait_for_selector(".chart canvas", timeout=15_000)
    SHOTS.mkdir(exist_ok=True)
    p.screenshot(path=str(SHOTS / f"crowd-patient-{width}.png"), full_page=True)
    got = p.evaluate(CUT_JS)
    assert got["document"] <= got["window"], got
    assert got["problems"] == []


@pytest.mark.parametrize("width", [390, 1280])
def test_the_ward_list_of_a_long_ward_name_fits_the_screen(page, ward, crowd, width):  # noqa: F811
    p = page(width)
    p.goto(f"{ward.url}/")
    p.locator(f'#tiles.wardlist tr[data-ward="{LONG_WARD}"]').wait_for(timeout=30_000)
    SHOTS.mkdir(exist_ok=True)
    p.screenshot(path=str(SHOTS / f"crowd-wards-{width}.png"), full_page=True)
    got = p.evaluate(CUT_JS)
    assert got["document"] <= got["window"], got
    assert got["problems"] == []
