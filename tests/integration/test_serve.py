"""`vitals serve` as a user runs it: a real process on a real port, against the real services."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.helpers import VitalsProcess, vitals_env, wait_until

pytestmark = pytest.mark.services

READY = "vitals central station on "


@pytest.fixture
def serve(topics, keyspace):
    started: list[VitalsProcess] = []

    def start(*args: str) -> tuple[VitalsProcess, str]:
        p = VitalsProcess(["serve", "--port", "0", *args], vitals_env(topics, keyspace))
        started.append(p)
        p.wait_for(READY, timeout=60)
        line = next(ln for ln in p.err if READY in ln)
        return p, re.search(r"(http://\S+?)/ ", line).group(1)

    yield start
    for p in started:
        assert p.stop() == 0, p.text()


def test_access_log_logs_every_request(serve):
    p, url = serve("--access-log")
    assert httpx.get(f"{url}/api/health", timeout=30).status_code == 200
    assert httpx.get(f"{url}/no/such/page", timeout=30).status_code == 404
    wait_until(lambda: len([ln for ln in p.out if '"GET ' in ln]) >= 2, 10, "two access lines")
    lines = [ln for ln in p.out if '"GET ' in ln]
    assert '"GET /api/health HTTP/1.1" 200' in lines[0]
    assert '"GET /no/such/page HTTP/1.1" 404' in lines[1]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} 127\.0\.0\.1:\d+ ", lines[0]), lines[0]


def test_without_access_log_no_request_is_logged(serve):
    p, url = serve()
    assert httpx.get(f"{url}/api/health", timeout=30).status_code == 200
    p.stop()
    assert not [ln for ln in p.out + p.err if '"GET ' in ln], p.text()


def test_serve_says_it_is_starting_before_it_listens(serve):
    p, _ = serve()
    starting = next(i for i, ln in enumerate(p.err) if "vitals serve: starting" in ln)
    ready = next(i for i, ln in enumerate(p.err) if READY in ln)
    assert starting < ready
    assert "connecting to Cassandra at 127.0.0.1:" in p.err[starting]
