"""``vitals consume``: one member of the consumer group that stores readings and raises alerts."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import click

from vitals.cli_options import (
    SEVERITY_COLOUR,
    RateLine,
    cassandra_options,
    cassandra_settings,
    install_signals,
    kafka_options,
    kafka_settings,
    paint,
    topic_options,
)
from vitals.config import GROUP, ConsumerSettings

log = logging.getLogger(__name__)


class ConsoleReporter:
    """Prints what a consumer does, the seed's way, or a rate line with --quiet."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.line = RateLine(every=5.0)
        self.outage: str | None = None
        self.stats = None

    def assigned(self, partitions: Sequence) -> None:
        parts = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "none"
        click.echo(f"Partitions assigned: {parts}", err=True)

    def revoked(self, partitions: Sequence) -> None:
        if partitions:
            parts = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions)
            click.echo(f"Partitions revoked: {parts}", err=True)

    def reading(self, reading: object, news2: int, events: Sequence) -> None:
        if self.quiet:
            return
        click.echo(f"{reading.line()} NEWS2:{news2}")  # type: ignore[attr-defined]
        raised = [e for e in events if e.kind in ("raised", "escalated")]  # at its new level
        if raised:
            worst = min(raised, key=lambda e: ("high", "medium", "low").index(e.severity))
            text = "; ".join(e.message for e in raised)
            click.echo(paint(f"  >>> ALERT: {text}", SEVERITY_COLOUR[worst.severity], bold=True))
        for e in events:
            if e.kind == "cleared":
                click.echo(paint(f"  <<< CLEARED: {e.message}", "green"))

    def dead_letter(self, topic: str, partition: int, offset: int, reason: str) -> None:
        click.echo(
            paint(f"dead-lettered {topic}[{partition}]@{offset}: {reason}", "magenta"), err=True
        )

    def waiting(self, what: str, count: int, delay: float, error: object) -> None:
        if what == "rules":
            click.echo(
                paint(f"rules NOT reloaded, old rules stay in force: {error}", "red"), err=True
            )
            return
        self.outage = what
        from vitals.store import describe_error

        first = describe_error(error).splitlines()[0][:300] if error else ""
        click.echo(
            paint(
                f"{what} unavailable ({first}); holding {count} writes and the offsets, "
                f"retrying in {delay:.1f} s",
                "yellow",
            ),
            err=True,
        )

    def recovered(self, what: str) -> None:
        if what == "rules":
            click.echo("rules reloaded", err=True)
            return
        click.echo(paint(f"{what} is back; catching up", "green"), err=True)

    def committed(self, stats: object) -> None:
        if self.outage:
            click.echo(paint(f"{self.outage} is back; catching up", "green"), err=True)
            self.outage = None
        if self.quiet and self.line.due():
            r = self.line.rate(stats.stored)  # type: ignore[attr-defined]
            click.echo(
                f"stored {stats.stored} ({r:,.0f}/s), dead-lettered {stats.dead_lettered}, "  # type: ignore[attr-defined]
                f"alerts raised {stats.alerts_raised}",  # type: ignore[attr-defined]
                err=True,
            )


@click.command()
@click.option(
    "--group",
    envvar="VITALS_GROUP",
    show_envvar=True,
    default=GROUP,
    show_default=True,
    help="Kafka consumer group; consumers of one group share the partitions.",
)
@topic_options
@click.option(
    "--rules",
    "rules_file",
    envvar="VITALS_RULES",
    show_envvar=True,
    type=click.Path(dir_okay=False),
    help="Alert rules YAML (default: the rules shipped with vitals). SIGHUP reloads it.",
)
@click.option(
    "--max-poll-records",
    envvar="VITALS_MAX_POLL_RECORDS",
    show_envvar=True,
    type=click.IntRange(1, 100_000),
    default=5000,
    show_default=True,
    help="Most records handled per poll (one write+commit cycle).",
)
@click.option(
    "--batch-rows",
    envvar="VITALS_BATCH_ROWS",
    show_envvar=True,
    type=click.IntRange(1, 500),
    default=30,
    show_default=True,
    help="Rows per unlogged batch (rows sharing replicas only).",
)
@click.option(
    "--concurrency",
    envvar="VITALS_CONCURRENCY",
    show_envvar=True,
    type=click.IntRange(1, 1024),
    default=48,
    show_default=True,
    help="Cassandra requests in flight.",
)
@click.option(
    "--metrics-port",
    envvar="VITALS_METRICS_PORT",
    show_envvar=True,
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics on this port (0 = off).",
)
@click.option(
    "--quiet",
    "-q",
    envvar="VITALS_QUIET",
    show_envvar=True,
    is_flag=True,
    help="No line per reading; a rate summary every 5 s instead.",
)
@kafka_options
@cassandra_options
def consume(
    group: str,
    topic: str,
    alerts_topic: str,
    dlq_topic: str,
    rules_file: str | None,
    max_poll_records: int,
    batch_rows: int,
    concurrency: int,
    metrics_port: int | None,
    quiet: bool,
    **kw: object,
) -> None:
    """Store readings in Cassandra and raise alerts; run one per terminal to share the work.

    Offsets are committed only after the readings, alerts and dead letters they
    cover were written. Ctrl+C or SIGTERM finishes the batch in hand, commits and
    leaves the group; SIGHUP reloads the rules file.

    \b
    Examples:
      vitals consume
      vitals consume --quiet --rules ward7.yaml --metrics-port 9108
    """
    from vitals.consumer import VitalsConsumer
    from vitals.rules import load_default_rules, load_rules
    from vitals.store import Writer, connect

    def load() -> object:
        return load_rules(rules_file) if rules_file else load_default_rules()

    rules = load()  # an invalid file refuses to start (exit 2)
    kafka, cassandra = kafka_settings(kw), cassandra_settings(kw)
    settings = ConsumerSettings(
        topic=topic,
        group=group,
        alerts_topic=alerts_topic,
        dlq_topic=dlq_topic,
        max_poll_records=max_poll_records,
        batch_rows=batch_rows,
        concurrency=concurrency,
    )
    metrics = None
    if metrics_port:
        from vitals.metrics import Metrics

        metrics = Metrics.serve(metrics_port)
    cluster, session = connect(cassandra)
    reporter = ConsoleReporter(quiet=quiet)
    consumer = VitalsConsumer(
        kafka=kafka,
        settings=settings,
        writer=Writer(session, batch_rows=batch_rows, concurrency=concurrency),
        rules=rules,  # type: ignore[arg-type]
        reporter=reporter,
        rules_loader=load if rules_file else None,  # type: ignore[arg-type]
        metrics=metrics,
    )
    install_signals(consumer.stop, consumer.request_reload)
    t0 = time.monotonic()
    try:
        consumer.open()
        click.echo(
            f"Consumer of {topic!r} in group {group!r} started (Ctrl+C stops, SIGHUP reloads rules)",
            err=True,
        )
        stats = consumer.run()
    finally:
        consumer.close()
        cluster.shutdown()
    s = stats
    click.echo(
        f"Stopped after {time.monotonic() - t0:.1f} s: consumed {s.consumed}, stored {s.stored}, "
        f"dead-lettered {s.dead_lettered}, alerts raised {s.alerts_raised}, "
        f"cleared {s.alerts_cleared}",
        err=True,
    )
