"""HTTPS for `vitals serve`: a certificate made here (openssl, signed by a CA made here),
real TLS clients, the refusal of plain HTTP on a non-loopback address, security headers,
and the pages passing their content security policy in Chromium."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.helpers import VitalsProcess, vitals_env
from tests.integration.browser import browser  # noqa: F401 (fixture)
from vitals.cli import cli
from vitals.web.app import WebSettings, create_app
from vitals.web.middleware import CONTENT_SECURITY_POLICY
from vitals.web.server import BackgroundServer, TLSFiles

pytestmark = pytest.mark.services

READY = "vitals central station on "


def _openssl(command: str, cwd: Path) -> None:
    args = command.split()
    out = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"openssl {command} failed: {out.stderr}"


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, Path]:
    """A CA, and a server certificate it signed for localhost/127.0.0.1 (PEM files)."""
    d = tmp_path_factory.mktemp("tls")
    _openssl("req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=vitals-test-CA "
             "-keyout ca.key -out ca.pem", d)  # fmt: skip
    _openssl("req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem "
             "-out server.csr", d)  # fmt: skip
    (d / "ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl("x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
             "-extfile ext -out cert.pem", d)  # fmt: skip
    return {"ca": d / "ca.pem", "cert": d / "cert.pem", "key": d / "key.pem"}


@pytest.fixture(scope="module")
def patient(session) -> str:
    """A patient with two minutes of readings (written directly: no pipeline needed here)."""
    pid = f"H{uuid.uuid4().hex[:6].upper()}"
    now = datetime.now(UTC).replace(microsecond=0)
    for s in range(0, 120, 5):
        t = now - timedelta(seconds=s)
        session.execute(
            "INSERT INTO patient_vitals (patient_id, day, timestamp, heart_rate, spo2, news2) "
            "VALUES (%s, %s, %s, 80, 97, 0)",
            (pid, t.date(), t),
        )
    session.execute(
        "INSERT INTO patient_latest (patient_id, timestamp, heart_rate, spo2, news2) "
        "VALUES (%s, %s, 80, 97, 0)",
        (pid, now),
    )
    return pid


@pytest.fixture(scope="module")
def settings(cassandra_settings, kafka_settings) -> WebSettings:
    return WebSettings(cassandra=cassandra_settings, kafka=kafka_settings)


@pytest.fixture(scope="module")
def http_url(settings) -> Iterator[str]:
    with BackgroundServer(create_app(settings)) as url:
        yield url


@pytest.fixture
def https_serve(topics, keyspace, certs):
    """`vitals serve --tls-cert --tls-key` as a real process; yields its https URL."""
    args = [
        "serve",
        "--port",
        "0",
        "--tls-cert",
        str(certs["cert"]),
        "--tls-key",
        str(certs["key"]),
    ]
    p = VitalsProcess(args, vitals_env(topics, keyspace))
    p.wait_for(READY, timeout=60)
    line = next(ln for ln in p.err if READY in ln)
    yield re.search(r"(https://\S+?)/ ", line).group(1)
    assert p.stop() == 0, p.text()


def test_https_client_trusting_the_ca_gets_pages_with_hsts_and_security_headers(https_serve, certs):
    trusted = ssl.create_default_context(cafile=str(certs["ca"]))
    with httpx.Client(verify=trusted, timeout=30) as client:
        health = client.get(f"{https_serve}/api/health")
        page = client.get(f"{https_serve}/")
    assert health.status_code == 200
    assert page.status_code == 200 and "<html" in page.text.lower()
    for r in (health, page):
        assert r.headers["strict-transport-security"] == "max-age=31536000"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["cache-control"] == "no-store"


def test_https_client_without_the_ca_refuses_the_certificate(https_serve):
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{https_serve}/api/health", timeout=30)


def test_plain_http_client_on_the_tls_port_fails_at_once(https_serve):
    plain = https_serve.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError) as failure:
        httpx.get(f"{plain}/api/health", timeout=10)
    assert isinstance(failure.value, httpx.RemoteProtocolError | httpx.ReadError), failure.value
    # and at the socket level: a TLS server answers an HTTP request with no HTTP response
    host, port = plain.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not s.recv(100).startswith(b"HTTP/1.1 200")


def test_plain_http_on_loopback_sends_no_hsts(http_url):
    r = httpx.get(f"{http_url}/api/health", timeout=30)
    assert r.status_code == 200
    assert "strict-transport-security" not in r.headers
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert r.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "refusing to serve patient data on 0.0.0.0 over plain HTTP"),
        (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["--tls-key", "k.pem"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "nope.pem", "--tls-key", "nope.pem"], "cannot read TLS certificate"),
    ],
)
def test_serve_refuses_unsafe_or_incomplete_https_settings(args, message, monkeypatch):
    monkeypatch.setenv("VITALS_API_TOKEN", "x" * 32)  # auth on, so only TLS is missing
    result = CliRunner().invoke(cli, ["serve", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_key_that_is_not_the_certificates_own_is_one_clear_error(certs, tmp_path):
    other = tmp_path / "other.key"
    _openssl(f"genrsa -out {other} 2048", tmp_path)
    result = CliRunner().invoke(
        cli, ["serve", "--tls-cert", str(certs["cert"]), "--tls-key", str(other)]
    )
    assert result.exit_code == 2, result.output
    assert "do not load together" in result.output


def test_pages_pass_their_content_security_policy_over_https(browser, settings, patient, certs):  # noqa: F811
    """Chromium reports every CSP violation (inline script/style, foreign source)."""
    tls = TLSFiles(str(certs["cert"]), str(certs["key"]))
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security" in m.text else 0)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    with BackgroundServer(create_app(settings), tls=tls) as url:
        try:
            assert url.startswith("https://")
            page.goto(f"{url}/")
            page.wait_for_selector("section.tile", timeout=30_000)
            page.goto(f"{url}/patients/{patient}")
            page.wait_for_selector(".chart canvas", timeout=30_000)
        finally:
            context.close()  # the browser's connections end before the server stops
    assert problems == []
