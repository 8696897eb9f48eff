"""Options and helpers shared by the ``vitals`` commands (click only; no Kafka/Cassandra logic)."""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from vitals.config import (
    ALERTS_TOPIC,
    CONSISTENCY_LEVELS,
    DLQ_TOPIC,
    GROUP,
    VITALS_TOPIC,
    CassandraSettings,
    KafkaSettings,
    split_hosts,
)
from vitals.errors import VitalsError, from_driver

F = TypeVar("F", bound=Callable[..., Any])

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
    """Turns every ``VitalsError``, and every Kafka or Cassandra driver error that escaped a
    command (``errors.from_driver``), into one ``Error: …`` line (traceback only with --debug)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except VitalsError as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise UserError(str(e), e.exit_code) from None
        except Exception as e:
            err = from_driver(e)
            if err is None or (ctx.obj and ctx.obj.get("debug")):
                raise
            raise UserError(str(err), err.exit_code) from None


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
            option = "--" + envvar.removeprefix("VITALS_").lower().replace("_", "-") + "-file"
            raise click.BadParameter(
                f"cannot read {file_opt}: {e.strerror}", param_hint=f"'{option}'"
            ) from None
    return os.environ.get(envvar) or None


# --- shared options ----------------------------------------------------------------------
# Every option that more than one command takes is declared here, once: one flag, one
# ``VITALS_*`` variable, one meaning (tests/unit/test_cli_contract.py fails otherwise).

#: Old variable names still read, with a warning, and the name that replaced each.
DEPRECATED_ENVVARS = {
    "VITALS_WATCH_STALE_AFTER": "VITALS_STALE_AFTER",
    "VITALS_STATUS_GROUP": "VITALS_GROUP",
}


def option(*decls: str, **attrs: Any) -> Callable[[F], F]:
    """``click.option`` the vitals way: its ``VITALS_*`` variable and default shown in --help."""
    if attrs.get("envvar"):
        attrs.setdefault("show_envvar", True)
    if attrs.get("default") != "":  # an empty default is not worth a "[default: ""]"
        attrs.setdefault("show_default", True)
    return click.option(*decls, **attrs)


def options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Several option decorators as one, in --help order."""

    def apply(f: F) -> F:
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply


def warn_deprecated_envvars() -> None:
    """One line on stderr per deprecated variable set (they still work, see DEPRECATED_ENVVARS)."""
    for old, new in DEPRECATED_ENVVARS.items():
        if old in os.environ:
            click.echo(f"warning: {old} is deprecated; use {new}", err=True)


group_option = option(
    "--group",
    envvar=["VITALS_GROUP", "VITALS_STATUS_GROUP"],  # the second: deprecated
    help=f"Kafka consumer group: the one `vitals consume` joins (its members share the "
    f"partitions; default {GROUP}); `vitals status` shows only it (default: every group). "
    "(VITALS_STATUS_GROUP: deprecated name).",
)
topic_option = option(
    "--topic", envvar="VITALS_TOPIC", default=VITALS_TOPIC, help="Kafka topic of readings."
)
alerts_topic_option = option(
    "--alerts-topic",
    envvar="VITALS_ALERTS_TOPIC",
    default=ALERTS_TOPIC,
    help="Kafka topic of alert events (raised/cleared alerts, acknowledgements, ends of monitoring).",
)
dlq_topic_option = option(
    "--dlq-topic",
    envvar="VITALS_DLQ_TOPIC",
    default=DLQ_TOPIC,
    help="Dead-letter topic for invalid messages (original bytes + reason headers).",
)
#: --topic, --alerts-topic, --dlq-topic: the pipeline's three topics (init, consume).
topic_options = options(topic_option, alerts_topic_option, dlq_topic_option)

#: produce and consume: a rate line instead of a line per reading.
quiet_option = option(
    "--quiet",
    "-q",
    envvar="VITALS_QUIET",
    is_flag=True,
    help="No line per reading; a rate summary on stderr instead (every 2 s produce, 5 s consume).",
)
rules_option = option(
    "--rules",
    "rules_file",
    envvar="VITALS_RULES",
    type=click.Path(dir_okay=False),
    help="Alert rules YAML (default: the rules shipped with vitals); `consume` reloads it on SIGHUP.",
)
labels_option = option(
    "--labels",
    envvar="VITALS_LABELS",
    type=click.Path(dir_okay=False),
    help="Ground truth JSON (deterioration episodes and artifacts, with times): random-mode "
    "`produce` writes it, `rules replay` reads it for the alarm-quality report.",
)


def patient_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: hold a PATIENT argument or option to the one patient-id rule
    (``vitals.readings.check_patient_id``) before anything is connected to; None passes."""
    if value is None:
        return None
    from vitals.errors import InvalidReading
    from vitals.readings import check_patient_id

    try:
        check_patient_id(value)
    except InvalidReading as e:
        raise click.BadParameter(e.reason) from None
    return value


def check_writable(path: str | None, flag: str) -> None:
    """Refuse (exit 2, naming ``flag`` and ``path``) a file to be written whose directory is
    missing or not writable, before any work is done; no file is created."""
    if not path:
        return
    folder = Path(path).parent
    if not folder.is_dir():
        raise click.BadParameter(
            f"{path}: directory {folder} does not exist; create it or give another path",
            param_hint=flag,
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise click.BadParameter(f"{path}: directory {folder} is not writable", param_hint=flag)


@contextmanager
def writing(path: str, flag: str) -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` (given by ``flag``) into one ``Error:``
    line naming both (exit 2) instead of a traceback."""
    try:
        yield
    except OSError as e:
        raise click.BadParameter(
            f"{path}: cannot be written: {e.strerror or e}", param_hint=flag
        ) from None


stale_after_option = option(
    "--stale-after",
    envvar=["VITALS_STALE_AFTER", "VITALS_WATCH_STALE_AFTER"],  # the second: deprecated
    type=click.FloatRange(1, 86_400),
    default=30.0,
    help="Seconds without a reading after which a patient is marked STALE "
    "(VITALS_WATCH_STALE_AFTER: deprecated name).",
)


def _census_window(ctx: click.Context, param: click.Parameter, value: str) -> timedelta:
    from vitals.census import window_from

    try:
        return window_from(value)
    except VitalsError as e:
        raise click.BadParameter(str(e)) from None


census_window_option = option(
    "--census-window",
    envvar="VITALS_CENSUS_WINDOW",
    default="12h",  # vitals.census.CENSUS_WINDOW (not imported here: the CLI starts light)
    callback=_census_window,
    help="A patient without a reading for this long leaves the boards (30m, 12h, 2d): the "
    "census is who is monitored now; ending monitoring takes a patient off at once.",
)


def _kafka(kw: dict[str, Any]) -> KafkaSettings:
    """The Kafka flags of ``kw`` (taken out of it) as one frozen ``KafkaSettings``."""
    return KafkaSettings(
        bootstrap_servers=split_hosts(kw.pop("bootstrap_servers")),
        security_protocol=kw.pop("kafka_security_protocol"),
        sasl_mechanism=kw.pop("kafka_sasl_mechanism"),
        sasl_username=kw.pop("kafka_username"),
        sasl_password=_secret("VITALS_KAFKA_PASSWORD", kw.pop("kafka_password_file")),
        ssl_cafile=kw.pop("kafka_ca_file"),
    )


def _cassandra(kw: dict[str, Any]) -> CassandraSettings:
    """The Cassandra flags of ``kw`` (taken out of it) as one ``CassandraSettings``."""
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


def settings_from(build: Callable[[dict[str, Any]], object], name: str) -> Callable[[F], F]:
    """Hand the command one settings object ``name`` built by ``build`` from its flags,
    instead of the flags themselves: flags/variables -> frozen settings -> objects."""

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def command(*args: Any, **kw: Any) -> Any:
            kw[name] = build(kw)
            return f(*args, **kw)

        return command  # type: ignore[return-value]

    return decorate


def _login_options(flag: str, server: str, *, user: str) -> Callable[[F], F]:
    """--FLAG-username, --FLAG-password-file, --FLAG-ca-file (``VITALS_FLAG_*``): how to log
    in to ``server``. The password itself only from ``VITALS_FLAG_PASSWORD`` or the file."""
    var = f"VITALS_{flag.upper()}"
    return options(
        option(
            f"--{flag}-username",
            envvar=f"{var}_USERNAME",
            help=f"{user} user; the password comes from {var}_PASSWORD or --{flag}-password-file.",
        ),
        option(
            f"--{flag}-password-file",
            envvar=f"{var}_PASSWORD_FILE",
            type=click.Path(dir_okay=False),
            help=f"File holding the {user} password (never pass a password as a flag).",
        ),
        option(
            f"--{flag}-ca-file",
            envvar=f"{var}_CA_FILE",
            type=click.Path(dir_okay=False, exists=True),
            help=f"CA certificate for {server} TLS.",
        ),
    )


#: The Kafka connection flags; the command receives them as ``kafka: KafkaSettings``.
_kafka_flags = options(
    option(
        "--bootstrap-servers",
        envvar="VITALS_BOOTSTRAP_SERVERS",
        default=",".join(KafkaSettings.bootstrap_servers),
        help="Kafka brokers, comma-separated host:port.",
    ),
    option(
        "--kafka-security-protocol",
        envvar="VITALS_KAFKA_SECURITY_PROTOCOL",
        type=click.Choice(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]),
        default=KafkaSettings.security_protocol,
        help="How to talk to Kafka.",
    ),
    option(
        "--kafka-sasl-mechanism",
        envvar="VITALS_KAFKA_SASL_MECHANISM",
        type=click.Choice(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]),
        help="SASL mechanism (with SASL_* protocols).",
    ),
    _login_options("kafka", "Kafka", user="SASL"),
)

#: The Cassandra connection flags; the command receives them as ``cassandra: CassandraSettings``.
_cassandra_flags = options(
    option(
        "--cassandra-hosts",
        envvar="VITALS_CASSANDRA_HOSTS",
        default=",".join(CassandraSettings.hosts),
        help="Cassandra contact points, comma-separated.",
    ),
    option(
        "--cassandra-port",
        envvar="VITALS_CASSANDRA_PORT",
        default=CassandraSettings.port,
        type=click.IntRange(1, 65535),
        help="Cassandra native protocol port.",
    ),
    option(
        "--keyspace",
        envvar="VITALS_KEYSPACE",
        default=CassandraSettings.keyspace,
        help="Cassandra keyspace: a lower-case letter, then lower-case letters, digits or "
        "underscores (48 at most).",
    ),
    _login_options("cassandra", "Cassandra", user="Cassandra"),
    option(
        "--local-dc",
        envvar="VITALS_LOCAL_DC",
        help="Cassandra datacenter to prefer (default: that of the first contact point).",
    ),
    option(
        "--consistency",
        envvar="VITALS_CONSISTENCY",
        type=UpperChoice(CONSISTENCY_LEVELS),
        default=CassandraSettings.consistency,
        help="Write/read consistency level.",
    ),
)

kafka_options = options(_kafka_flags, settings_from(_kafka, "kafka"))
cassandra_options = options(_cassandra_flags, settings_from(_cassandra, "cassandra"))


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
