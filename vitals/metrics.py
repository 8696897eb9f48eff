"""Prometheus metrics and a health check of ``vitals consume --metrics-port N``.

Counters only go up, from the consumer's write path: a record is *consumed*
when polled, *stored* or *dead-lettered* once the writes and deliveries that
cover it succeeded. ``vitals_consumer_lag_records{topic,partition}`` is read
from Kafka at scrape time for the partitions this member owns: end offset minus
the group's committed offset, i.e. records not yet stored (0 on an idle ward).
No patient id is ever a label.

HTTP (loopback unless ``--metrics-host`` says otherwise): ``/metrics`` in the
Prometheus text format; ``/health`` is 200 ``{"status": "ok", …}`` once the
member owns partitions and no server outage is being waited out, else 503 with
the reason (``starting``, ``no partitions``, ``Cassandra unavailable``…).
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from wsgiref.simple_server import WSGIRequestHandler, make_server

from kafka.errors import KafkaError
from kafka.structs import TopicPartition
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    make_wsgi_app,
    platform_collector,
    process_collector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from vitals.config import KafkaSettings
from vitals.errors import ConfigError, VitalsError

log = logging.getLogger(__name__)

SEVERITIES = ("high", "medium", "low")


class Metrics:
    """The consumer's metrics in their own registry; ``serve(port)`` exposes them over HTTP."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.server: ThreadingWSGIServer | None = None  # set by ``serve``
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
        self.escalated = Counter(
            "vitals_alerts_escalated",
            "Active alerts escalated to a higher severity, by the new severity.",
            ["severity"],
            registry=r,
        )
        for s in SEVERITIES:  # every series exists from the start (rate() needs a zero)
            self.alerts.labels(s)
            self.cleared.labels(s)
            self.escalated.labels(s)
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
            elif e.kind == "escalated":
                self.escalated.labels(e.severity).inc()

    def observe_commit(self, when: float) -> None:
        self.last_commit.set(when)

    # serving ----------------------------------------------------------------------------------

    @classmethod
    def serve(
        cls,
        port: int,
        addr: str = "127.0.0.1",
        *,
        lag: GroupLag | None = None,
        health: MemberHealth | None = None,
    ) -> Metrics:
        """Metrics with the process collectors (and the group's lag, if given), served at
        http://ADDR:PORT/metrics, with ``health`` at /health. ``ConfigError`` if the
        address cannot be bound."""
        m = cls()
        process_collector.ProcessCollector(registry=m.registry)
        platform_collector.PlatformCollector(registry=m.registry)
        gc_collector.GCCollector(registry=m.registry)
        if lag is not None:
            m.registry.register(lag)
        m.server = serve_http(addr, port, m.registry, health or MemberHealth())
        return m


# --- lag -------------------------------------------------------------------------------------


class GroupLag(Collector):
    """``vitals_consumer_lag_records`` of the partitions this member owns, read at scrape
    time with the Kafka admin API (as ``vitals status`` does), bounded by ``timeout`` s.

    ``assign``/``revoke`` follow the member's partitions (the CLI's rebalance reports).
    If Kafka does not answer, the scrape has no lag samples (and logs why) rather than
    stale ones.
    """

    def __init__(self, kafka: KafkaSettings, group: str, *, timeout: float = 5.0) -> None:
        self.kafka = replace(kafka, request_timeout_s=timeout)
        self.group = group
        self._owned: set[TopicPartition] = set()
        self._lock = threading.Lock()
        self._admin = None

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        with self._lock:
            self._owned = set(partitions)

    def revoke(self, partitions: Iterable[TopicPartition]) -> None:
        with self._lock:
            self._owned -= set(partitions)

    def lag(self) -> dict[TopicPartition, int]:
        """Records not yet committed per owned partition (KafkaError/VitalsError if down)."""
        from vitals.admin import admin_client
        from vitals.status import groups_status

        with self._lock:
            owned = set(self._owned)
            if not owned:
                return {}
            if self._admin is None:
                self._admin = admin_client(self.kafka)
            try:
                groups = groups_status(self._admin, self.group)
            except KafkaError:
                self._admin.close()
                self._admin = None
                raise
        parts = groups[0].partitions if groups else []
        return {tp: p.lag for p in parts if (tp := TopicPartition(p.topic, p.partition)) in owned}

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        try:
            lags = self.lag()
        except (KafkaError, VitalsError) as e:
            log.warning("consumer lag not read from Kafka: %s", e)
            lags = {}
        for tp, n in sorted(lags.items()):
            family.add_metric([tp.topic, str(tp.partition)], n)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "vitals_consumer_lag_records",
            "Records on a partition this member owns not yet stored and committed "
            "(end offset - committed offset), read from Kafka at scrape time.",
            labels=["topic", "partition"],
        )


# --- health ----------------------------------------------------------------------------------


class MemberHealth:
    """Whether this consumer does its work: owns partitions, no outage being waited out.

    Fed by the CLI's reporter (``assigned``/``revoked``/``outage``/``recovered``);
    thread-safe, read by the HTTP thread.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._partitions: set[tuple[str, int]] = set()
        self._joined = False
        self._outage: str | None = None
        self._since = clock()

    def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        with self._lock:
            self._joined = True
            self._partitions = {(tp.topic, tp.partition) for tp in partitions}

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        with self._lock:
            self._partitions -= {(tp.topic, tp.partition) for tp in partitions}

    def outage(self, what: str) -> None:
        with self._lock:
            self._outage = what

    def recovered(self) -> None:
        with self._lock:
            self._outage = None

    def status(self) -> tuple[int, dict]:
        """(HTTP status, body): 200 when healthy, 503 with ``reason`` when not."""
        with self._lock:
            body: dict = {
                "partitions": len(self._partitions),
                "uptime_s": round(self._clock() - self._since, 1),
            }
            if self._outage:
                reason = f"{self._outage} unavailable; holding writes and offsets"
            elif not self._joined:
                reason = "starting: not yet a member of the consumer group"
            elif not self._partitions:
                reason = "no partitions: more consumers than partitions in the group"
            else:
                return 200, {"status": "ok", **body}
            return 503, {"status": "unavailable", "reason": reason, **body}


# --- HTTP ------------------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not logged."""


def serve_http(
    addr: str, port: int, registry: CollectorRegistry, health: MemberHealth
) -> ThreadingWSGIServer:
    """/metrics and /health on a daemon thread; ``ConfigError`` naming the fix if the
    address cannot be bound."""
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path in ("/health", "/health/"):
            code, body = health.status()
            data = json.dumps(body).encode()
            reason = "OK" if code == 200 else "Service Unavailable"
            start_response(
                f"{code} {reason}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
            )
            return [data]
        if path in ("/", "/metrics"):
            return metrics_app(environ, start_response)
        data = b"not found: /metrics (Prometheus) and /health (JSON) are served here\n"
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [data]

    class Server(ThreadingWSGIServer):
        pass

    try:
        Server.address_family = socket.getaddrinfo(
            addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0][0]
        server = make_server(addr, port, app, Server, handler_class=_QuietHandler)
    except OSError as e:
        hint = (
            "another process listens there; pick another --metrics-port"
            if e.errno == errno.EADDRINUSE
            else "check --metrics-host / VITALS_METRICS_HOST and --metrics-port"
        )
        raise ConfigError(
            f"cannot serve metrics on {addr}:{port}: {e.strerror or e}; {hint}"
        ) from None
    threading.Thread(target=server.serve_forever, name="vitals-metrics", daemon=True).start()
    return server
