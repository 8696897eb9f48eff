"""``vitals audit [PATIENT]``: who saw which patient's data, or did what, through the web
server (see ``vitals.audit``)."""

from __future__ import annotations

import unicodedata

import click

from vitals.cli_options import cassandra_options, option, patient_id, plural
from vitals.config import CassandraSettings

OUTCOMES = ("ok", "refused", "not-found", "rejected", "failed")  # vitals.audit.OUTCOMES


def _shown(value: object) -> str:
    """``value`` as text with every control or format character (Unicode Cc/Cf: line
    breaks, escape sequences, bidi overrides) escaped, so one stored row is one printed
    line that reads as it was stored: a name holding a newline cannot print a forged row."""
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) in ("Cc", "Cf")
        else ch
        for ch in str(value)
    )


@click.command()
@click.argument("patient", required=False, callback=patient_id)
@option(
    "--patient",
    "patient_option",
    metavar="ID",
    callback=patient_id,
    help="Only this patient's rows (the same as the PATIENT argument).",
)
@option("--user", metavar="NAME", help="Only this user's rows (as they logged in).")
@option(
    "--outcome",
    type=click.Choice(OUTCOMES),
    help="Only rows with this outcome, e.g. refused: what a role was not allowed to do.",
)
@option(
    "--since",
    default="7d",
    help="From when: a duration ago (2h, 7d), or an ISO time (UTC if no zone).",
)
@option("--until", default="now", help="Until when (same forms as --since).")
@cassandra_options
def audit(
    patient: str | None,
    patient_option: str | None,
    user: str | None,
    outcome: str | None,
    since: str,
    until: str,
    cassandra: CassandraSettings,
) -> None:
    """List the audit trail of the web server, newest first: who read which patient's data
    (pages, readings/alerts/FHIR API), who acknowledged, paused alarm audio or ended
    monitoring, and who was refused; with PATIENT (or --patient) only that patient's rows.

    One line per request: time (UTC), user ('local' when the server ran without auth),
    role (viewer | clinician), client address, HTTP status, outcome (ok, refused,
    not-found, rejected, failed), method and path. Ward-level views (the ward page, the
    patient list, the live stream) are one row per user, client address and day, not one
    per refresh. The trail never holds vital values, request bodies or credentials.
    Control and format characters in a stored field are printed escaped (\\n, \\u202e):
    one row is always one line.

    Without a patient the trail is read one UTC hour at a time: at most 31 days per call.
    A count goes to stderr, the rows to stdout (pipe them to grep or a file).

    \b
    Examples:
      vitals audit P001 --since 1d              # who saw P001 in the last day
      vitals audit --user alice --since 8h      # what alice did this shift
      vitals audit --outcome refused --since 7d # what roles were refused
      vitals audit --since 2026-11-01 --until 2026-11-02 > trail.txt
    """
    from vitals.audit import trail
    from vitals.queries import time_range
    from vitals.store import connect

    if patient and patient_option and patient != patient_option:
        raise click.UsageError(
            f"PATIENT {patient} and --patient {patient_option} disagree; give one of them"
        )
    patient = patient or patient_option
    start, end = time_range(since, until)
    cluster, session = connect(cassandra)
    try:
        rows = [
            a
            for a in trail(session, start, end, patient_id=patient, user=user)
            if outcome is None or a.outcome == outcome
        ]
    finally:
        cluster.shutdown()
    for a in rows:
        user, role, client = _shown(a.user), _shown(a.role or "-"), _shown(a.client)
        click.echo(
            f"{a.at:%Y-%m-%d %H:%M:%S}  {user:<16} {role:<9} {client:<22} "
            f"{a.status} {a.outcome:<9} {_shown(a.method)} {_shown(a.path)}"
        )
    of = " and ".join(
        part
        for part in (
            f"to {patient}" if patient else "",
            f"by {user}" if user else "",
            f"{outcome}" if outcome else "",
        )
        if part
    )
    noun = plural(len(rows), "access", "accesses") if patient else plural(len(rows), "audit row")
    click.echo(
        f"{noun}{' ' + of if of else ''} from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC",
        err=True,
    )
