"""``vitals serve``: the ward's central station (HTML pages) and the JSON API they use.

- ``data.py``   Cassandra reads and the acknowledgement write (prepared statements only)
- ``live.py``   one poller per server; Server-Sent Events to every open board
- ``auth.py``   users file (argon2 hashes), bearer token, loopback rule
- ``api.py``    the ``/api/`` routes and their pydantic models (the OpenAPI document)
- ``app.py``    the FastAPI application: lifespan, pages, static files
"""

from __future__ import annotations

from vitals.web.app import WebSettings, create_app

__all__ = ["WebSettings", "create_app"]
