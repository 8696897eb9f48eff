"""Options and helpers shared by the ``vitals`` commands (click only; no Kafka/Cassandra logic)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from vitals.config import (
    ALERTS_TOPIC,
    CONSISTENCY_LEVELS,
    DLQ_TOPIC,
    KEYSPACE,
    VITALS_TOPIC,
    CassandraSettings,
    KafkaSettings,
    split_hosts,
)
from vitals.errors import VitalsError

SEVERITY_COLOUR = {"high": "red", "medium": "yellow", "low": "cyan"}


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 reading``, ``2 readings``, ``0 readings`` (``nouns`` for irregular plurals)."""
    return f"{n:,} {noun if n == 1 else (nouns or noun + 's')}"


class UpperChoice(click.Choice):
    """Choices matched in any case but shown (in --help, errors) and returned in upper
    case, as CQL writes consistency levels."""

    def __init__(self, choices: Sequence[str]) -> None:
        super().__init__([c.upper() for c in choices], case_sensitive=True)

    def normalize_choice(self, choice: object, ctx: click.Context | None) -> str:
        return super().normalize_choice(choice, ctx).upper()


class UserError(click.ClickException):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class VitalsGroup(click.Group):
    """Turns every ``VitalsError`` into one ``Error: …`` line (traceback only with --debug)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except VitalsError as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise UserError(str(e), e.exit_code) from None


def use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, colour: str | None, *, bold: bool = False) -> str:
    if not colour or not use_colour():
        return text
    return click.style(text, fg=colour, bold=bold)


def _secret(envvar: str, file_opt: str | None) -> str | None:
    if file_opt:
        try:
            return Path(file_opt).read_text().strip()
        except OSError as e:
            raise click.BadParameter(f"cannot read {file_opt}: {e.strerror}") from None
    return os.environ.get(envvar) or None


# --- shared options ----------------------------------------------------------------------


def topic_options(f: Callable) -> Callable:
    """--topic, --alerts-topic, --dlq-topic: the pipeline's three topics (init, consume)."""
    opts = [
        click.option(
            "--topic",
            envvar="VITALS_TOPIC",
            show_envvar=True,
            default=VITALS_TOPIC,
            show_default=True,
            help="Kafka topic of readings.",
        ),
        click.option(
            "--alerts-topic",
            envvar="VITALS_ALERTS_TOPIC",
            show_envvar=True,
            default=ALERTS_TOPIC,
            show_default=True,
            help="Kafka topic where raised/cleared alerts are published.",
        ),
        click.option(
            "--dlq-topic",
            envvar="VITALS_DLQ_TOPIC",
            show_envvar=True,
            default=DLQ_TOPIC,
            show_default=True,
            help="Dead-letter topic for invalid messages (original bytes + reason headers).",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def kafka_options(f: Callable) -> Callable:
    opts = [
        click.option(
            "--bootstrap-servers",
            envvar="VITALS_BOOTSTRAP_SERVERS",
            show_envvar=True,
            default="127.0.0.1:9092",
            show_default=True,
            help="Kafka brokers, comma-separated host:port.",
        ),
        click.option(
            "--kafka-security-protocol",
            envvar="VITALS_KAFKA_SECURITY_PROTOCOL",
            show_envvar=True,
            type=click.Choice(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]),
            default="PLAINTEXT",
            show_default=True,
            help="How to talk to Kafka.",
        ),
        click.option(
            "--kafka-sasl-mechanism",
            envvar="VITALS_KAFKA_SASL_MECHANISM",
            show_envvar=True,
            type=click.Choice(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]),
            help="SASL mechanism (with SASL_* protocols).",
        ),
        click.option(
            "--kafka-username",
            envvar="VITALS_KAFKA_USERNAME",
            show_envvar=True,
            help="SASL user; the password comes from VITALS_KAFKA_PASSWORD or --kafka-password-file.",
        ),
        click.option(
            "--kafka-password-file",
            envvar="VITALS_KAFKA_PASSWORD_FILE",
            show_envvar=True,
            type=click.Path(dir_okay=False),
            help="File holding the SASL password (never pass a password as a flag).",
        ),
        click.option(
            "--kafka-ca-file",
            envvar="VITALS_KAFKA_CA_FILE",
            show_envvar=True,
            type=click.Path(dir_okay=False, exists=True),
            help="CA certificate for Kafka TLS.",
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def cassandra_options(f: Callable) -> Callable:
    opts = [
        click.option(
            "--cassandra-hosts",
            envvar="VITALS_CASSANDRA_HOSTS",
            show_envvar=True,
            default="127.0.0.1",
            show_default=True,
            help="Cassandra contact points, comma-separated.",
        ),
        click.option(
            "--cassandra-port",
            envvar="VITALS_CASSANDRA_PORT",
            show_envvar=True,
            default=9042,
            show_default=True,
            type=click.IntRange(1, 65535),
            help="Cassandra native protocol port.",
        ),
        click.option(
            "--keyspace",
            envvar="VITALS_KEYSPACE",
            show_envvar=True,
            default=KEYSPACE,
            show_default=True,
            help="Cassandra keyspace.",
        ),
        click.option(
            "--cassandra-username",
            envvar="VITALS_CASSANDRA_USERNAME",
            show_envvar=True,
            help="Cassandra user; the password comes from VITALS_CASSANDRA_PASSWORD or --cassandra-password-file.",
        ),
        click.option(
            "--cassandra-password-file",
            envvar="VITALS_CASSANDRA_PASSWORD_FILE",
            show_envvar=True,
            type=click.Path(dir_okay=False),
            help="File holding the Cassandra password.",
        ),
        click.option(
            "--cassandra-ca-file",
            envvar="VITALS_CASSANDRA_CA_FILE",
            show_envvar=True,
            type=click.Path(dir_okay=False, exists=True),
            help="CA certificate for Cassandra TLS.",
        ),
        click.option(
            "--local-dc",
            envvar="VITALS_LOCAL_DC",
            show_envvar=True,
            help="Cassandra datacenter to prefer (default: that of the first contact point).",
        ),
        click.option(
            "--consistency",
            envvar="VITALS_CONSISTENCY",
            show_envvar=True,
            type=UpperChoice(CONSISTENCY_LEVELS),
            default="LOCAL_QUORUM",
            show_default=True,
            help="Write/read consistency level.",
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def kafka_settings(kw: dict) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=split_hosts(kw.pop("bootstrap_servers")),
        security_protocol=kw.pop("kafka_security_protocol"),
        sasl_mechanism=kw.pop("kafka_sasl_mechanism"),
        sasl_username=kw.pop("kafka_username"),
        sasl_password=_secret("VITALS_KAFKA_PASSWORD", kw.pop("kafka_password_file")),
        ssl_cafile=kw.pop("kafka_ca_file"),
    )


def cassandra_settings(kw: dict) -> CassandraSettings:
    return CassandraSettings(
        hosts=split_hosts(kw.pop("cassandra_hosts")),
        port=kw.pop("cassandra_port"),
        keyspace=kw.pop("keyspace"),
        username=kw.pop("cassandra_username"),
        password=_secret("VITALS_CASSANDRA_PASSWORD", kw.pop("cassandra_password_file")),
        ssl_cafile=kw.pop("cassandra_ca_file"),
        local_dc=kw.pop("local_dc"),
        consistency=kw.pop("consistency").upper(),
    )


def install_signals(
    on_stop: Callable[[], None], on_reload: Callable[[], None] | None = None
) -> None:
    """First Ctrl+C / SIGTERM: stop gracefully; a second Ctrl+C: stop now."""
    state = {"count": 0}

    def handler(signum: int, _frame: object) -> None:
        state["count"] += 1
        if state["count"] > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        on_stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    if on_reload is not None and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: on_reload())


class RateLine:
    """A periodic one-line summary on stderr (for --quiet)."""

    def __init__(self, every: float = 2.0) -> None:
        self.every = every
        self.started = self.last = time.monotonic()
        self.last_count = 0

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.every

    def rate(self, count: int) -> float:
        now = time.monotonic()
        r = (count - self.last_count) / max(now - self.last, 1e-9)
        self.last, self.last_count = now, count
        return r
