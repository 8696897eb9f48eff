"""What the consumer tells its user (``Reporter``, implemented by the CLI) and its counters.

Library code never prints: every outcome a user sees goes through a ``Reporter``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kafka import TopicPartition

from vitals.readings import Reading
from vitals.rules import AlertEvent


class Reporter(Protocol):
    """What the consumer tells its user; the CLI implements it (library code never prints)."""

    def assigned(self, partitions: Sequence[TopicPartition]) -> None: ...
    def revoked(self, partitions: Sequence[TopicPartition]) -> None: ...
    def reading(
        self, reading: Reading, news2: int | None, events: Sequence[AlertEvent]
    ) -> None: ...
    def dead_letter(self, topic: str, partition: int, offset: int, reason: str) -> None: ...
    def waiting(self, what: str, count: int, delay: float, error: object) -> None: ...
    def recovered(self, what: str) -> None: ...
    def committed(self, stats: Stats) -> None: ...
    def alerts(self, events: Sequence[AlertEvent]) -> None: ...


class SilentReporter:
    def assigned(self, partitions: Sequence[TopicPartition]) -> None: ...
    def revoked(self, partitions: Sequence[TopicPartition]) -> None: ...
    def reading(
        self, reading: Reading, news2: int | None, events: Sequence[AlertEvent]
    ) -> None: ...
    def dead_letter(self, topic: str, partition: int, offset: int, reason: str) -> None: ...
    def waiting(self, what: str, count: int, delay: float, error: object) -> None: ...
    def recovered(self, what: str) -> None: ...
    def committed(self, stats: Stats) -> None: ...
    def alerts(self, events: Sequence[AlertEvent]) -> None: ...


@dataclass
class Stats:
    consumed: int = 0
    stored: int = 0
    dead_lettered: int = 0
    alerts_raised: int = 0
    alerts_cleared: int = 0
    alerts_escalated: int = 0
    batches: int = 0
    latest_upserts: int = 0  # patient_latest rows written (see ``flush_latest``)
    last_commit: float | None = None
    alerts_by_severity: dict[str, int] = field(default_factory=dict)
