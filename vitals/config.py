"""Typed, frozen settings, built once from flags / ``VITALS_*`` variables by the CLI.

Precedence: flag > environment variable > default (click does the first two).
Secrets (passwords) come only from environment variables or files, never from
a flag's value, and never appear in ``repr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vitals.errors import ConfigError, KafkaUnavailable

VITALS_TOPIC = "patient.vitals"
ALERTS_TOPIC = "patient.alerts"
DLQ_TOPIC = "patient.vitals.dlq"
KEYSPACE = "hospital"
GROUP = "vitals-monitor"

CONSISTENCY_LEVELS = (
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "ALL",
    "LOCAL_ONE",
)


def split_hosts(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    hosts = tuple(h.strip() for h in items if h.strip())
    if not hosts:
        raise ConfigError("no host given; expected a comma-separated list such as 127.0.0.1:9092")
    return hosts


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: tuple[str, ...] = ("127.0.0.1:9092",)
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str | None = None  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    request_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.security_protocol.startswith("SASL_"):
            missing = [
                what
                for what, value in (
                    ("user (--kafka-username / VITALS_KAFKA_USERNAME)", self.sasl_username),
                    (
                        "password (VITALS_KAFKA_PASSWORD or --kafka-password-file)",
                        self.sasl_password,
                    ),
                )
                if not value
            ]
            if missing:
                raise ConfigError(
                    f"--kafka-security-protocol {self.security_protocol} logs in with a user "
                    f"and a password; missing: the {' and the '.join(missing)}"
                )

    def unreachable(self) -> KafkaUnavailable:
        from vitals.tls_check import kafka_problem  # a TLS or login mistake, named

        problem = kafka_problem(self)
        if problem:
            return KafkaUnavailable(problem)
        return KafkaUnavailable(
            f"cannot reach Kafka at {','.join(self.bootstrap_servers)} within "
            f"{self.request_timeout_s:g} s; is it running? (`make up` starts a local one; "
            "--bootstrap-servers / VITALS_BOOTSTRAP_SERVERS)"
        )

    def client_kwargs(self) -> dict[str, object]:
        kw: dict[str, object] = {
            "bootstrap_servers": list(self.bootstrap_servers),
            "security_protocol": self.security_protocol,
            "bootstrap_timeout_ms": int(self.request_timeout_s * 1000),
        }
        if self.sasl_mechanism:
            kw.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        if self.ssl_cafile:
            kw["ssl_cafile"] = self.ssl_cafile
        return kw


KEYSPACE_RULE = re.compile(r"[a-z][a-z0-9_]{0,47}")


def check_keyspace(name: str) -> None:
    """Refuse a keyspace ``name`` that is not ``[a-z][a-z0-9_]{0,47}``: Cassandra folds an
    unquoted name to lower case (``Nc2Upper`` would be created as ``nc2upper`` and then not
    be found under the name given), and takes at most 48 letters, digits or underscores.
    Raises ``ConfigError`` naming the name, the rule and, for upper case, the name to use."""
    if KEYSPACE_RULE.fullmatch(name or ""):
        return
    where = "(--keyspace / VITALS_KEYSPACE)"
    lower = (name or "").lower()
    if name != lower and KEYSPACE_RULE.fullmatch(lower):
        raise ConfigError(
            f"keyspace name {name!r} is not all lower case: Cassandra would make it {lower!r} "
            f"and then not find {name!r}; use --keyspace {lower} {where}"
        )
    raise ConfigError(
        f"keyspace name {name!r} is not valid: use a lower-case letter, then up to 47 "
        f"lower-case letters, digits or underscores (48 at most), e.g. hospital_ward7 {where}"
    )


@dataclass(frozen=True)
class CassandraSettings:
    hosts: tuple[str, ...] = ("127.0.0.1",)
    port: int = 9042
    keyspace: str = KEYSPACE
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    local_dc: str | None = None  # None: learnt from the first contact point
    consistency: str = "LOCAL_QUORUM"
    ssl_cafile: str | None = None
    connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        check_keyspace(self.keyspace)
        if self.consistency.upper() not in CONSISTENCY_LEVELS:
            raise ConfigError(
                f"consistency level {self.consistency!r} is not one of "
                f"{', '.join(CONSISTENCY_LEVELS)}"
            )


@dataclass(frozen=True)
class WriterSettings:
    """How the consumer writes to Cassandra (``vitals.store.Writer``; its defaults are these)."""

    batch_rows: int = 30  # rows per unlogged batch (stays under Cassandra's 5 KiB warning)
    concurrency: int = 48  # Cassandra requests in flight
    retry_max_s: float = 2.0  # longest back-off between write retries, seconds


@dataclass(frozen=True)
class ConsumerSettings:
    """What one consumer-group member reads, where it publishes, and how it polls
    (``vitals.consumer.VitalsConsumer``). How it writes: ``WriterSettings``."""

    topic: str = VITALS_TOPIC
    group: str = GROUP
    alerts_topic: str = ALERTS_TOPIC
    dlq_topic: str = DLQ_TOPIC
    max_poll_records: int = 5000  # records per poll: one write cycle
    # how often (s) each patient's newest values are written to ``patient_latest`` and the
    # offsets of the polls written since are committed; 0 = after every poll
    commit_interval_s: float = 1.0
    # no record from a patient for this long (s, wall clock) -> telemetry lost; 0 = off
    telemetry_timeout_s: float = 30.0
