"""Run the web app with uvicorn: in the foreground for ``vitals serve`` (:func:`run`), or on
a background thread for tests and benchmarks (``with BackgroundServer(app) as url``).

uvicorn's own INFO lines (process id, "waiting for application startup") are kept quiet
at WARNING; the access log, when asked for, is raised to INFO on its own logger so that
every request is logged: time, client address, request line, status. Credentials travel
only in the Authorization header, which is never logged.

HTTPS: give a :class:`TLSFiles` (PEM certificate chain and private key) and uvicorn serves
TLS only on that port (its ``ssl_certfile``/``ssl_keyfile``); a plain-HTTP client gets the
connection closed, never a page.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from uvicorn.config import LOGGING_CONFIG

from vitals.errors import ConfigError

ACCESS_FORMAT = '%(asctime)s %(client_addr)s "%(request_line)s" %(status_code)s'


@dataclass(frozen=True)
class TLSFiles:
    """PEM files for HTTPS: ``cert`` (server certificate, then any intermediates), ``key``."""

    cert: str
    key: str

    def check(self) -> None:
        """Raise ``ConfigError`` naming the file if either is unreadable, not PEM, or the
        key does not match the certificate (uvicorn would otherwise fail with a traceback)."""
        for what, path in (("certificate", self.cert), ("private key", self.key)):
            try:
                head = Path(path).read_text(encoding="ascii", errors="replace")[:20_000]
            except OSError as e:
                raise ConfigError(f"cannot read TLS {what} {path}: {e.strerror}") from None
            if "-----BEGIN " not in head:
                raise ConfigError(f"TLS {what} {path} is not a PEM file (no -----BEGIN line)")
            if what == "private key" and "ENCRYPTED" in head:
                raise ConfigError(f"TLS private key {path} is encrypted; give an unencrypted key")
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(self.cert, self.key)
        except ssl.SSLError as e:
            raise ConfigError(
                f"TLS certificate {self.cert} and key {self.key} do not load together "
                f"({e.reason or e}); is the key the certificate's own, and unencrypted?"
            ) from None


def _log_config() -> dict:
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["access"]["fmt"] = ACCESS_FORMAT
    return config


def server_config(
    app: FastAPI,
    *,
    host: str,
    port: int,
    access_log: bool = False,
    grace: float = 3,
    tls: TLSFiles | None = None,
) -> uvicorn.Config:
    """uvicorn settings: WARNING for uvicorn's own lines, INFO for the access log when on.

    ``grace`` is the seconds open requests (and event streams) get to finish on shutdown;
    ``tls`` makes the port HTTPS only.
    """
    if tls is not None:
        tls.check()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=_log_config(),
        access_log=access_log,
        timeout_graceful_shutdown=grace,
        ssl_certfile=tls.cert if tls else None,
        ssl_keyfile=tls.key if tls else None,
    )
    if access_log:  # Config() just set every uvicorn logger to log_level
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    return config


class _Server(uvicorn.Server):
    """A uvicorn server that calls ``on_ready(url)`` once it listens."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[str], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            self._on_ready(listening_url(self))


def listening_url(server: uvicorn.Server) -> str:
    """``http(s)://HOST:PORT`` of the first socket a started server listens on (IPv6 in [])."""
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    scheme = "https" if server.config.is_ssl else "http"
    return f"{scheme}://{shown}:{port}"


def run(
    app: FastAPI,
    *,
    host: str,
    port: int,
    access_log: bool,
    on_ready: Callable[[str], None],
    tls: TLSFiles | None = None,
) -> None:
    """Serve ``app`` until Ctrl+C/SIGTERM; ``on_ready(url)`` once the port listens."""
    config = server_config(app, host=host, port=port, access_log=access_log, tls=tls)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl+C once stopped
        _Server(config, on_ready).run()


class BackgroundServer:
    """uvicorn on a daemon thread, on a free port unless one is given; stops on exit."""

    def __init__(
        self,
        app: FastAPI,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
        tls: TLSFiles | None = None,
    ) -> None:
        config = server_config(app, host=host, port=port, access_log=access_log, grace=2, tls=tls)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="vitals-web", daemon=True)
        self.url = ""

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start within 30 s")
            time.sleep(0.02)
        self.url = listening_url(self.server)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
