"""Name the TLS or login mistake behind a connection that failed.

Kafka's client only says that bootstrapping timed out, and Cassandra's driver that a
host could not be reached, whether the cause is a server that is down, a certificate
the client does not trust, a plain-text client at a TLS port, a TLS client at a
plain-text port, or a wrong password. After such a failure, one bounded TLS handshake
(``timeout`` seconds) against the first contact point tells these apart, so that the
``Error:`` line names the setting to change. Nothing here runs on the happy path.
"""

from __future__ import annotations

import socket
import ssl

from vitals.config import KafkaSettings

HANDSHAKE_TIMEOUT_S = 3.0


def _split(address: str, default_port: int) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host:
        return address, default_port
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return address, default_port


def tls_problem(
    host: str,
    port: int,
    *,
    tls: bool,
    cafile: str | None,
    service: str,
    ca_option: str,
    protocol_hint: str,
    timeout: float = HANDSHAKE_TIMEOUT_S,
) -> str | None:
    """What is wrong with TLS between us and ``host:port``, or None if nothing we can see.

    ``tls``: whether the client was configured to use TLS; ``cafile``: the CA file it
    trusts (None: the system's CAs). Returns one sentence naming the cause and the
    option to change (``ca_option``, ``protocol_hint``); None when nothing listens
    there (the caller's "is it running?" then holds) or the handshake went as
    configured. Never raises.
    """
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return None
    with sock:
        sock.settimeout(timeout)
        if tls:
            try:
                context = ssl.create_default_context(cafile=cafile)
            except (OSError, ssl.SSLError) as e:
                return f"cannot read the CA file {cafile} ({e}); {ca_option}"
            try:
                with context.wrap_socket(sock, server_hostname=host):
                    return None
            except ssl.SSLCertVerificationError as e:
                trusted = f"the CA file {cafile}" if cafile else "the system's CAs"
                return (
                    f"the TLS certificate of {service} at {where} is not trusted "
                    f"({e.verify_message}; trusted: {trusted}); {ca_option} must name the CA "
                    "that signed the server's certificate"
                )
            except (OSError, ssl.SSLError) as e:
                return (
                    f"{service} at {where} did not complete a TLS handshake "
                    f"({e.__class__.__name__}: {e}); is it a plain-text port? {protocol_hint}"
                )
        # a plain-text client: does the port answer a TLS handshake?
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.check_hostname = False
        probe.verify_mode = ssl.CERT_NONE
        try:
            with probe.wrap_socket(sock, server_hostname=host):
                return f"{service} at {where} expects TLS but the client spoke plain text; {protocol_hint}"
        except (OSError, ssl.SSLError):
            return None


def kafka_problem(kafka: KafkaSettings) -> str | None:
    """After a bootstrap timeout: the TLS or SASL mistake that explains it, else None."""
    host, port = _split(kafka.bootstrap_servers[0], 9092)
    tls = kafka.security_protocol in ("SSL", "SASL_SSL")
    problem = tls_problem(
        host,
        port,
        tls=tls,
        cafile=kafka.ssl_cafile,
        service="Kafka",
        ca_option="--kafka-ca-file / VITALS_KAFKA_CA_FILE",
        protocol_hint=(
            "check --kafka-security-protocol / VITALS_KAFKA_SECURITY_PROTOCOL "
            "(SSL or SASL_SSL for a TLS listener)"
        ),
    )
    if problem or not kafka.sasl_mechanism:
        return problem
    if not _port_answers(host, port):
        return None
    # The TLS part (if any) went as configured and the port answers, yet bootstrapping
    # failed: the broker closes the connection on a failed SASL login without a reason.
    return (
        f"Kafka at {host}:{port} accepted the connection but not the SASL "
        f"{kafka.sasl_mechanism} login of user {kafka.sasl_username!r} within "
        f"{kafka.request_timeout_s:g} s: most likely a wrong user name or password; check "
        "--kafka-username / VITALS_KAFKA_USERNAME and VITALS_KAFKA_PASSWORD or "
        "--kafka-password-file"
    )


def _port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=HANDSHAKE_TIMEOUT_S):
            return True
    except OSError:
        return False
