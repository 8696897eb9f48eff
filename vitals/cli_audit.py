"""``vitals audit PATIENT``: who saw a patient's data through the web server (see ``vitals.audit``)."""

from __future__ import annotations

import click

from vitals.cli_options import cassandra_options, option, plural
from vitals.config import CassandraSettings


@click.command()
@click.argument("patient")
@option(
    "--since",
    default="7d",
    help="From when: a duration ago (2h, 7d), or an ISO time (UTC if no zone).",
)
@option("--until", default="now", help="Until when (same forms as --since).")
@cassandra_options
def audit(patient: str, since: str, until: str, cassandra: CassandraSettings) -> None:
    """List who accessed PATIENT's data (pages, API, FHIR), newest first.

    One line per request: time (UTC), user ('local' when the server ran without
    auth), client address, HTTP status, method and path.

    \b
    Example:
      vitals audit P001 --since 1d
    """
    from vitals.audit import accesses
    from vitals.queries import time_range
    from vitals.store import connect

    start, end = time_range(since, until)
    cluster, session = connect(cassandra)
    try:
        rows = list(accesses(session, patient, start, end))
    finally:
        cluster.shutdown()
    for a in rows:
        click.echo(
            f"{a.at:%Y-%m-%d %H:%M:%S}  {a.user:<16} {a.client:<22} {a.status}  {a.method} {a.path}"
        )
    click.echo(
        f"{plural(len(rows), 'access', 'accesses')} to {patient} from {start:%Y-%m-%d %H:%M} "
        f"to {end:%Y-%m-%d %H:%M} UTC",
        err=True,
    )
