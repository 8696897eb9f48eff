"""The central station fits every screen, from a phone to a wall display.

At each width, on the ward and on a patient's page: the page is no wider than the window
(no sideways scrolling), every chart's canvas lies inside its panel, no two panels overlap,
and no value runs into its neighbour. Screenshots: `.screenshots/layout-*.png`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.helpers import wait_until
from tests.integration.browser import (  # noqa: F401 (fixtures)
    GEOMETRY_JS,
    SHOTS,
    WIDTHS,
    browser,
    ward,
)
from vitals.readings import Reading

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def alerting(ward, session):  # noqa: F811
    """The first patient has alerts (tile alert rows, a patient-page history table)."""
    pid = ward.patients[0]
    ward.send([Reading(pid, datetime.now(UTC), 128, 84, 95, 60, 26, 38.4)])
    active = session.prepare("SELECT rule FROM active_alerts WHERE patient_id = ?")
    wait_until(lambda: session.execute(active, (pid,)).one(), 30, f"an alert of {pid} stored")
    return ward


@pytest.fixture
def context(browser):  # noqa: F811
    contexts = []
    errors: list[str] = []

    def make(width: int):
        c = browser.new_context(viewport={"width": width, "height": 900})
        contexts.append(c)
        page = c.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        return page

    yield make
    for c in contexts:
        c.close()
    assert errors == [], f"JavaScript errors: {errors}"


def ward_page(page, ward):  # noqa: F811
    page.goto(f"{ward.url}/?prefix={ward.prefix}")
    page.wait_for_function(
        "n => document.querySelectorAll('section.tile canvas').length >= n",
        arg=len(ward.patients),
        timeout=15_000,
    )
    # the trends of the last 15 min are drawn (more than the one live point)
    page.wait_for_function(
        "() => [...document.querySelectorAll('section.tile')].every(t => t.dataset.trendPoints > 10)",
        timeout=15_000,
    )


def patient_page(page, ward):  # noqa: F811
    page.goto(f"{ward.url}/patients/{ward.patients[0]}")
    page.wait_for_function("() => document.querySelectorAll('.chart canvas').length === 6")
    page.wait_for_function(
        "() => document.getElementById('range-info').textContent.includes('readings')"
    )
    page.locator('#history tr[data-kind="raised"]').first.wait_for()


def fits(g: dict) -> None:
    assert g["document"] <= g["window"], f"page scrolls sideways: {g}"
    assert g["canvas_outside"] == [], g
    assert g["overlaps"] == [], g
    assert g["text_overflow"] == [], g
    assert g["scrolled_boxes"] == [], g


@pytest.mark.parametrize("width", WIDTHS)
def test_ward_fits_the_window(context, alerting, width):
    page = context(width)
    ward_page(page, alerting)
    page.locator(".tile .alert").first.wait_for()
    g = page.evaluate(GEOMETRY_JS)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"layout-ward-{width}.png"), full_page=True)
    assert g["panels"] == len(alerting.patients)
    fits(g)


@pytest.mark.parametrize("width", WIDTHS)
def test_patient_page_fits_the_window(context, alerting, width):
    page = context(width)
    patient_page(page, alerting)
    g = page.evaluate(GEOMETRY_JS)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"layout-patient-{width}.png"), full_page=True)
    assert g["panels"] == 7  # the patient's tile and six charts
    fits(g)


@pytest.mark.parametrize("path", ["ward", "patient"])
def test_charts_follow_the_window_when_it_is_resized(context, alerting, path):
    page = context(1920)
    (ward_page if path == "ward" else patient_page)(page, alerting)
    wide = page.evaluate("document.querySelector('.tile canvas, .chart canvas').clientWidth")
    page.set_viewport_size({"width": 390, "height": 900})
    page.wait_for_function(
        "w => document.querySelector('.tile canvas, .chart canvas').clientWidth < w", arg=wide
    )
    fits(page.evaluate(GEOMETRY_JS))
    page.set_viewport_size({"width": 1920, "height": 900})
    page.wait_for_function(
        "w => document.querySelector('.tile canvas, .chart canvas').clientWidth === w", arg=wide
    )
    fits(page.evaluate(GEOMETRY_JS))


def test_tile_trends_name_their_lines_and_every_vital_has_its_unit(context, ward):  # noqa: F811
    page = context(1280)
    ward_page(page, ward)
    tile = page.locator(f'section.tile[data-patient="{ward.patients[0]}"]')
    assert tile.locator(".trend-legend").inner_text().split("\n") == [
        "HR (bpm)",
        "SpO₂ (%)",
        "last 15 min",
    ]
    units = tile.locator(".vital .k").all_inner_texts()
    assert units == ["HR bpm", "SpO₂ %", "BP mmHg", "RR /min", "Temp °C"]
