"""``vitals consume``: one member of the consumer group that stores readings and raises alerts."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vitals.cli_options import (
    SEVERITY_COLOUR,
    RateLine,
    cassandra_options,
    group_option,
    install_signals,
    kafka_options,
    option,
    paint,
    plural,
    quiet_option,
    rules_option,
    settings_from,
    topic_options,
)
from vitals.config import CassandraSettings, ConsumerSettings, KafkaSettings, WriterSettings

if TYPE_CHECKING:
    from vitals.metrics import GroupLag, MemberHealth

log = logging.getLogger(__name__)


class ConsoleReporter:
    """Prints what a consumer does, the seed's way, or a rate line with --quiet.

    Every alert line names its patient (several patients' lines interleave). With
    ``health`` and ``lag`` (``--metrics-port``) it also keeps the /health answer and
    the partitions whose lag is reported up to date. ``rules_loaded`` describes the
    rules after a successful SIGHUP reload.
    """

    def __init__(
        self,
        *,
        quiet: bool,
        health: MemberHealth | None = None,
        lag: GroupLag | None = None,
        rules_loaded: Callable[[], str] | None = None,
        place: Callable[[str], str] | None = None,
    ) -> None:
        self.quiet = quiet
        self.line = RateLine(every=5.0)
        self.outage: str | None = None
        self.stats = None
        self.health = health
        self.lag = lag
        self.rules_loaded = rules_loaded
        self.place = place

    def assigned(self, partitions: Sequence) -> None:
        parts = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "none"
        click.echo(f"Partitions assigned: {parts}", err=True)
        if self.health is not None:
            self.health.assigned(partitions)
        if self.lag is not None:
            self.lag.assign(partitions)

    def revoked(self, partitions: Sequence) -> None:
        if partitions:
            parts = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions)
            click.echo(f"Partitions revoked: {parts}", err=True)
        if self.health is not None:
            self.health.revoked(partitions)
        if self.lag is not None:
            self.lag.revoke(partitions)

    def reading(self, reading: object, news2: int | None, events: Sequence) -> None:
        if self.quiet:
            return
        shown = "incomplete" if news2 is None else news2  # a parameter with no fresh value
        click.echo(f"{reading.line()} NEWS2:{shown}")  # type: ignore[attr-defined]
        self._alert_lines(events)

    def alerts(self, events: Sequence) -> None:
        """Alert events not caused by a reading (e.g. a monitor that went silent)."""
        if not self.quiet:
            self._alert_lines(events)

    def _alert_lines(self, events: Sequence) -> None:
        raised = [e for e in events if e.kind in ("raised", "escalated")]  # at its new level
        for patient in dict.fromkeys(e.patient_id for e in raised):
            mine = [e for e in raised if e.patient_id == patient]
            worst = min(mine, key=lambda e: ("high", "medium", "low").index(e.severity))
            text = "; ".join(e.message for e in mine)
            click.echo(
                paint(
                    f"  >>> ALERT {self._who(patient)}: {text}",
                    SEVERITY_COLOUR[worst.severity],
                    bold=True,
                )
            )
        for e in events:
            if e.kind == "cleared":
                click.echo(paint(f"  <<< CLEARED {self._who(e.patient_id)}: {e.message}", "green"))

    def _who(self, patient: str) -> str:
        """``P007`` or, once placed in the register, ``P007 (Ward 7 · Bed 7 · J. Smith)``."""
        where = self.place(patient) if self.place else ""
        return f"{patient} ({where})" if where else patient

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
        if self.health is not None:
            self.health.outage(what)
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
            loaded = self.rules_loaded() if self.rules_loaded else "rules"
            click.echo(f"rules reloaded: {loaded}", err=True)
            return
        self._back()
        click.echo(paint(f"{what} is back; catching up", "green"), err=True)

    def _back(self) -> None:
        self.outage = None
        if self.health is not None:
            self.health.recovered()

    def committed(self, stats: object) -> None:
        if self.outage:
            click.echo(paint(f"{self.outage} is back; catching up", "green"), err=True)
            self._back()
        if self.quiet and self.line.due():
            r = self.line.rate(stats.stored)  # type: ignore[attr-defined]
            click.echo(
                f"stored {stats.stored} ({r:,.0f}/s), dead-lettered {stats.dead_lettered}, "  # type: ignore[attr-defined]
                f"alerts raised {stats.alerts_raised}",  # type: ignore[attr-defined]
                err=True,
            )


def register_lookup(session: object, *, ttl: float = 30.0) -> Callable[[str], str]:
    """A patient's place from the register (``""`` if not placed or unreadable), cached
    ``ttl`` seconds: read only when an alert line is printed, never fatal."""
    from vitals.register import Register

    registers: list[Register] = []  # made at the first alert line, not at start-up
    cache: dict[str, tuple[float, str]] = {}

    def place(patient: str) -> str:
        hit = cache.get(patient)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]
        try:
            if not registers:
                registers.append(Register(session))  # type: ignore[arg-type]
            placed = registers[0].get(patient)
        except Exception as e:  # the register is a courtesy: an alert line must still print
            log.warning("patient register not read for %s: %s", patient, e)
            return hit[1] if hit else ""
        label = placed.label() if placed else ""
        cache[patient] = (time.monotonic(), label)
        return label

    return place


class RulesFile:
    """Loads the rules (``path`` or the shipped defaults) and says what was loaded:
    the file, how many rules, and the SHA-256 of its bytes (``sha256sum FILE`` agrees)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.summary = ""

    def load(self) -> object:
        """The rule set; ``RulesError`` (exit 2) if the file is invalid."""
        from vitals.rules import load_default_rules, load_rules

        if self.path:
            ruleset = load_rules(self.path)
            where = str(Path(self.path).resolve())
            data = Path(self.path).read_bytes()
        else:
            ruleset = load_default_rules()
            where = f"{ruleset.source} (the shipped defaults)"
            data = resources.files("vitals").joinpath("default_rules.yaml").read_bytes()
        n = len(ruleset.rules)
        news2 = " + NEWS2 alerts" if ruleset.news2_alerts else ""
        self.summary = (
            f"{where}: {plural(n, 'rule')}{news2}, sha256 {hashlib.sha256(data).hexdigest()}"
        )
        return ruleset


def _consumer_settings(kw: dict[str, Any]) -> ConsumerSettings:
    """The group member's flags (taken out of ``kw``) as one frozen ``ConsumerSettings``."""
    return ConsumerSettings(
        topic=kw.pop("topic"),
        group=kw.pop("group") or ConsumerSettings.group,
        alerts_topic=kw.pop("alerts_topic"),
        dlq_topic=kw.pop("dlq_topic"),
        max_poll_records=kw.pop("max_poll_records"),
        commit_interval_s=kw.pop("commit_interval"),
        telemetry_timeout_s=kw.pop("telemetry_timeout"),
    )


def _writer_settings(kw: dict[str, Any]) -> WriterSettings:
    """--batch-rows and --concurrency (taken out of ``kw``) as one ``WriterSettings``."""
    return WriterSettings(batch_rows=kw.pop("batch_rows"), concurrency=kw.pop("concurrency"))


@click.command()
@group_option
@topic_options
@rules_option
@option(
    "--max-poll-records",
    envvar="VITALS_MAX_POLL_RECORDS",
    type=click.IntRange(1, 100_000),
    default=ConsumerSettings.max_poll_records,
    help="Most records handled per poll (one write cycle).",
)
@option(
    "--commit-interval",
    "commit_interval",
    envvar="VITALS_COMMIT_INTERVAL",
    type=click.FloatRange(0, 60),
    default=ConsumerSettings.commit_interval_s,
    help="Seconds between writes of each patient's newest values (patient_latest, what the "
    "boards show) and commits of the offsets written since; readings and alerts are written "
    "every poll. Lower: fresher boards, more writes; 0: after every poll.",
)
@option(
    "--batch-rows",
    envvar="VITALS_BATCH_ROWS",
    type=click.IntRange(1, 500),
    default=WriterSettings.batch_rows,
    help="Rows per unlogged batch (rows sharing replicas only).",
)
@option(
    "--concurrency",
    envvar="VITALS_CONCURRENCY",
    type=click.IntRange(1, 1024),
    default=WriterSettings.concurrency,
    help="Cassandra requests in flight.",
)
@option(
    "--telemetry-timeout",
    "telemetry_timeout",
    envvar="VITALS_TELEMETRY_TIMEOUT",
    type=click.FloatRange(0, 86_400),
    default=ConsumerSettings.telemetry_timeout_s,
    help="Seconds without a record from a patient before the technical alarm "
    "'telemetry lost' (medium priority); 0 turns it off.",
)
@option(
    "--metrics-port",
    envvar="VITALS_METRICS_PORT",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics at /metrics and a health check at /health on this port (0 = off).",
)
@option(
    "--metrics-host",
    envvar="VITALS_METRICS_HOST",
    default="127.0.0.1",
    help="Address the metrics and /health listen on (0.0.0.0: every address).",
)
@quiet_option
@kafka_options
@cassandra_options
@settings_from(_consumer_settings, "settings")
@settings_from(_writer_settings, "writes")
def consume(
    rules_file: str | None,
    metrics_port: int | None,
    metrics_host: str,
    quiet: bool,
    kafka: KafkaSettings,
    cassandra: CassandraSettings,
    settings: ConsumerSettings,
    writes: WriterSettings,
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
    from vitals.store import Writer, connect

    rules_source = RulesFile(rules_file)
    rules = rules_source.load()  # an invalid file refuses to start (exit 2)
    click.echo(f"rules: {rules_source.summary}", err=True)
    metrics = health = lag = None
    if metrics_port:
        from vitals.metrics import GroupLag, MemberHealth, Metrics

        health, lag = MemberHealth(), GroupLag(kafka, settings.group)
        metrics = Metrics.serve(metrics_port, metrics_host, lag=lag, health=health)
        shown = f"[{metrics_host}]" if ":" in metrics_host else metrics_host
        click.echo(f"metrics on http://{shown}:{metrics_port}/metrics, health on /health", err=True)
    cluster, session = connect(cassandra)
    reporter = ConsoleReporter(
        quiet=quiet,
        health=health,
        lag=lag,
        rules_loaded=lambda: rules_source.summary,
        place=register_lookup(session),
    )
    consumer = VitalsConsumer(
        kafka=kafka,
        settings=settings,
        writer=Writer(
            session,
            batch_rows=writes.batch_rows,
            concurrency=writes.concurrency,
            retry_max_s=writes.retry_max_s,
        ),
        rules=rules,  # type: ignore[arg-type]
        reporter=reporter,
        rules_loader=rules_source.load if rules_file else None,  # type: ignore[arg-type]
        metrics=metrics,
    )
    install_signals(consumer.stop, consumer.request_reload)
    t0 = time.monotonic()
    try:
        consumer.open()
        click.echo(
            f"Consumer of {settings.topic!r} in group {settings.group!r} started (Ctrl+C stops, SIGHUP reloads rules)",
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
        f"cleared {s.alerts_cleared}, escalated {s.alerts_escalated}, "
        f"patient_latest upserts {s.latest_upserts}",
        err=True,
    )
