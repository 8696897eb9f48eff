"""Pre-flight check that a TCP port can be listened on, before a server connects to anything.

``vitals serve`` connects to Cassandra for seconds before uvicorn binds, and ``vitals
gateway`` checks its topics first: a port already in use must be one clear error at once.
"""

from __future__ import annotations

import socket

from vitals.errors import ConfigError


def require_free_port(host: str, port: int, *, option: str = "--port") -> None:
    """Raise ``ConfigError`` naming ``host:port`` and ``option`` if it cannot be bound.

    Binds and closes at once with ``SO_REUSEADDR`` (as asyncio and uvicorn bind), so a port
    left in TIME_WAIT by a server that just stopped is not refused. Port 0 (pick a free one)
    is always accepted.
    """
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}: {e.strerror or e}; check --host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {e.strerror or e} (another program, or "
                f"another vitals, holds it); stop it or choose another {option}"
            ) from None
