"""``vitals patient``: the patient register (ward, bed, display name) every view shows."""

from __future__ import annotations

import getpass

import click

from vitals.cli_options import cassandra_options, option, patient_id
from vitals.config import CassandraSettings


@click.group()
def patient() -> None:
    """Where each patient lies (ward, bed) and the name the boards show."""


@patient.command("set")
@click.argument("patient_id", callback=patient_id)
@option("--ward", help="Ward or unit, e.g. 'Ward 7' (\"\" clears it).")
@option("--bed", help='Bed, e.g. 7 or 7A ("" clears it).')
@option("--name", help="Display name, e.g. 'J. Smith' (\"\" clears it).")
@option(
    "--by", envvar="VITALS_USER", help="Who makes the change (recorded; default: the login name)."
)
@cassandra_options
def set_(
    patient_id: str,
    ward: str | None,
    bed: str | None,
    name: str | None,
    by: str | None,
    cassandra: CassandraSettings,
) -> None:
    """Register or move PATIENT_ID: only the fields given change.

    \b
    Examples:
      vitals patient set P007 --ward "Ward 7" --bed 7 --name "J. Smith"
      vitals patient set P007 --bed 12          # moved; ward and name stay
    """
    from vitals.register import Register
    from vitals.store import connect

    cluster, session = connect(cassandra)
    try:
        placed = Register(session).set(
            patient_id, ward=ward, bed=bed, name=name, by=by or getpass.getuser()
        )
    finally:
        cluster.shutdown()
    click.echo(f"{patient_id}: {placed.label() or 'not placed'}")


@patient.command("show")
@click.argument("patient_id", required=False, callback=patient_id)
@cassandra_options
def show(patient_id: str | None, cassandra: CassandraSettings) -> None:
    """The register: every patient (or PATIENT_ID) with ward, bed and name.

    Example: vitals patient show
    """
    from vitals.register import Register
    from vitals.store import connect

    cluster, session = connect(cassandra)
    try:
        register = Register(session)
        if patient_id is not None:
            one = register.get(patient_id)
            if one is None:
                raise click.ClickException(
                    f"{patient_id!r} is not in the register; add it with "
                    f"`vitals patient set {patient_id} --ward W --bed B`"
                )
            placements = [one]
        else:
            placements = sorted(register.all().values(), key=lambda p: p.patient_id)
    finally:
        cluster.shutdown()
    if not placements:
        click.echo("the register is empty (add a patient with `vitals patient set`)", err=True)
        return
    width = max(len("PATIENT"), *(len(p.patient_id) for p in placements))
    click.echo(f"{'PATIENT':<{width}}  {'WARD':<12} {'BED':<6} NAME")
    for p in placements:
        click.echo(
            f"{p.patient_id:<{width}}  {p.ward or '-':<12} {p.bed or '-':<6} {p.name or '-'}"
        )
