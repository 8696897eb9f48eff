"""The FastAPI application: settings, lifespan (Cassandra session, live board), auth,
audit trail, security headers, error mapping, pages and static files."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from cassandra import OperationTimedOut, ReadTimeout, Unavailable, WriteTimeout
from cassandra.cluster import NoHostAvailable
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from kafka import KafkaProducer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from vitals import __version__
from vitals.audit import AuditLog
from vitals.census import CENSUS_WINDOW
from vitals.config import ALERTS_TOPIC, CassandraSettings, KafkaSettings
from vitals.producer import make_producer
from vitals.store import connect
from vitals.web import api, audio, fhir
from vitals.web.auth import CLINICIAN, LOCAL_USER, VIEWER, Authenticator, refusal
from vitals.web.data import Conflict, NotFound, WardStore
from vitals.web.live import Board
from vitals.web.middleware import AuditMiddleware, SecurityHeadersMiddleware

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
_CASSANDRA_ERRORS = (NoHostAvailable, OperationTimedOut, ReadTimeout, WriteTimeout, Unavailable)


@dataclass(frozen=True)
class WebSettings:
    cassandra: CassandraSettings = field(default_factory=CassandraSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    alerts_topic: str = ALERTS_TOPIC
    stale_after: float = 30.0  # seconds without a reading before a tile shows stale
    poll_interval: float = 1.0  # seconds between reads of the live board
    census_window: timedelta = CENSUS_WINDOW  # silent this long: off the boards (vitals.census)


class WebContext:
    """What the routes share: settings, store, live board, auth, a lazily made producer."""

    def __init__(self, settings: WebSettings, auth: Authenticator) -> None:
        self.settings = settings
        self.auth = auth
        self.cluster, session = connect(settings.cassandra)
        self.store = WardStore(session, census_window=settings.census_window)
        self.audit = AuditLog(session)
        self.board = Board(
            self.store, interval=settings.poll_interval, stale_after=settings.stale_after
        )
        self._producer: KafkaProducer | None = None
        self._producer_lock = threading.Lock()

    def producer(self) -> KafkaProducer:
        with self._producer_lock:
            if self._producer is None:
                self._producer = make_producer(
                    self.settings.kafka, client_id="vitals-web", linger_ms=0
                )
            return self._producer

    def close(self) -> None:
        self.board.stop()
        self.audit.close()
        if self._producer is not None:
            self._producer.close(timeout=5)
        self.cluster.shutdown()


class AuthMiddleware:
    """Every path needs credentials when auth is on; the user lands in ``request.state.user``
    and their role in ``request.state.role`` (with auth off: no user, role clinician)."""

    def __init__(self, app: ASGIApp, auth: Authenticator) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.auth.enabled:
            scope.setdefault("state", {})["role"] = CLINICIAN
            await self.app(scope, receive, send)
            return
        header = None
        for k, v in scope["headers"]:
            if k == b"authorization":
                header = v.decode("latin-1")
                break
        found = self.auth.identify(header)
        if found is None:
            response = JSONResponse(
                {"detail": self.auth.failure(header)},
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="vitals", charset="UTF-8"'},
            )
            await response(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["user"], state["role"] = found
        await self.app(scope, receive, send)


class RoleMiddleware:
    """Refuses (403, JSON ``detail`` naming user, role, action and fix) a request the
    caller's role may not send (``vitals.web.auth.refusal``), before any route runs. Sits
    inside the audit layer, so every refusal is recorded with outcome ``refused``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state = scope.get("state", {})
            detail = refusal(
                state.get("user") or LOCAL_USER,
                state.get("role", VIEWER),
                scope.get("method", ""),
                scope.get("path", ""),
            )
            if detail is not None:
                log.info("refused: %s", detail)
                await JSONResponse({"detail": detail}, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: WebSettings, auth: Authenticator | None = None) -> FastAPI:
    """Connects to Cassandra now (so a bad setting fails before serving); the live board
    starts with the server and stops with it."""
    auth = auth or Authenticator()
    context = WebContext(settings, auth)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context.board.start()
        try:
            yield
        finally:
            context.close()

    app = FastAPI(
        title="vitals central station",
        version=__version__,
        description="Patients' latest vital signs, history and alerts; acknowledgement. "
        "Live updates: `GET /api/stream` (Server-Sent Events, not described here).",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = context
    app.include_router(api.router)
    app.include_router(audio.router)
    app.include_router(fhir.router)
    app.add_middleware(RoleMiddleware)  # inside audit: a refusal is recorded
    app.add_middleware(AuditMiddleware, audit=context.audit)  # inside auth: knows the user
    app.add_middleware(AuthMiddleware, auth=auth)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: also on 401s
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def ward_page() -> FileResponse:
        return FileResponse(STATIC / "ward.html", headers={"Cache-Control": "no-store"})

    @app.get("/patients/{patient_id}", include_in_schema=False)
    def patient_page(patient_id: str) -> FileResponse:
        context.store.require_patient(patient_id)  # an unknown patient's page is a 404
        return FileResponse(STATIC / "patient.html", headers={"Cache-Control": "no-store"})

    _install_errors(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _install_errors(app: FastAPI) -> None:
    def problem(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.url.path.startswith("/api/fhir/"):  # FHIR clients expect OperationOutcome
            return fhir.validation_outcome(list(exc.errors()))
        parts = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":  # loc: ("body", character position)
                at, why = err.get("loc", ("", "?"))[-1], (err.get("ctx") or {}).get("error")
                parts.append(f"body: not valid JSON ({why} at character {at}); send a JSON object")
                continue
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return problem(400, "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return problem(404, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(_request: Request, exc: Conflict) -> JSONResponse:
        return problem(409, str(exc))

    for error in _CASSANDRA_ERRORS:

        @app.exception_handler(error)
        async def cassandra_down(_request: Request, exc: Exception) -> JSONResponse:
            log.warning("Cassandra request failed: %s", type(exc).__name__)
            return problem(
                503, f"Cassandra did not answer ({type(exc).__name__}); try again shortly"
            )


def _openapi(app: FastAPI) -> dict:
    """The generated document, with FastAPI's 422 responses removed (bad input is 400)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for path in doc.get("paths", {}).values():
        for op in path.values():
            op.get("responses", {}).pop("422", None)
    schemas = doc.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    app.openapi_schema = doc
    return doc
