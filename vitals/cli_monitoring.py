"""``vitals monitoring end``: end the monitoring of a patient on purpose, recorded."""

from __future__ import annotations

import getpass

import click

from vitals.cli_options import (
    alerts_topic_option,
    cassandra_options,
    kafka_options,
    option,
)
from vitals.config import CassandraSettings, KafkaSettings


@click.group()
def monitoring() -> None:
    """Monitoring of a patient: end it on purpose (discharge, transfer, monitor removed)."""


@monitoring.command("end")
@click.argument("patient")
@option(
    "--by",
    default=lambda: getpass.getuser(),
    show_default="your login name",
    help="Who ends the monitoring (recorded with the time).",
)
@option("--reason", default="", help="Why, e.g. 'discharged' (recorded).")
@alerts_topic_option
@kafka_options
@cassandra_options
def end(
    patient: str,
    by: str,
    reason: str,
    alerts_topic: str,
    kafka: KafkaSettings,
    cassandra: CassandraSettings,
) -> None:
    """End monitoring of PATIENT: no 'telemetry lost' alarm once its readings stop.

    The consumer that owns the patient closes its active alerts (reason
    "monitoring ended") within seconds. A reading that arrives later starts
    monitoring again.

    \b
    Example:
      vitals monitoring end P007 --by "RN Okafor" --reason discharged
    """
    from vitals.monitoring import end_monitoring, event_json
    from vitals.producer import make_producer
    from vitals.store import connect

    cluster, session = connect(cassandra)
    try:
        event = end_monitoring(session, patient, by=by, reason=reason)
    finally:
        cluster.shutdown()
    producer = make_producer(kafka, client_id="vitals-monitoring")
    try:
        producer.send(alerts_topic, key=patient.encode(), value=event_json(event)).get(
            timeout=kafka.request_timeout_s
        )
    finally:
        producer.close(timeout=10)
    click.echo(f"{event['message']} at {event['timestamp']} (patient {patient})")
