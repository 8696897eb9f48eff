"""Cassandra with password authentication, for real: the right password works, a wrong
one gets a clear error, and no password ever appears in the output."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.helpers import ROOT
from tools.stack import Ports, Stack

STACK = Stack(
    dir=ROOT / ".services" / "auth",
    ports=Ports(19492, 19493, 19442, 17400, 17499),  # Kafka, its controller, CQL, storage, JMX
    auth=True,
)
PORTS = {"CASSANDRA_PORT": str(STACK.ports.cassandra)}


@pytest.fixture(scope="module")
def secured() -> Iterator[None]:
    STACK.start("cassandra")
    yield
    STACK.down(purge=True)


def vitals(*args: str, password: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALS_")}
    env.update(VITALS_CASSANDRA_PORT=PORTS["CASSANDRA_PORT"], VITALS_CASSANDRA_USERNAME="cassandra")
    if password is not None:
        env["VITALS_CASSANDRA_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "vitals", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_right_password_is_let_in(secured):
    out = vitals(
        "status", "--bootstrap-servers", "127.0.0.1:1", "--timeout", "3", password="cassandra"
    )
    cassandra_line = next(ln for ln in out.stdout.splitlines() if ln.startswith("Cassandra"))
    # logged in and read the server's version (the keyspace is not created here)
    assert "Cassandra 5.0.6, 1 node(s) up" in cassandra_line, out.stdout + out.stderr


def test_a_wrong_password_gets_a_clear_error_and_is_never_printed(secured):
    secret = "not-the-Pa55word"
    out = vitals("query", "P001", password=secret)
    assert out.returncode == 1
    assert out.stderr.startswith(
        f"Error: Cassandra at 127.0.0.1:{PORTS['CASSANDRA_PORT']} refused the credentials of user "
        "'cassandra'"
    ), out.stderr
    assert "VITALS_CASSANDRA_PASSWORD" in out.stderr
    assert secret not in out.stdout + out.stderr
    assert "Traceback" not in out.stderr


def test_no_password_at_all_is_refused_clearly(secured):
    out = vitals("query", "P001", password=None)
    assert out.returncode == 1
    assert "refused the credentials of user 'cassandra'" in out.stderr, out.stderr
