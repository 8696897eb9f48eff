"""The one error hierarchy of vitals.

Library code raises these; only ``cli.py`` turns them into ``Error: …`` lines.
Every message names the thing, the place and the fix.
"""

from __future__ import annotations


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
