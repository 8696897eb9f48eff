"""Every user mistake about the servers (unreachable, no such keyspace or topic) gets one
clear `Error: …` line, the right exit code and no traceback, within a bounded time (never a
hang). Argument-only mistakes are checked in-process: tests/unit/test_cli_contract.py."""

from __future__ import annotations

import time

import pytest

from tests.helpers import CASSANDRA_PORT, KAFKA, run_vitals, vitals_env

pytestmark = pytest.mark.services


def vitals(env: dict[str, str], *args: str, timeout: float = 60) -> tuple[int, str, float]:
    t = time.monotonic()
    out = run_vitals(env, *args, timeout=timeout)
    return out.returncode, out.stderr.strip(), time.monotonic() - t


@pytest.fixture
def env(topics, keyspace):
    return vitals_env(topics, keyspace)


@pytest.mark.parametrize(
    ("args", "code", "message", "bound"),
    [
        (
            ["consume", "--bootstrap-servers", "127.0.0.1:1"],
            1,
            "Error: cannot reach Kafka at 127.0.0.1:1 within 10 s; is it running?",
            20,
        ),
        (
            ["produce", "--count", "1", "--bootstrap-servers", "127.0.0.1:1"],
            1,
            "Error: cannot reach Kafka at 127.0.0.1:1 within 10 s; is it running?",
            20,
        ),
        (
            ["consume", "--cassandra-port", "1"],
            1,
            "Error: cannot reach Cassandra at 127.0.0.1:1 (",
            20,
        ),
        (
            ["consume", "--cassandra-hosts", "192.0.2.1"],
            1,  # a black hole: times out
            f"Error: cannot reach Cassandra at 192.0.2.1:{CASSANDRA_PORT} (",
            25,
        ),
        (
            ["consume", "--keyspace", "no_such_keyspace"],
            2,
            f"Error: keyspace 'no_such_keyspace' does not exist in Cassandra at 127.0.0.1:{CASSANDRA_PORT}; "
            "create it with `vitals init`",
            20,
        ),
        (
            ["consume", "--topic", "no.such.topic"],
            2,  # like produce: the name is the user's to fix
            f"Error: topic 'no.such.topic' does not exist on {KAFKA}; "
            "create it with `vitals init --topic no.such.topic` (or check the name)",
            30,
        ),
    ],
)
def test_mistakes_get_one_clear_line(env, args, code, message, bound):
    got, err, took = vitals(env, *args)
    assert got == code, err
    assert message in err.splitlines()[-1], err
    assert "Traceback" not in err
    assert took < bound, f"took {took:.1f} s"


def test_debug_shows_the_traceback(env):
    got, err, _ = vitals(env, "--debug", "consume", "--keyspace", "no_such_keyspace")
    assert got != 0 and "Traceback" in err
