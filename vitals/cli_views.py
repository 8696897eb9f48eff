"""``vitals watch``, ``vitals query``, ``vitals status``: what people look at (click only)."""

from __future__ import annotations

import csv
import difflib
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta

import click

from vitals.cli_options import (
    cassandra_options,
    census_window_option,
    group_option,
    kafka_options,
    option,
    paint,
    patient_id,
    plural,
    stale_after_option,
    use_colour,
)
from vitals.config import CassandraSettings, KafkaSettings
from vitals.errors import ConfigError
from vitals.readings import VITALS

# --- vitals watch --------------------------------------------------------------------------


@click.command()
@option(
    "--interval",
    envvar="VITALS_WATCH_INTERVAL",
    type=click.FloatRange(0.2, 3600),
    default=2.0,
    help="Seconds between refreshes.",
)
@option(
    "--minutes",
    envvar="VITALS_WATCH_MINUTES",
    type=click.FloatRange(0.5, 24 * 60),
    default=10.0,
    help="Trend window of the HR and SpO2 sparklines, ending at each patient's newest reading.",
)
@stale_after_option
@option(
    "--prefix",
    envvar="VITALS_WATCH_PREFIX",
    default="",
    help="Only patients whose id starts with this (a ward, a bed range).",
)
@option(
    "--once",
    envvar="VITALS_WATCH_ONCE",
    is_flag=True,
    help="Print one frame and exit (for scripts and logs).",
)
@census_window_option
@option(
    "--all",
    "include_all",
    envvar="VITALS_WATCH_ALL",
    is_flag=True,
    help="Every patient stored, also those whose monitoring ended or who were silent for "
    "--census-window (default: the census, the patients monitored now).",
)
@cassandra_options
def watch(
    interval: float,
    minutes: float,
    stale_after: float,
    prefix: str,
    once: bool,
    census_window: timedelta,
    include_all: bool,
    cassandra: CassandraSettings,
) -> None:
    """A live board of the patients monitored now, sickest first; Ctrl+C quits.

    One row per patient of the census (from its first reading until its
    monitoring is ended or it is silent for --census-window): newest vitals and
    their age, NEWS2, HR and SpO2 sparklines, active alerts (coloured by
    severity on a terminal). As many rows as fit the terminal, then a line
    "… N more · M alerting". Works over a plain SSH session; nothing but ANSI
    escape codes.

    \b
    Examples:
      vitals watch
      vitals watch --prefix ICU- --minutes 30
      vitals watch --once --all > everyone.txt
    """
    from vitals.board import (
        ALT_SCREEN_OFF,
        ALT_SCREEN_ON,
        HIDE_CURSOR,
        SHOW_CURSOR,
        frame,
        render,
    )
    from vitals.queries import Board
    from vitals.store import connect

    cluster, session = connect(cassandra)
    board = Board(session, census_window=census_window)
    colour = use_colour()

    def size() -> os.terminal_size:
        """The terminal's size now (it may be resized); COLUMNS/LINES or 200x50 when piped."""
        try:
            return os.get_terminal_size(sys.stdout.fileno())
        except (OSError, ValueError):
            return shutil.get_terminal_size((200, 50))

    def lines(height: int | None) -> list[str]:
        notice = None
        try:
            patients = board.snapshot(
                prefix=prefix, minutes=minutes, include_all=include_all, series_for=height
            )
        except Exception as e:  # Cassandra away: say so on the board, keep trying
            patients, notice = [], f"Cassandra did not answer ({str(e)[:120]}); retrying"
        empty = None
        if prefix and notice is None:
            who = "stored" if include_all else "monitored now (--all: every patient stored)"
            empty = f"no patient whose id starts with {prefix!r} is {who}"
        elif not patients and notice is None and not include_all and board.anyone_stored():
            empty = (
                "no patient is monitored now: readings are stored, none in the last "
                f"{_span(census_window)} (or monitoring ended); --all or a longer "
                "--census-window shows them"
            )
        return render(
            patients,
            now=datetime.now(UTC),
            minutes=minutes,
            colour=colour,
            width=size().columns,
            height=height,
            stale_after=stale_after,
            notice=notice,
            empty=empty,
        )

    try:
        if once or not sys.stdout.isatty():
            while True:
                click.echo("\n".join(lines(None)))
                if once:
                    return
                time.sleep(interval)
                click.echo()
        out = sys.stdout
        out.write(ALT_SCREEN_ON + HIDE_CURSOR)
        try:
            first = True
            while True:
                out.write(frame(lines(size().lines), first=first))
                out.flush()
                first = False
                time.sleep(interval)
        finally:
            out.write(SHOW_CURSOR + ALT_SCREEN_OFF)
            out.flush()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.shutdown()


def _span(window: timedelta) -> str:
    """``window`` as --census-window is written: 90s, 30m, 12h, 2d."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- vitals query --------------------------------------------------------------------------


def _time_option(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from vitals.queries import parse_time

    try:
        parse_time(value)
    except ConfigError as e:
        raise click.BadParameter(str(e)) from None
    return value


@click.command()
@click.argument("patient", callback=patient_id)
@option(
    "--since",
    envvar="VITALS_QUERY_SINCE",
    default="2h",
    callback=_time_option,
    help="Start: a duration ago (30m, 2h, 1d) or an ISO time (UTC if no zone).",
)
@option(
    "--until",
    envvar="VITALS_QUERY_UNTIL",
    default="now",
    callback=_time_option,
    help="End: now, a duration ago, or an ISO time.",
)
@option(
    "--alerts",
    envvar="VITALS_QUERY_ALERTS",
    is_flag=True,
    help="Alert events (raised, cleared, acknowledged, escalated, monitoring ended) "
    "instead of readings.",
)
@option(
    "--format",
    "fmt",
    envvar="VITALS_QUERY_FORMAT",
    type=click.Choice(["table", "csv", "json", "fhir"]),
    default="table",
    help="Output format (times in UTC; json is one array; fhir is a FHIR R4 Bundle of Observations).",
)
@option(
    "--limit",
    envvar="VITALS_QUERY_LIMIT",
    type=click.IntRange(1, 10_000_000),
    default=1000,
    help="Most rows printed (the newest ones).",
)
@option(
    "--quiet", "-q", envvar="VITALS_QUERY_QUIET", is_flag=True, help="No summary line on stderr."
)
@cassandra_options
def query(
    patient: str,
    since: str,
    until: str,
    alerts: bool,
    fmt: str,
    limit: int,
    quiet: bool,
    cassandra: CassandraSettings,
) -> None:
    """A patient's readings (or alerts) in a time range, newest first, across days.

    \b
    Examples:
      vitals query P001
      vitals query P001 --since 2026-11-25T22:00 --until 2026-11-26T02:00
      vitals query P001 --alerts --since 1d --format csv > p001-alerts.csv
    """
    from vitals import fhir
    from vitals.queries import ALERT_COLUMNS, QUERY_READING_COLUMNS, History, time_range
    from vitals.register import Register
    from vitals.store import connect

    start, end = time_range(since, until)
    cluster, session = connect(cassandra)
    try:
        history = History(session)
        read = history.alerts if alerts else history.readings
        rows = read(patient, start, end, limit=limit)
        placed = Register(session).get(patient)
    finally:
        cluster.shutdown()
    columns = ALERT_COLUMNS if alerts else QUERY_READING_COLUMNS
    emit = {"table": _table, "csv": _csv, "json": _json}.get(fmt) or (
        lambda rows, cols: click.echo(fhir.query_bundle(patient, rows, cols))
    )
    emit(rows, columns)
    if not quiet:
        what = plural(len(rows), "alert event" if alerts else "reading")
        more = f" (--limit {limit} reached; older rows not shown)" if len(rows) >= limit else ""
        click.echo(
            f"{what} of {patient}{f' ({placed.label()})' if placed else ''} "
            f"from {start:%Y-%m-%d %H:%M:%S} "
            f"to {end:%Y-%m-%d %H:%M:%S} UTC{more}",
            err=True,
        )


#: Reading columns a device measures: '-' in the table when the reading did not carry it.
_MEASURABLE = frozenset(VITALS)
#: The ``status`` key of a reading column (vitals.readings.STATUS_VITALS): blood pressure as one.
_STATUS_KEY = {"systolic": "blood_pressure", "diastolic": "blood_pressure"}


def _cell(value: object, column: str, row: dict | None = None) -> str:
    """A value as the table shows it (times in UTC to the millisecond; a vital not measured
    ``-``, or the device's status for it, e.g. ``probe_off``; an incomplete NEWS2 ``inc``, its
    missing parameters in ``news2_missing``)."""
    if column == "news2" and value is None and row and row.get("news2_missing"):
        return "inc"
    if value is None and column in _MEASURABLE and row and row.get("status"):
        status = row["status"].get(_STATUS_KEY.get(column, column))
        if status:
            return status
    if isinstance(value, list):
        return ",".join(value) or "-"
    if value is None:
        observed = ("news2", "consciousness", "on_oxygen")  # None: not measured / observed
        return "-" if column in _MEASURABLE or column in observed else ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}" if column == "temperature" else f"{value:g}"
    return str(value)


def _table(rows: list[dict], columns: tuple[str, ...]) -> None:
    columns = tuple(c for c in columns if c != "status")  # shown in the vitals' own cells
    cells = [[_cell(r[c], c, r) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    numeric = {  # right-aligned: a column of numbers, some perhaps not measured
        i
        for i, c in enumerate(columns)
        if c in _MEASURABLE or c == "news2" or any(isinstance(r[c], int | float) for r in rows)
    }

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    click.echo(line(list(columns)))
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo(line(row))


def _csv(rows: list[dict], columns: tuple[str, ...]) -> None:
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(
            [r[c].isoformat() if isinstance(r[c], datetime) else _csv_value(r[c]) for c in columns]
        )


def _csv_value(v: object) -> object:
    """A CSV cell: not measured (None) is blank, a list (``news2_missing``) joined by
    spaces, a dict (``status``) as ``vital:status`` pairs joined by spaces."""
    if isinstance(v, list):
        return " ".join(v)
    if isinstance(v, dict):
        return " ".join(f"{k}:{s}" for k, s in v.items())
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def _json(rows: list[dict], columns: tuple[str, ...]) -> None:
    out = [
        {c: (r[c].isoformat() if isinstance(r[c], datetime) else r[c]) for c in columns}
        for r in rows
    ]
    click.echo(json.dumps(out, indent=1))


# --- vitals status -------------------------------------------------------------------------


@click.command()
@group_option
@option(
    "--timeout",
    envvar="VITALS_STATUS_TIMEOUT",
    type=click.FloatRange(0.5, 120),
    default=5.0,
    help="Seconds to wait for each server before calling it down.",
)
@option(
    "--quiet",
    "-q",
    envvar="VITALS_STATUS_QUIET",
    is_flag=True,
    help="Print nothing but errors; exit 0 if Kafka and Cassandra answer (and --group exists), 1 if not (for health checks).",
)
@kafka_options
@cassandra_options
def status(
    group: str | None,
    timeout: float,
    quiet: bool,
    kafka: KafkaSettings,
    cassandra: CassandraSettings,
) -> None:
    """Do Kafka and Cassandra answer, and how far behind is each consumer group.

    Per group: members (client id, host, partitions) and, per partition, the
    committed offset, the end offset and the lag (end − committed).

    \b
    Examples:
      vitals status
      vitals status --group vitals-monitor
      vitals status --quiet || echo "pipeline down"
    """
    from vitals.status import collect

    report = collect(kafka=kafka, cassandra=cassandra, group=group, timeout=timeout)
    if not quiet:
        for p in (report.kafka, report.cassandra):
            state = paint("up  ", "green") if p.ok else paint("DOWN", "red", bold=True)
            click.echo(f"{p.name:<9} {state} {p.seconds * 1000:6.0f} ms  {p.detail}")
        for g in report.groups:
            _print_group(g)
        if report.kafka.ok and not report.groups:
            click.echo("\nno consumer groups yet (start one with `vitals consume`)")
    if not report.healthy:
        failed = [p for p in (report.kafka, report.cassandra) if not p.ok]
        names = " and ".join(p.name for p in failed)
        if not quiet:
            raise click.ClickException(f"{names} not healthy (see above)")
        raise click.ClickException("; ".join(f"{p.name}: {p.detail}" for p in failed))
    missing = report.missing_group()
    if missing is not None:
        close = difflib.get_close_matches(missing, report.known_groups, n=3)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise click.ClickException(
            f"consumer group {missing!r} does not exist on {','.join(kafka.bootstrap_servers)} "
            f"(no members, no committed offsets); {hint}{plural(len(report.known_groups), 'group')} "
            "there (`vitals status` lists them); a new group appears once `vitals consume "
            "--group NAME` has started"
        )


def _print_group(g: object) -> None:
    from vitals.status import GroupStatus

    assert isinstance(g, GroupStatus)
    lag = paint(str(g.lag), "yellow" if g.lag else "green", bold=bool(g.lag))
    click.echo(f"\ngroup {g.group}  state {g.state}  members {len(g.members)}  lag {lag}")
    for m in g.members:
        parts = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in m.partitions) or "none"
        click.echo(f"  member {m.name} on {m.host}: {parts}")
    for t in g.missing_topics:
        click.echo(f"  topic {t}: no longer exists (committed offsets remain)")
    if not g.partitions:
        return
    width = max(len("TOPIC"), *(len(p.topic) for p in g.partitions))
    click.echo(f"  {'TOPIC':<{width}} {'PART':>4} {'COMMITTED':>10} {'END':>10} {'LAG':>8}  MEMBER")
    for p in g.partitions:
        committed = "-" if p.committed is None else str(p.committed)
        click.echo(
            f"  {p.topic:<{width}} {p.partition:>4} {committed:>10} {p.end:>10} {p.lag:>8}  "
            f"{p.member or '-'}"
        )
