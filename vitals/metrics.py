"""Prometheus metrics of ``vitals consume --metrics-port N`` (the standard client library).

Counters only go up, from the consumer's write path: a record is *consumed*
when polled, *stored* or *dead-lettered* once the writes and deliveries that
cover it succeeded. No patient id is ever a label.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    platform_collector,
    process_collector,
    start_http_server,
)

from vitals.errors import ConfigError

SEVERITIES = ("high", "medium", "low")


class Metrics:
    """The consumer's metrics in their own registry; ``serve(port)`` exposes them over HTTP."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "vitals_readings_consumed", "Records polled from the readings topic.", registry=r
        )
        self.stored = Counter(
            "vitals_readings_stored", "Readings written to Cassandra.", registry=r
        )
        self.dead_lettered = Counter(
            "vitals_readings_dead_lettered",
            "Invalid records sent to the dead-letter topic.",
            registry=r,
        )
        self.alerts = Counter(
            "vitals_alerts_raised", "Alerts raised, by severity.", ["severity"], registry=r
        )
        self.cleared = Counter(
            "vitals_alerts_cleared", "Alerts cleared, by severity.", ["severity"], registry=r
        )
        for s in SEVERITIES:  # every series exists from the start (rate() needs a zero)
            self.alerts.labels(s)
            self.cleared.labels(s)
        self.write_seconds = Histogram(
            "vitals_write_seconds",
            "Time to write one poll's rows to Cassandra (including retries).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.batch_records = Histogram(
            "vitals_batch_records",
            "Records handled per poll (one write + commit cycle).",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000),
            registry=r,
        )
        self.last_commit = Gauge(
            "vitals_last_commit_timestamp_seconds",
            "Unix time of the last successful offset commit (0: none yet).",
            registry=r,
        )

    # called by VitalsConsumer ----------------------------------------------------------------

    def observe_write(self, seconds: float, rows: int) -> None:
        self.write_seconds.observe(seconds)

    def observe_batch(self, records: int, stored: int, dead: int, events: Iterable) -> None:
        self.consumed.inc(records)
        self.stored.inc(stored)
        self.dead_lettered.inc(dead)
        self.batch_records.observe(records)
        for e in events:
            if e.kind == "raised":
                self.alerts.labels(e.severity).inc()
            elif e.kind == "cleared":
                self.cleared.labels(e.severity).inc()

    def observe_commit(self, when: float) -> None:
        self.last_commit.set(when)

    # serving ----------------------------------------------------------------------------------

    @classmethod
    def serve(cls, port: int, addr: str = "0.0.0.0") -> Metrics:
        """Metrics with the process collectors, served at http://ADDR:PORT/metrics."""
        m = cls()
        process_collector.ProcessCollector(registry=m.registry)
        platform_collector.PlatformCollector(registry=m.registry)
        gc_collector.GCCollector(registry=m.registry)
        try:
            start_http_server(port, addr=addr, registry=m.registry)
        except OSError as e:
            hint = (
                "another process listens there; pick another --metrics-port"
                if e.errno == errno.EADDRINUSE
                else "check --metrics-port / VITALS_METRICS_PORT"
            )
            raise ConfigError(
                f"cannot serve metrics on {addr}:{port}: {e.strerror}; {hint}"
            ) from None
        return m
