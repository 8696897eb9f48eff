"""ASGI middleware of the web server: security headers on every response, and the audit
trail of every request for one patient's data (rows written by :mod:`vitals.audit`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vitals.audit import Access, AuditLog
from vitals.web.auth import LOCAL_USER

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HSTS = "max-age=31536000"  # one year; only ever sent over HTTPS (RFC 6797 section 7.2)


class SecurityHeadersMiddleware:
    """Headers on every response: no MIME sniffing, no framing, no referrer, a content
    security policy allowing only this server's own scripts, styles and connections (the
    pages have no inline script or style), and HSTS when the request came over HTTPS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        ]
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", HSTS.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


_PATIENT_PATH = re.compile(r"^/(?:api/)?patients/([^/]+)(?:/|$)")


def patient_of(scope: Scope) -> str | None:
    """The patient whose data a request is for: ``/patients/ID``, ``/api/patients/ID[/...]``,
    or the ``patient`` parameter of ``/api/fhir/Observation``; None for ward-level requests."""
    path = scope.get("path", "")
    match = _PATIENT_PATH.match(path)
    if match:
        return match.group(1)
    if path == "/api/fhir/Observation":
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("patient")
        if values:
            return values[0].removeprefix("Patient/") or None
    return None


class AuditMiddleware:
    """Records every request for one patient's data in the audit trail (``vitals.audit``):
    the user (``local`` when auth is off), method, path, client address and status sent."""

    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        patient = patient_of(scope) if scope["type"] == "http" else None
        if patient is None:
            await self.app(scope, receive, send)
            return
        at = datetime.now(UTC)
        status = 500  # if the app fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            client = scope.get("client")
            self.audit.record(
                Access(
                    patient_id=patient[:200],
                    at=at,
                    user=scope.get("state", {}).get("user") or LOCAL_USER,
                    method=scope.get("method", ""),
                    path=scope.get("path", "")[:500],
                    client=f"{client[0]}:{client[1]}" if client else "",
                    status=status,
                )
            )
