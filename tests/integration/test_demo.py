"""`make demo` leaves a live ward, not a grey one; `make down` (tools/demo.sh stop) ends it.

Runs tools/demo.sh itself against this test's topics and keyspace, on a free port, with
a board that calls a patient stale after 5 s (instead of 30) so that "still live after
the script returned" is seen in seconds.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import ROOT, vitals_env, wait_until
from tests.integration.browser import SHOTS, browser  # noqa: F401 (fixture)

pytestmark = pytest.mark.services

STALE_AFTER_S = 5
PATIENTS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "tools/demo.sh", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def demo_env(topics, keyspace, tmp_path):
    env = vitals_env(topics, keyspace)
    env.update(
        WEB_PORT=str(free_port()),
        DEMO_DIR=str(tmp_path / "demo"),
        DEMO_PATIENTS=str(PATIENTS),
        DEMO_INTERVAL="1",
        DEMO_WAIT="1",
        VITALS_STALE_AFTER=str(STALE_AFTER_S),
    )
    yield env
    demo(env, "stop")  # whatever the test did, nothing is left running


def test_demo_ward_stays_live_after_the_script_returns_and_stop_ends_it(
    demo_env,
    session,
    browser,  # noqa: F811
):
    started = demo(demo_env, "start")
    assert started.returncode == 0, started.stdout + started.stderr
    url = f"http://127.0.0.1:{demo_env['WEB_PORT']}/"
    assert url in started.stdout
    assert "make down" in started.stdout
    returned = datetime.now(UTC)

    # readings keep arriving after the script returned, past the stale limit
    latest = session.prepare("SELECT timestamp FROM patient_latest WHERE patient_id = ?")
    later = returned + timedelta(seconds=STALE_AFTER_S + 1)

    def newest(pid: str) -> datetime | None:
        row = session.execute(latest, (pid,)).one()
        return row.timestamp.replace(tzinfo=UTC) if row else None

    ids = [f"P{n:03d}" for n in range(1, PATIENTS + 1)]
    wait_until(
        lambda: all((t := newest(p)) and t > later for p in ids),
        STALE_AFTER_S + 30,
        f"readings of {ids} newer than {later.isoformat()}",
    )

    # the board shows them live: no tile stale
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(url)
        page.wait_for_function(
            "n => document.querySelectorAll('section.tile').length === n", arg=PATIENTS
        )
        stale = page.eval_on_selector_all(
            "section.tile", "ts => ts.map(t => t.dataset.stale + ':' + t.dataset.patient)"
        )
        assert sorted(stale) == [f"false:{p}" for p in ids]
        assert page.locator("section.tile .badge.stale").count() == 0
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "demo-live.png"))
    finally:
        page.close()

    # stop: producer, both consumers, the board and the watchdog are gone
    pids = {f.stem: int(f.read_text()) for f in (ROOT / demo_env["DEMO_DIR"]).glob("*.pid")}
    assert set(pids) == {"serve", "consumer-1", "consumer-2", "producer", "watchdog"}
    stopped = demo(demo_env, "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    for name in ("producer", "consumer-1", "consumer-2", "serve"):
        assert re.search(rf"demo: {name} stopped \(pid {pids[name]}\)", stopped.stdout)
    wait_until(lambda: not any(alive(p) for p in pids.values()), 30, f"{pids} to exit")


def test_make_down_stops_the_demo_before_the_servers():
    down = re.search(r"^down:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert down, "no down target in the Makefile"
    recipe = down.group(1).splitlines()
    assert "tools/demo.sh stop" in recipe[0], recipe
