"""The consumer group member: poll → validate → NEWS2 + rules → publish → write → commit.

Offsets are committed only after the poll's alerts and dead letters were acknowledged by
Kafka and its rows written to Cassandra (at-least-once, idempotent rows). ``loop``: the poll
loop and commits; ``records``: one poll's records and dead letters; ``ownership``: rebalance,
rule state across owners and the telemetry watch; ``reporting``: what the user is told.
"""

from vitals.consumer.loop import VitalsConsumer
from vitals.consumer.reporting import Reporter, SilentReporter, Stats

__all__ = ["Reporter", "SilentReporter", "Stats", "VitalsConsumer"]
