"""ASGI middleware of the web server: security headers on every response, and the audit
trail (rows written by :mod:`vitals.audit`) of every request for one patient's data, every
action (POST/PUT/DELETE under /api/, allowed or refused), and each session's first view of
the ward."""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime
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


WARD_PATHS = frozenset({"/", "/api/patients", "/api/alerts", "/api/trends", "/api/stream"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_SESSIONS = 100_000  # ward sessions remembered per day; beyond that the set starts again


class WardSessions:
    """Which ward-level viewers were already audited today. A session is one user from one
    client address (host, not port) on one UTC day: HTTP Basic has no login or logout, so a
    browser refreshing the ward, or its live stream reconnecting, is the same session. A new
    server process starts new sessions."""

    def __init__(self) -> None:
        self._day: date | None = None
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def first(self, user: str, host: str, day: date) -> bool:
        """True the first time ``user`` from ``host`` is seen on ``day``."""
        with self._lock:
            if day != self._day or len(self._seen) >= MAX_SESSIONS:
                self._day, self._seen = day, set()
            if (user, host) in self._seen:
                return False
            self._seen.add((user, host))
            return True


class AuditMiddleware:
    """Records in the audit trail (``vitals.audit``) every request for one patient's data,
    every action (a POST/PUT/PATCH/DELETE under ``/api/``, refused ones included), and the
    first ward-level view of each session (:class:`WardSessions`): the user (``local`` when
    auth is off) and role, method, path, client address and status sent."""

    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit
        self.sessions = WardSessions()

    def _audited(self, scope: Scope, at: datetime) -> tuple[bool, str | None]:
        """(record this request?, its patient or None)."""
        if scope["type"] != "http":
            return False, None
        patient = patient_of(scope)
        if patient is not None:
            return True, patient
        method, path = scope.get("method", ""), scope.get("path", "")
        if method in WRITE_METHODS and path.startswith("/api/"):
            return True, None
        if path in WARD_PATHS or path.startswith("/api/fhir/"):
            user = scope.get("state", {}).get("user") or LOCAL_USER
            client = scope.get("client")
            return self.sessions.first(user, client[0] if client else "", at.date()), None
        return False, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        at = datetime.now(UTC)
        audited, patient = self._audited(scope, at)
        if not audited:
            await self.app(scope, receive, send)
            return
        recorded = False

        def record(status: int) -> None:
            nonlocal recorded
            recorded = True
            client = scope.get("client")
            state = scope.get("state", {})
            self.audit.record(
                Access(
                    patient_id=patient[:200] if patient is not None else None,
                    at=at,
                    user=state.get("user") or LOCAL_USER,
                    method=scope.get("method", ""),
                    path=scope.get("path", "")[:500],
                    client=f"{client[0]}:{client[1]}" if client else "",
                    status=status,
                    role=state.get("role", ""),
                )
            )

        async def send_and_note(message: Message) -> None:
            # recorded when the answer starts: a live stream's row does not wait for its end
            if message["type"] == "http.response.start" and not recorded:
                record(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if not recorded:
                record(500)  # the app failed before answering
