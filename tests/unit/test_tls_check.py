"""vitals/tls_check.py on local sockets: what it must not blame on TLS or a password.

The positive diagnoses (untrusted certificate, plain text at a TLS port, wrong SCRAM
password) need real TLS servers: tests/secure runs them against Kafka and Cassandra.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from vitals.config import KafkaSettings
from vitals.tls_check import _split, kafka_problem, tls_problem

KW = {"cafile": None, "service": "Kafka", "ca_option": "--ca", "protocol_hint": "hint"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def closing_server() -> Iterator[int]:
    """A plain-text server that reads a little and hangs up (neither TLS nor Kafka)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    conn.recv(1024)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(5)
    srv.close()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:19092", ("127.0.0.1", 19092)),
        ("kafka", ("kafka", 9092)),
        ("[::1]:9094", ("::1", 9094)),
    ],
)
def test_bootstrap_addresses_are_split_into_host_and_port(address, expected):
    assert _split(address, 9092) == expected


@pytest.mark.parametrize("tls", [True, False])
def test_nothing_listening_is_left_to_the_callers_is_it_running(tls):
    assert tls_problem("127.0.0.1", free_port(), tls=tls, **KW) is None


def test_a_plain_text_client_at_a_plain_text_port_is_not_blamed(closing_server):
    assert tls_problem("127.0.0.1", closing_server, tls=False, **KW) is None


def test_a_tls_client_at_a_plain_text_port_is_told_so(closing_server):
    problem = tls_problem("127.0.0.1", closing_server, tls=True, timeout=2, **KW)
    assert problem is not None
    assert problem.startswith(
        f"Kafka at 127.0.0.1:{closing_server} did not complete a TLS handshake"
    )
    assert problem.endswith("is it a plain-text port? hint")


def test_an_unreadable_ca_file_is_named(closing_server, tmp_path):
    missing = tmp_path / "no-such-ca.crt"
    kw = {**KW, "cafile": str(missing)}
    problem = tls_problem("127.0.0.1", closing_server, tls=True, **kw)
    assert problem is not None and problem.startswith(f"cannot read the CA file {missing}")


def test_no_sasl_login_is_blamed_when_nothing_listens():
    settings = KafkaSettings(
        bootstrap_servers=(f"127.0.0.1:{free_port()}",),
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="vitals",
        sasl_password="secret",
    )
    assert kafka_problem(settings) is None
    assert "is it running?" in str(settings.unreachable())
