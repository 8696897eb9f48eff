"""The one error hierarchy of vitals.

Library code raises these; only ``cli.py`` turns them into ``Error: …`` lines.
Every message names the thing, the place and the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence


def did_you_mean(word: str, options: Sequence[str], *, cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options`` (``difflib`` similarity of at
    least ``cutoff``), or ``""``: the one home of this hint (rules files, HL7 code tables,
    reading fields, CSV columns)."""
    close = difflib.get_close_matches(word, options, n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


class VitalsError(Exception):
    """Root of every error vitals reports to a user."""

    exit_code = 1


class ConfigError(VitalsError):
    """Bad settings or bad input files: the user must change something (exit 2)."""

    exit_code = 2


class InputFileError(ConfigError):
    """A bad line in a user's file (CSV, rules): names FILE:LINE and the field."""

    def __init__(self, path: str, line: int | None, field: str | None, reason: str) -> None:
        self.path, self.line, self.field, self.reason = path, line, field, reason
        where = f"{path}:{line}" if line is not None else str(path)
        what = f"{field}: " if field else ""
        super().__init__(f"{where}: {what}{reason}")


class RulesError(InputFileError):
    """A mistake in a rules file."""


class CsvError(InputFileError):
    """A mistake in a CSV replay file."""


class ServiceError(VitalsError):
    """Kafka or Cassandra cannot be reached or refused what we asked."""


class KafkaUnavailable(ServiceError):
    pass


class CassandraUnavailable(ServiceError):
    pass


class InvalidReading(VitalsError):
    """A message that is not a valid reading; ``reason`` says what was wrong."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason, self.field = reason, field
        super().__init__(f"{field}: {reason}" if field else reason)


def from_driver(exc: BaseException) -> VitalsError | None:
    """The ``VitalsError`` for a Kafka or Cassandra driver error that escaped a command, or
    None if ``exc`` is not one. The one place where driver errors become one-line messages
    (``cli_options.VitalsGroup`` calls it); connect-time errors are named earlier by
    ``vitals.store.connect`` and ``vitals.producer``.
    """
    from cassandra import DriverException, RequestExecutionException, Unavailable
    from cassandra import UnresolvableContactPoints as Unresolvable
    from cassandra.cluster import NoHostAvailable
    from kafka.errors import KafkaError

    if isinstance(exc, Unresolvable):
        return CassandraUnavailable(
            "none of the Cassandra hosts resolves to an address; check the names given to "
            "--cassandra-hosts / VITALS_CASSANDRA_HOSTS"
        )
    causes = list(exc.errors.values()) if isinstance(exc, NoHostAvailable) else [exc]
    unavailable = [e for e in causes if isinstance(e, Unavailable)]
    if unavailable:
        return CassandraUnavailable(_unavailable(unavailable[0]))
    if isinstance(exc, NoHostAvailable):
        reasons = "; ".join(
            f"{getattr(h, 'address', h)}: {_short(e)}" for h, e in exc.errors.items()
        )
        return CassandraUnavailable(
            f"no Cassandra node could serve the request ({reasons or exc}); is it running?"
        )
    if isinstance(exc, (DriverException, RequestExecutionException)):
        return CassandraUnavailable(f"Cassandra refused the request: {_short(exc)}")
    if isinstance(exc, KafkaError):
        return KafkaUnavailable(f"Kafka refused the request: {type(exc).__name__}: {_short(exc)}")
    return None


def _unavailable(e: BaseException) -> str:
    """One line for Cassandra's ``Unavailable``: the level, the replicas needed and alive."""
    from cassandra import ConsistencyLevel

    level = ConsistencyLevel.value_to_name.get(getattr(e, "consistency", None), "?")
    need, alive = getattr(e, "required_replicas", "?"), getattr(e, "alive_replicas", "?")
    return (
        f"Cassandra cannot achieve consistency level {level}: it needs {need} replicas "
        f"and {alive} alive; the keyspace's replication factor is larger than the nodes "
        "that are up. Start the missing nodes, lower --consistency / VITALS_CONSISTENCY "
        "(e.g. ONE), or lower the keyspace's replication (ALTER KEYSPACE … WITH replication)"
    )


def _short(err: object) -> str:
    text = str(err)
    return text if len(text) < 200 else text[:200] + "…"
