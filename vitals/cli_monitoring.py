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
    monitoring again. Refused for a patient of whom no reading is stored; a
    patient whose monitoring already ended is reported, not ended twice.

    \b
    Example:
      vitals monitoring end P007 --by "RN Okafor" --reason discharged
    """
    from vitals.admin import require_topic
    from vitals.errors import KafkaUnavailable
    from vitals.monitoring import check_request, current_end, end_monitoring, event_json
    from vitals.producer import make_producer
    from vitals.store import connect

    check_request(patient, by=by)
    # Kafka first: an unreachable broker or a missing alerts topic stores nothing
    require_topic(kafka, alerts_topic)
    producer = make_producer(kafka, client_id="vitals-monitoring")
    try:
        cluster, session = connect(cassandra)
        try:
            ended = current_end(session, patient)
            if ended is not None:
                why = f": {ended['reason']}" if ended["reason"] else ""
                click.echo(
                    f"monitoring of {patient} already ended at {ended['ended_at'].isoformat()} "
                    f"by {ended['by']}{why}; nothing recorded"
                )
                return
            event = end_monitoring(session, patient, by=by, reason=reason)
        finally:
            cluster.shutdown()
        try:
            producer.send(alerts_topic, key=patient.encode(), value=event_json(event)).get(
                timeout=kafka.request_timeout_s
            )
        except Exception as e:
            raise KafkaUnavailable(
                f"monitoring of {patient} ended at {event['timestamp']}: stored in Cassandra "
                f"(keyspace {cassandra.keyspace}; the patient left the boards), but NOT "
                f"published on the alerts topic {alerts_topic!r} "
                f"({type(e).__name__}: {e}); the consumer that owns the patient learns of the "
                "end from Cassandra only once its readings stop"
            ) from None
    finally:
        producer.close(timeout=10)
    click.echo(f"{event['message']} at {event['timestamp']} (patient {patient})")
