"""``vitals serve``: the web central station and JSON API (see ``vitals.web``)."""

from __future__ import annotations

import os
import sys
from datetime import timedelta

import click

from vitals.cli_options import (
    alerts_topic_option,
    cassandra_options,
    census_window_option,
    kafka_options,
    option,
    stale_after_option,
)
from vitals.config import CassandraSettings, KafkaSettings


def _hash_password_line(name: str, role: str | None) -> None:
    from vitals.web.auth import hash_password

    if ":" in name or not name.strip():
        raise click.BadParameter("a user name must be non-empty and have no ':'", param_hint=name)
    if sys.stdin.isatty():
        password = click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise click.UsageError("a password needs at least 8 characters")
    click.echo(f"{name}:{hash_password(password)}" + (f":{role}" if role else ""))


@click.command()
@option(
    "--host",
    envvar="VITALS_WEB_HOST",
    default="127.0.0.1",
    help="Address to listen on. Anything but loopback needs --auth or VITALS_API_TOKEN, "
    "and --tls-cert/--tls-key (or --insecure-http).",
)
@option(
    "--port",
    envvar="VITALS_WEB_PORT",
    default=8000,
    type=click.IntRange(0, 65535),
    help="TCP port to listen on.",
)
@option(
    "--auth",
    "users_file",
    envvar="VITALS_WEB_USERS",
    type=click.Path(dir_okay=False),
    help="Users file (NAME:ARGON2-HASH[:ROLE] lines, see --hash-password): HTTP Basic login. "
    "Roles: viewer (reads), clinician (also acknowledges, pauses audio, ends monitoring); "
    "a line without a role is a viewer.",
)
@option(
    "--token-role",
    envvar="VITALS_API_TOKEN_ROLE",
    type=click.Choice(["viewer", "clinician"]),
    default="viewer",
    help="Role of whoever presents VITALS_API_TOKEN.",
)
@option(
    "--tls-cert",
    envvar="VITALS_WEB_TLS_CERT",
    type=click.Path(dir_okay=False),
    help="PEM certificate (chain) to serve HTTPS with; needs --tls-key.",
)
@option(
    "--tls-key",
    envvar="VITALS_WEB_TLS_KEY",
    type=click.Path(dir_okay=False),
    help="PEM private key (unencrypted) of --tls-cert.",
)
@option(
    "--insecure-http",
    is_flag=True,
    envvar="VITALS_WEB_INSECURE_HTTP",
    help="Allow plain HTTP on a non-loopback address (e.g. behind a TLS-terminating proxy).",
)
@stale_after_option
@census_window_option
@option(
    "--poll-interval",
    envvar="VITALS_WEB_POLL_INTERVAL",
    default=1.0,
    type=click.FloatRange(0.1, 60),
    help="Seconds between the live board's reads of Cassandra.",
)
@alerts_topic_option
@option(
    "--hash-password",
    "hash_for",
    metavar="NAME",
    help="Print a users-file line for NAME (password from the prompt or stdin) and exit.",
)
@option(
    "--role",
    type=click.Choice(["viewer", "clinician"]),
    help="With --hash-password: the role on the line (none: viewer).",
)
@option(
    "--access-log",
    is_flag=True,
    envvar="VITALS_WEB_ACCESS_LOG",
    help="Log every request (never credentials).",
)
@kafka_options
@cassandra_options
def serve(
    host: str,
    port: int,
    users_file: str | None,
    token_role: str,
    role: str | None,
    stale_after: float,
    census_window: timedelta,
    poll_interval: float,
    alerts_topic: str,
    hash_for: str | None,
    access_log: bool,
    tls_cert: str | None,
    tls_key: str | None,
    insecure_http: bool,
    kafka: KafkaSettings,
    cassandra: CassandraSettings,
) -> None:
    """Serve the ward's central station (/), patient pages and the JSON API (/api/).

    Binding to anything but loopback requires auth: --auth USERS_FILE and/or a bearer
    token in VITALS_API_TOKEN (at least 16 characters), and HTTPS (--tls-cert/--tls-key)
    unless --insecure-http says a proxy in front does TLS. The OpenAPI document is at
    /api/openapi.json; live updates are Server-Sent Events at /api/stream.

    \b
    Example:
      vitals serve                                  # http://127.0.0.1:8000/
      vitals serve --hash-password alice --role clinician >> users.txt
      vitals serve --host 0.0.0.0 --auth users.txt --tls-cert cert.pem --tls-key key.pem
    """
    if role is not None and hash_for is None:
        raise click.UsageError("--role goes with --hash-password NAME (it makes a users-file line)")
    if hash_for is not None:
        _hash_password_line(hash_for, role)
        return

    from vitals.web import server
    from vitals.web.app import WebSettings, create_app
    from vitals.web.auth import Authenticator, is_loopback

    token = os.environ.get("VITALS_API_TOKEN") or None
    if users_file:
        auth = Authenticator.from_file(users_file, token=token, token_role=token_role)
        roles = sorted(auth.roles.values())
        click.echo(
            f"vitals serve: {users_file}: "
            + ", ".join(f"{roles.count(r)} {r}" for r in dict.fromkeys(roles))
            + " (a line without a role is a viewer)",
            err=True,
        )
    else:
        auth = Authenticator(token=token, token_role=token_role)
    if not auth.enabled and not is_loopback(host):
        raise click.UsageError(
            f"refusing to serve patient data on {host} without authentication. Either bind "
            "to 127.0.0.1, or give --auth USERS_FILE (make entries with `vitals serve "
            "--hash-password NAME >> USERS_FILE`), or set VITALS_API_TOKEN to a secret of at "
            "least 16 characters"
        )
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together: give both or neither")
    tls = server.TLSFiles(tls_cert, tls_key) if tls_cert and tls_key else None
    if tls is None and not insecure_http and not is_loopback(host):
        raise click.UsageError(
            f"refusing to serve patient data on {host} over plain HTTP. Give --tls-cert "
            "CERT.pem --tls-key KEY.pem, or --insecure-http if a proxy in front of it does TLS"
        )
    if tls is not None:
        tls.check()  # a bad file is one clear error before connecting to anything
    from vitals.ports import require_free_port

    require_free_port(host, port)  # before the seconds of connecting to Cassandra
    settings = WebSettings(
        cassandra=cassandra,
        kafka=kafka,
        alerts_topic=alerts_topic,
        stale_after=stale_after,
        census_window=census_window,
        poll_interval=poll_interval,
    )
    app = create_app(settings, auth)
    cassandra = settings.cassandra
    click.echo(
        f"vitals serve: starting, connecting to Cassandra at {','.join(cassandra.hosts)}:"
        f"{cassandra.port} (keyspace {cassandra.keyspace}); this takes a few seconds",
        err=True,
    )

    def ready(url: str) -> None:
        click.echo(
            f"vitals central station on {url}/ (API: /api/, auth: {auth.mode}"
            f"{', access log on' if access_log else ''}); Ctrl+C stops",
            err=True,
        )

    server.run(app, host=host, port=port, access_log=access_log, on_ready=ready, tls=tls)
