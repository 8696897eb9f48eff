"""Support for the browser tests: headless Debian chromium, and a small ward fed through the
real pipeline (Kafka -> consumer -> Cassandra -> web server) for a whole test module.

Needs /usr/bin/chromium (`tools/ensure_chromium.sh`). Screenshots go to `.screenshots/`
(ignored by git). As in a real browser, a page's AudioContext stays suspended until a user
gesture (a playwright click or key press is one).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from tests.helpers import KAFKA, ROOT, RUNNING, Topics, VitalsProcess, start_consumer, wait_until
from vitals.admin import TopicSpec, create_topics
from vitals.producer import VitalsProducer
from vitals.readings import Reading
from vitals.web.app import WebSettings, create_app
from vitals.web.server import BackgroundServer

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / ".screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTHS = (390, 768, 1280, 1920, 2560)  # phone, tablet, laptop, central station, wall display

# Geometry of the page as the browser laid it out (CSS px). Panels are the ward's tiles and
# the patient page's charts; ``text_overflow`` lists value cells whose text is wider than
# the cell (e.g. a blood pressure running into the next vital); ``scrolled_boxes`` the
# boxes that scroll sideways inside the page (the alert history table).
GEOMETRY_JS = """() => {
  const panels = [...document.querySelectorAll('section.tile, .chart')];
  const box = (e) => e.getBoundingClientRect();
  const canvasOutside = [];
  for (const p of panels) {
    const r = box(p);
    for (const c of p.querySelectorAll('canvas')) {
      const q = box(c);
      if (q.left < r.left - 0.5 || q.right > r.right + 0.5 || q.top < r.top - 0.5 || q.bottom > r.bottom + 0.5)
        canvasOutside.push(`${p.dataset.patient || p.dataset.chart}: canvas ${Math.round(q.width)} px in ${Math.round(r.width)} px`);
    }
  }
  const overlaps = [];
  for (let i = 0; i < panels.length; i++) for (let j = i + 1; j < panels.length; j++) {
    const a = box(panels[i]), b = box(panels[j]);
    if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
      overlaps.push([i, j]);
  }
  const textOverflow = [...document.querySelectorAll('.vital .v')]
    .filter((v) => v.scrollWidth > v.parentElement.clientWidth + 1).map((v) => v.textContent);
  // a box allowed to scroll sideways (the alert history) that has to, on this width
  const scrolledBoxes = [...document.querySelectorAll('.scroll-x')]
    .filter((b) => b.scrollWidth > b.clientWidth + 1).map((b) => `${b.scrollWidth} px in ${b.clientWidth} px`);
  return {
    window: window.innerWidth,
    document: document.documentElement.scrollWidth,
    panels: panels.length,
    canvases: document.querySelectorAll('.tile canvas, .chart canvas').length,
    canvas_outside: canvasOutside,
    overlaps,
    text_overflow: textOverflow,
    scrolled_boxes: scrolledBoxes,
  };
}"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run tools/ensure_chromium.sh (as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


@dataclass
class Ward:
    """A running ward: its web server's URL, its patients, and a way to send readings."""

    url: str
    prefix: str
    patients: list[str]
    topics: Topics
    settings: WebSettings

    def send(self, readings: list[Reading]) -> None:
        with VitalsProducer(kafka=self.settings.kafka, topic=self.topics.vitals) as producer:
            for r in readings:
                producer.send(r)
        assert producer.stats.failed == 0


def normal(pid: str, at: datetime, i: int = 0) -> Reading:
    """An unremarkable reading (NEWS2 0): HR 72-78 bpm, SpO2 97 %, BP 121/76 mmHg."""
    return Reading(pid, at, 72 + i % 7, 97, 121, 76, 16, 36.9)


@pytest.fixture(scope="module")
def ward(kafka_settings, cassandra_settings, keyspace, session) -> Iterator[Ward]:
    """Six patients with ten minutes of history, a consumer and a web server, for the module."""
    tag = uuid.uuid4().hex[:10]
    topics = Topics(f"t.{tag}.vitals", f"t.{tag}.alerts", f"t.{tag}.dlq", f"g.{tag}")
    create_topics(
        kafka_settings,
        [TopicSpec(topics.vitals, 3), TopicSpec(topics.alerts, 1), TopicSpec(topics.dlq, 1)],
    )
    consumer = start_consumer(topics, keyspace)
    RUNNING.remove(consumer)  # lives for the module, not one test (see kill_leftovers)
    prefix = f"W{tag[:4].upper()}"
    patients = [f"{prefix}-{n:02d}" for n in range(1, 7)]
    settings = WebSettings(
        cassandra=replace(cassandra_settings), kafka=kafka_settings, alerts_topic=topics.alerts
    )
    now = datetime.now(UTC)
    w = Ward("", prefix, patients, topics, settings)
    w.send([normal(p, now - timedelta(seconds=s), s) for s in range(600, 0, -15) for p in patients])
    latest = session.prepare("SELECT timestamp FROM patient_latest WHERE patient_id = ?")
    try:
        for p in patients:
            wait_until(lambda p=p: session.execute(latest, (p,)).one(), 60, f"{p}'s history stored")
    except TimeoutError as e:
        _stop(consumer)
        raise TimeoutError(f"{e}; consumer output:\n{consumer.text()[-3000:]}") from None
    try:
        with BackgroundServer(create_app(settings)) as url:
            w.url = url
            yield w
    finally:
        _stop(consumer)
        admin = KafkaAdminClient(bootstrap_servers=KAFKA)
        try:
            admin.delete_topics([topics.vitals, topics.alerts, topics.dlq])
        except Exception:
            pass
        finally:
            admin.close()


def _stop(consumer: VitalsProcess) -> None:
    RUNNING.append(consumer)
    assert consumer.stop() == 0, consumer.text()
