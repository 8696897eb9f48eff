"""The ``vitals`` command line: options in, library calls, ``Error: …`` out.

No Kafka or Cassandra logic lives here. Every option can also be set by the
``VITALS_*`` environment variable shown in ``--help``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import click

from vitals import __version__
from vitals.cli_audit import audit
from vitals.cli_consume import consume
from vitals.cli_gateway import gateway
from vitals.cli_monitoring import monitoring
from vitals.cli_options import (
    VitalsGroup,
    cassandra_options,
    kafka_options,
    option,
    topic_options,
    warn_deprecated_envvars,
)
from vitals.cli_patient import patient
from vitals.cli_produce import produce
from vitals.cli_rules import rules
from vitals.cli_serve import serve
from vitals.cli_views import query, status, watch
from vitals.config import CassandraSettings, KafkaSettings

# --- the group ---------------------------------------------------------------------------


@click.group(cls=VitalsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@option("--debug", is_flag=True, envvar="VITALS_DEBUG", help="Show tracebacks and debug logs.")
@click.version_option(__version__, prog_name="vitals")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Real-time patient vital-signs monitor: bedside readings → Kafka → Cassandra.

    \b
    Typical session (each in its own terminal):
      vitals init                      # schema + topics, once
      vitals consume                   # one or more: one group shares the topic's
                                       # partitions (init --partitions, default 6);
                                       # members beyond that many sit idle
      vitals produce --patient-count 10
      vitals query P001 --since 1h
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    warn_deprecated_envvars()
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not debug:
        # the driver logs every connection retry; the consumer reports outages itself
        logging.getLogger("cassandra").setLevel(logging.CRITICAL)
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


@cli.command()
@option(
    "--partitions",
    envvar="VITALS_PARTITIONS",
    default=6,
    type=click.IntRange(1, 1000),
    help="Partitions of the readings topic (the most consumers that can share the work).",
)
@option(
    "--replication-factor",
    envvar="VITALS_REPLICATION_FACTOR",
    default=1,
    type=click.IntRange(1, 10),
    help="Copies of every reading in Kafka and Cassandra (≥2: NetworkTopologyStrategy, min.insync.replicas=N-1).",
)
@option(
    "--retention-days",
    envvar="VITALS_RETENTION_DAYS",
    type=click.FloatRange(0, 7300),
    help="Delete readings this many days after they are written (0: keep forever). "
    "Default: leave as set (a new keyspace keeps readings forever).",
)
@option(
    "--alert-retention-days",
    envvar="VITALS_ALERT_RETENTION_DAYS",
    type=click.FloatRange(0, 7300),
    help="Delete alert history (raised, cleared, acknowledged; audio pauses) this many days "
    "after it is written (0: keep forever). Default: leave as set; a new keyspace keeps it "
    "2922 days (8 years: adult health records, NHS Records Management Code of Practice 2021).",
)
@option(
    "--audit-retention-days",
    envvar="VITALS_AUDIT_RETENTION_DAYS",
    type=click.FloatRange(0, 7300),
    help="Delete the audit trail (who saw which patient) this many days after it is written "
    "(0: keep forever). Default: leave as set; a new keyspace keeps it 2192 days (6 years: "
    "HIPAA security documentation, 45 CFR 164.316(b)(2)(i)).",
)
@topic_options
@kafka_options
@cassandra_options
def init(
    partitions: int,
    replication_factor: int,
    retention_days: float | None,
    alert_retention_days: float | None,
    audit_retention_days: float | None,
    topic: str,
    alerts_topic: str,
    dlq_topic: str,
    kafka: KafkaSettings,
    cassandra: CassandraSettings,
) -> None:
    """Create the Cassandra schema (cql/*.cql) and the Kafka topics. Safe to run again.

    The topics are the ones `vitals produce` and `vitals consume` use (same options and
    VITALS_* variables): readings and alerts with --partitions partitions, dead letters 1.

    Retention: each kind of data expires on its own clock (the tables' default TTL, for rows
    written from then on); alert history and the audit trail outlive the readings.

    \b
    Examples:
      vitals init --partitions 12
      vitals init --retention-days 30 --alert-retention-days 2922 --audit-retention-days 2192
      vitals init --topic ward7.vitals --alerts-topic ward7.alerts --dlq-topic ward7.dlq
    """
    from vitals.admin import TopicSpec
    from vitals.admin import init as do_init

    topics = [
        TopicSpec(topic, partitions),
        TopicSpec(alerts_topic, partitions),
        TopicSpec(dlq_topic, 1),
    ]
    done = do_init(
        kafka=kafka,
        cassandra=cassandra,
        topics=topics,
        replication_factor=replication_factor,
        retention_days=retention_days,
        alert_retention_days=alert_retention_days,
        audit_retention_days=audit_retention_days,
    )
    click.echo(
        f"Cassandra: applied {len(done.statements)} statements to keyspace {cassandra.keyspace}"
    )
    for kind, days in done.retention.items():
        kept = f"{days:g} days" if days else "forever"
        click.echo(f"Cassandra: {kind} kept {kept} (rows written from now on)")
    for t in topics:
        state = "created" if t.name in done.created else "exists"
        click.echo(f"Kafka: topic {t.name} ({state})")
    for warning in done.warnings:
        click.echo(f"Warning: {warning}", err=True)


cli.add_command(produce)
cli.add_command(consume)
cli.add_command(serve)
cli.add_command(watch)
cli.add_command(query)
cli.add_command(status)
cli.add_command(patient)
cli.add_command(rules)
cli.add_command(monitoring)
cli.add_command(gateway)
cli.add_command(audit)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=argv, prog_name="vitals")
