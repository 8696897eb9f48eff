"""``vitals gateway``: receive HL7 v2 ORU^R01 (IHE PCD-01) over MLLP, publish readings to Kafka."""

from __future__ import annotations

import asyncio
import signal

import click

from vitals.cli_options import dlq_topic_option, kafka_options, option, topic_option
from vitals.config import KafkaSettings


@click.command()
@option(
    "--host",
    envvar="VITALS_GATEWAY_HOST",
    default="127.0.0.1",
    help="Address to listen on; any other than loopback needs --allow.",
)
@option(
    "--port",
    envvar="VITALS_GATEWAY_PORT",
    type=click.IntRange(0, 65535),
    default=2575,
    help="MLLP port (2575 is HL7's registered port; 0 picks a free one).",
)
@option(
    "--allow",
    envvar="VITALS_GATEWAY_ALLOW",
    multiple=True,
    help="Sender address or network allowed to connect (repeat, or comma-separated).",
)
@option(
    "--tls-cert",
    envvar="VITALS_GATEWAY_TLS_CERT",
    type=click.Path(dir_okay=False, exists=True),
    help="Serve MLLP over TLS with this certificate (PEM), with --tls-key.",
)
@option(
    "--tls-key",
    envvar="VITALS_GATEWAY_TLS_KEY",
    type=click.Path(dir_okay=False, exists=True),
    help="Private key (PEM) of --tls-cert.",
)
@option(
    "--tls-client-ca",
    envvar="VITALS_GATEWAY_TLS_CLIENT_CA",
    type=click.Path(dir_okay=False, exists=True),
    help="Require sender certificates signed by this CA (mutual TLS).",
)
@option(
    "--codes",
    envvar="VITALS_GATEWAY_CODES",
    type=click.Path(dir_okay=False, exists=True),
    help="Extra code table (YAML, same form as vitals/hl7_codes.yaml) for vendor codes.",
)
@option(
    "--patient-component",
    envvar="VITALS_GATEWAY_PATIENT_COMPONENT",
    type=click.IntRange(1, 10),
    default=1,
    help="Component of PID-3 that holds the patient id.",
)
@option(
    "--patient-id-type",
    envvar="VITALS_GATEWAY_PATIENT_ID_TYPE",
    help="Use the PID-3 repetition with this identifier type (PID-3.5, e.g. MR); default: the first.",
)
@option(
    "--timezone",
    "tz_name",
    envvar="VITALS_GATEWAY_TIMEZONE",
    default="UTC",
    help="Zone of HL7 times written without an offset when MSH-7 has none (IANA name).",
)
@option(
    "--ack-timeout",
    envvar="VITALS_GATEWAY_ACK_TIMEOUT",
    type=click.FloatRange(0.1, 300),
    default=10.0,
    help="Seconds to wait for Kafka's acknowledgement before answering AR.",
)
@topic_option
@dlq_topic_option
@kafka_options
def gateway(
    host: str,
    port: int,
    allow: tuple[str, ...],
    tls_cert: str | None,
    tls_key: str | None,
    tls_client_ca: str | None,
    codes: str | None,
    patient_component: int,
    patient_id_type: str | None,
    tz_name: str,
    ack_timeout: float,
    topic: str,
    dlq_topic: str,
    kafka: KafkaSettings,
) -> None:
    """Receive HL7 v2 ORU^R01 (IHE PCD-01) over MLLP and publish readings to Kafka.

    Each message is answered AA once Kafka has acknowledged its readings, AE (with an
    ERR segment, original in the dead-letter topic) if it cannot be mapped, AR while
    Kafka is unreachable. Each OBX belongs to the patient of the PID before it; one
    reading per patient and observation time (OBX-14, else OBR-7, else MSH-7; at least
    to the minute); MDC codes of the PCD-01 profile, vendor codes from --codes.

    \b
    Examples:
      vitals gateway
      vitals gateway --host 0.0.0.0 --allow 10.20.0.0/16 --tls-cert gw.pem --tls-key gw.key
      vitals gateway --codes site_codes.yaml --patient-id-type MR --timezone Europe/London
    """
    from vitals.gateway import Gateway, GatewaySettings, parse_networks
    from vitals.hl7_mapping import MappingOptions, load_table, timezone

    mapping = MappingOptions(
        table=load_table(codes),
        patient_component=patient_component,
        patient_id_type=patient_id_type,
        default_tz=timezone(tz_name),
    )
    settings = GatewaySettings(
        mapping=mapping,
        host=host,
        port=port,
        allow=parse_networks(allow),
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        topic=topic,
        dlq_topic=dlq_topic,
        ack_timeout_s=ack_timeout,
    )
    from vitals.ports import require_free_port

    require_free_port(host, port)
    gw = Gateway(settings, kafka)
    gw.check_topics()
    asyncio.run(_run(gw))
    click.echo(f"Stopped: {gw.stats.summary()}", err=True)


async def _run(gw) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tls = " (TLS)" if gw.settings.tls_cert else ""

    def listening(host: str, port: int) -> None:
        click.echo(f"Listening for HL7 MLLP on {host}:{port}{tls}", err=True)

    await gw.serve(stop, listening)
