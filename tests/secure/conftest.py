"""A private secured Kafka + Cassandra (a ``tools.stack.Stack(secure=True)`` driven
in-process) on other ports, with its own state directory, started once for these tests
and purged afterwards.

Kafka speaks only SASL_SSL (SCRAM-SHA-512) and Cassandra only TLS with passwords, from
a CA generated at start; the shared stack on 9092/9042 is never touched.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.helpers import ROOT
from tools.stack import Ports, Stack

STACK = Stack(
    dir=ROOT / ".services" / "secure-tests",
    ports=Ports(19792, 19793, 19742, 17700, 17799),  # Kafka, its controller, CQL, storage, JMX
    secure=True,
)


@pytest.fixture(scope="session")
def secure_stack() -> Iterator[dict[str, str]]:
    """Start the secured stack; yield the VITALS_* variables of `services.py env`."""
    STACK.up()
    yield STACK.client_env()
    STACK.down(purge=True)


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
