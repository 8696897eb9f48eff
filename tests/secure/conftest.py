"""A private secured Kafka + Cassandra (`services.py up --secure`) on other ports, with its
own state (`VITALS_SERVICES_DIR`), started once for these tests and purged afterwards.

Kafka speaks only SASL_SSL (SCRAM-SHA-512) and Cassandra only TLS with passwords, from
a CA generated at start; the shared stack on 9092/9042 is never touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from tests.helpers import ROOT

PORTS = {
    "KAFKA_PORT": "19792",
    "KAFKA_CONTROLLER_PORT": "19793",
    "CASSANDRA_PORT": "19742",
    "CASSANDRA_STORAGE_PORT": "17700",
    "CASSANDRA_JMX_PORT": "17799",
}
STATE = ROOT / ".services" / "secure-tests"


def services(*args: str, timeout: float = 300) -> str:
    """Run the launcher against the secured test stack; returns its standard output."""
    env = {**os.environ, **PORTS, "VITALS_SERVICES_DIR": str(STATE)}
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "services.py"), *args],
        env=env,
        timeout=timeout,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, f"services {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="session")
def secure_stack() -> Iterator[dict[str, str]]:
    """Start the secured stack; yield the VITALS_* variables of `services.py env`."""
    services("up", "--secure")
    exports = {}
    for line in services("env").splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        exports[key] = value
    yield exports
    services("down", "--purge")


@pytest.fixture
def senv(secure_stack: dict[str, str]) -> dict[str, str]:
    """Environment of a `vitals` subprocess: the secured stack, this test's own names."""
    tag = uuid.uuid4().hex[:10]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALS_")}
    env.update(secure_stack)
    env.update(
        VITALS_KEYSPACE=f"s_{tag}",
        VITALS_TOPIC=f"s.{tag}.vitals",
        VITALS_ALERTS_TOPIC=f"s.{tag}.alerts",
        VITALS_DLQ_TOPIC=f"s.{tag}.dlq",
        VITALS_GROUP=f"sg.{tag}",
        VITALS_TELEMETRY_TIMEOUT="0",
        VITALS_RULES=str(ROOT / "tests" / "rules_immediate.yaml"),  # one reading raises
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
    )
    return env
