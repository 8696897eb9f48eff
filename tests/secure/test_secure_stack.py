"""Every vitals command against a secured stack, for real: Kafka SASL_SSL with SCRAM-SHA-512,
Cassandra TLS with password authentication (tests/secure/conftest.py starts it).

The broker and the node accept nothing else (no plain-text listener, ``optional: false``),
so a command that succeeds here spoke TLS and logged in. Each mistake a hospital's
operator can make with these settings gives one ``Error:`` line naming the setting,
within the client's timeout, never a traceback and never the password.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import VitalsProcess, wait_until

# 100-200 s (a secured Kafka and Cassandra start for them): `make test-secure` runs them
pytestmark = pytest.mark.skipif(
    os.environ.get("VITALS_SECURE_TESTS") != "1",
    reason="secured-stack tests: `make test-secure` (sets VITALS_SECURE_TESTS=1)",
)

PATIENTS = ("S001", "S002")
KAFKA_TIMEOUT_S = 10.0  # KafkaSettings.request_timeout_s, the client's bootstrap timeout
DIAGNOSIS_S = 4.0  # at most one bounded TLS handshake (vitals/tls_check.py) on top
STARTUP_S = 30.0  # seven interpreters started at once on a loaded 2-core machine


def vitals(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vitals", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr
    return out.stdout


def cassandra_rows(env: dict[str, str], patient: str) -> list:
    """Rows of one patient, read back over TLS as the vitals role."""
    from vitals.config import CassandraSettings
    from vitals.store import connect

    settings = CassandraSettings(
        port=int(env["VITALS_CASSANDRA_PORT"]),
        keyspace=env["VITALS_KEYSPACE"],
        username=env["VITALS_CASSANDRA_USERNAME"],
        password=Path(env["VITALS_CASSANDRA_PASSWORD_FILE"]).read_text().strip(),
        ssl_cafile=env["VITALS_CASSANDRA_CA_FILE"],
    )
    cluster, session = connect(settings)
    try:
        return list(
            session.execute(
                "SELECT patient_id, heart_rate FROM patient_vitals WHERE patient_id = %s",
                (patient,),
            )
        )
    finally:
        cluster.shutdown()


def alerts_published(env: dict[str, str], rule: str, kind: str = "raised") -> list[dict]:
    """Alert events on the alerts topic until a ``kind`` of ``rule`` arrives (read over SASL_SSL)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        env["VITALS_ALERTS_TOPIC"],
        bootstrap_servers=env["VITALS_BOOTSTRAP_SERVERS"],
        security_protocol="SASL_SSL",
        ssl_cafile=env["VITALS_KAFKA_CA_FILE"],
        sasl_mechanism=env["VITALS_KAFKA_SASL_MECHANISM"],
        sasl_plain_username=env["VITALS_KAFKA_USERNAME"],
        sasl_plain_password=Path(env["VITALS_KAFKA_PASSWORD_FILE"]).read_text().strip(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    events: list[dict] = []
    try:
        deadline = time.monotonic() + 60
        while (
            not any((e["rule"], e["kind"]) == (rule, kind) for e in events)
            and time.monotonic() < deadline
        ):
            for batch in consumer.poll(timeout_ms=500).values():
                events += [json.loads(r.value) for r in batch]
    finally:
        consumer.close()
    return events


def test_every_command_works_over_tls_with_passwords(senv, tmp_path):
    out = ok(vitals("init", "--partitions", "2", env=senv))
    assert "applied" in out and f"keyspace {senv['VITALS_KEYSPACE']}" in out, out
    assert f"topic {senv['VITALS_TOPIC']} (created)" in out, out

    # S001 normal, S002 tachycardic (rules_immediate: high_heart_rate above 110 raises)
    csv = tmp_path / "ward.csv"
    csv.write_text(
        "patient_id,heart_rate,spo2,systolic,diastolic,respiratory_rate,temperature\n"
        "S001,78,98,122,79,15,36.8\n"
        "S002,150,96,131,84,18,37.2\n"
        "S001,80,97,120,78,16,36.9\n"
    )
    out = ok(vitals("produce", "--mode", "csv", "--csv", str(csv), "--quiet", env=senv))

    consumer = VitalsProcess(["consume", "--quiet"], senv)
    consumer.wait_for("Partitions assigned", timeout=60)
    wait_until(
        lambda: len(cassandra_rows(senv, "S001")) == 2 and len(cassandra_rows(senv, "S002")) == 1,
        120,  # a bound, not a wait: generous for a loaded 2-core CI machine
        "the 3 readings produced over SASL_SSL stored in Cassandra over TLS",
    )
    assert sorted(r.heart_rate for r in cassandra_rows(senv, "S001")) == [78, 80]
    events = alerts_published(senv, "high_heart_rate")
    raised = {(e["patient_id"], e["rule"]) for e in events if e["kind"] == "raised"}
    assert ("S002", "high_heart_rate") in raised, events
    assert {e["patient_id"] for e in events} == {"S002"}, events
    assert consumer.stop() == 0, consumer.text()
    assert "Traceback" not in consumer.text()

    out = ok(vitals("status", "--group", senv["VITALS_GROUP"], env=senv))
    assert "Kafka     up" in out and "Cassandra up" in out, out
    assert senv["VITALS_GROUP"] in out, out

    out = ok(vitals("query", "S001", "--format", "csv", env=senv))
    assert out.count("S001") == 2 and ",78," in out and ",80," in out, out
    out = ok(vitals("query", "S002", "--alerts", env=senv))
    assert "high_heart_rate" in out, out

    out = ok(vitals("watch", "--once", env=senv))
    assert "S001" in out and "S002" in out, out

    # the web central station serves HTTPS (the stack's certificate), reads over TLS,
    # publishes an acknowledgement over SASL_SSL, and audits both requests over TLS
    cert, key = pem_pair(Path(senv["VITALS_KAFKA_CA_FILE"]).parent, tmp_path)
    serve = VitalsProcess(
        ["serve", "--port", "0", "--tls-cert", str(cert), "--tls-key", str(key)], senv
    )
    serve.wait_for("vitals central station on ", timeout=60)
    line = next(ln for ln in serve.err if "vitals central station on " in ln)
    url = re.search(r"(https://\S+?)/ ", line).group(1)
    trusted = ssl.create_default_context(cafile=senv["VITALS_KAFKA_CA_FILE"])
    with httpx.Client(base_url=url, timeout=30, verify=trusted) as web:
        assert "strict-transport-security" in web.get("/").headers
        alert = next(a for a in web.get("/api/patients/S002").json()["alerts"])
        assert alert["rule"] == "high_heart_rate", alert
        r = web.post(
            "/api/patients/S002/alerts/high_heart_rate/ack",
            json={"raised_at": alert["raised_at"], "comment": "seen", "by": "Nurse Kim"},
        )
        assert r.status_code == 200, r.text
    assert serve.stop() == 0, serve.text()
    kinds = {e["kind"] for e in alerts_published(senv, "high_heart_rate", kind="acknowledged")}
    assert "acknowledged" in kinds, kinds
    out = ok(vitals("audit", "S002", "--since", "1h", env=senv))  # written at serve's stop
    assert "GET /api/patients/S002" in out and "POST /api/patients/S002/alerts/" in out, out


def one_error_line(out: subprocess.CompletedProcess, secrets: list[str]) -> str:
    assert out.returncode == 1, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    lines = out.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("Error: ")]
    assert errors == lines[-1:], out.stderr  # one, the last (consume names its rules first)
    assert "Traceback" not in out.stderr, out.stderr
    for secret in secrets:
        assert secret not in out.stdout + out.stderr
    return errors[0]


def test_each_mistake_gives_one_clear_error_line(senv, tmp_path):
    ok(vitals("init", "--partitions", "1", env=senv))
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-Pa55word\n")
    secrets = [
        "not-the-Pa55word",
        Path(senv["VITALS_KAFKA_PASSWORD_FILE"]).read_text().strip(),
        Path(senv["VITALS_CASSANDRA_PASSWORD_FILE"]).read_text().strip(),
    ]
    # a CA the client trusts that did not sign the servers' certificates: the system's
    untrusted = "/etc/ssl/certs/ca-certificates.crt"
    kafka_port = senv["VITALS_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1]
    kafka_at, cassandra_at = f"127.0.0.1:{kafka_port}", f"127.0.0.1:{senv['VITALS_CASSANDRA_PORT']}"
    produce = ["produce", "--patients", "S001", "--count", "1"]
    cases = {
        "kafka: wrong password": (
            [*produce, "--kafka-password-file", str(wrong)],
            f"Error: Kafka at {kafka_at} accepted the connection but not the SASL SCRAM-SHA-512 "
            "login of user 'vitals'",
        ),
        "kafka: wrong password (consume)": (
            ["consume", "--kafka-password-file", str(wrong)],
            f"Error: Kafka at {kafka_at} accepted the connection but not the SASL SCRAM-SHA-512 "
            "login of user 'vitals'",
        ),
        "kafka: untrusted certificate": (
            [*produce, "--kafka-ca-file", untrusted],
            f"Error: the TLS certificate of Kafka at {kafka_at} is not trusted",
        ),
        "kafka: plain text at the TLS port": (
            [*produce, "--kafka-security-protocol", "SASL_PLAINTEXT"],
            f"Error: Kafka at {kafka_at} expects TLS but the client spoke plain text",
        ),
        "cassandra: wrong password": (
            ["query", "S001", "--cassandra-password-file", str(wrong)],
            f"Error: Cassandra at {cassandra_at} refused the credentials of user 'vitals'",
        ),
        "cassandra: untrusted certificate": (
            ["query", "S001", "--cassandra-ca-file", untrusted],
            f"Error: the TLS certificate of Cassandra at {cassandra_at} is not trusted",
        ),
        "cassandra: plain text at the TLS port": (
            ["query", "S001"],
            f"Error: Cassandra at {cassandra_at} expects TLS but the client spoke plain text",
        ),
    }
    # all at once: each Kafka case waits for the client's bootstrap timeout
    started = time.monotonic()
    procs = {}
    for name, (args, _) in cases.items():
        env = dict(senv)
        if name == "cassandra: plain text at the TLS port":
            del env["VITALS_CASSANDRA_CA_FILE"]
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "vitals", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    results = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=60)
        results[name] = (subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr),
                         time.monotonic() - started)  # fmt: skip
    for name, (_, expected) in cases.items():
        out, elapsed = results[name]
        line = one_error_line(out, secrets)
        assert line.startswith(expected), f"{name}: {line}"
        assert elapsed < KAFKA_TIMEOUT_S + DIAGNOSIS_S + STARTUP_S, f"{name}: took {elapsed:.1f} s"


def pem_pair(secure_dir: Path, out: Path) -> tuple[Path, Path]:
    """The stack's server certificate chain and key as PEM (the gateway reads PEM)."""
    cert, key = out / "server.crt.pem", out / "server.key.pem"
    store = [
        "-in",
        str(secure_dir / "server.p12"),
        "-passin",
        f"file:{secure_dir / 'store.password'}",
    ]
    for args, path in ((["-nokeys"], cert), (["-nocerts", "-nodes"], key)):
        subprocess.run(["openssl", "pkcs12", *store, *args, "-out", str(path)], check=True)
    return cert, key


def mllp_over_tls(port: int, message: str, cafile: str) -> str:
    """Send one MLLP-framed message over TLS (server certificate checked); return the ACK."""
    import socket
    import ssl

    context = ssl.create_default_context(cafile=cafile)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"\x0b" + message.encode() + b"\x1c\r")
        answer = b""
        while not answer.endswith(b"\x1c\r"):
            chunk = tls.recv(4096)
            assert chunk, f"the gateway hung up before its ACK: {answer!r}"
            answer += chunk
    return answer.strip(b"\x0b\x1c\r").decode()


def test_every_hop_is_encrypted_from_the_hl7_gateway_to_cassandra(senv, tmp_path):
    """Monitor -> gateway over MLLP/TLS -> Kafka over SASL_SSL -> consumer -> Cassandra over TLS."""
    from datetime import UTC, datetime

    from tests.integration.test_gateway import SIX, pcd01

    ok(vitals("init", "--partitions", "1", env=senv))
    cert, key = pem_pair(Path(senv["VITALS_KAFKA_CA_FILE"]).parent, tmp_path)
    gateway = VitalsProcess(
        ["gateway", "--port", "0", "--tls-cert", str(cert), "--tls-key", str(key)], senv
    )
    gateway.wait_for("Listening for HL7 MLLP on", timeout=60)
    port = int(re.search(r"Listening for HL7 MLLP on [^ ]+:(\d+) \(TLS\)", gateway.text()).group(1))
    consumer = VitalsProcess(["consume", "--quiet"], senv)
    consumer.wait_for("Partitions assigned", timeout=60)

    ack = mllp_over_tls(
        port, pcd01("S077", "C1", [(datetime.now(UTC), SIX)]), senv["VITALS_KAFKA_CA_FILE"]
    )
    assert "|AA|C1" in ack, ack  # AA: Kafka (over SASL_SSL) acknowledged the reading
    rows = wait_until(
        lambda: cassandra_rows(senv, "S077"), 120, "the HL7 reading stored in Cassandra over TLS"
    )
    assert [r.heart_rate for r in rows] == [SIX["heart_rate"]]
    for p in (gateway, consumer):
        assert p.stop() == 0, p.text()
        assert "Traceback" not in p.text()
