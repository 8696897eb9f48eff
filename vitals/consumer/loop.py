"""The consumer loop: poll → validate → NEWS2 + rules → publish → write → commit.

Processing is synchronous per poll: a poll's alerts and dead letters are delivered
to Kafka, then its rows written to Cassandra, and only then are its offsets
committed, before the next poll. (Publishing first means a crash in between can
publish an alert twice, never lose it: a replay re-raises what was not stored.) Kafka runs rebalance callbacks inside ``poll``, so when partitions
are revoked everything this member processed is already committed: nothing is
committed early, nothing stored is re-read by the next owner.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError, KafkaTimeoutError
from kafka.structs import OffsetAndMetadata

from vitals.config import ConsumerSettings, KafkaSettings
from vitals.consumer.ownership import WATCH_EVERY_S, Ownership, _Listener
from vitals.consumer.records import RecordProcessing
from vitals.consumer.reporting import Reporter, SilentReporter, Stats
from vitals.errors import ConfigError
from vitals.producer import make_producer
from vitals.rules import AlertEvent, RuleEngine, RuleSet
from vitals.store import Writer
from vitals.telemetry import TelemetryWatch

log = logging.getLogger(__name__)


class VitalsConsumer(RecordProcessing, Ownership):
    """One member of the consumer group. ``run()`` until ``stop()``; then ``close()``."""

    def __init__(
        self,
        *,
        kafka: KafkaSettings,
        settings: ConsumerSettings,
        writer: Writer,
        rules: RuleSet,
        reporter: Reporter | None = None,
        rules_loader: Callable[[], RuleSet] | None = None,
        metrics: object | None = None,
    ) -> None:
        self.kafka = kafka
        self.settings = settings
        self.writer = writer
        self.engine = RuleEngine(rules)
        self.reporter: Reporter = reporter or SilentReporter()
        self.rules_loader = rules_loader
        self.metrics = metrics
        self.stats = Stats()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._patients_by_tp: dict[TopicPartition, set[str]] = {}
        self._tp_of: dict[str, TopicPartition] = {}
        self._known: set[str] = set()
        self.telemetry = TelemetryWatch(settings.telemetry_timeout_s)
        self._to_adopt: set[TopicPartition] = set()  # assigned, patients not yet adopted
        # telemetry state of the partitions just revoked, kept if they come straight back
        self._stash: dict[TopicPartition, dict[str, tuple]] = {}
        self._registered: set[tuple[TopicPartition, str]] = set()
        # restored in this poll with no end of monitoring stored: no resume to write
        self._no_end: set[str] = set()
        self._next_watch = 0.0
        self._next_ended_check = 0.0
        self._consumer: KafkaConsumer | None = None
        self._producer = None

    # control (safe from signal handlers) ----------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        where = ",".join(self.kafka.bootstrap_servers)
        try:
            self._consumer = KafkaConsumer(
                **self.kafka.client_kwargs(),
                group_id=self.settings.group,
                client_id="vitals-consumer",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=self.settings.max_poll_records,
                fetch_max_wait_ms=100,
                max_partition_fetch_bytes=1024 * 1024,  # 4 MB x 6 partitions cost ~30 MB RSS
                session_timeout_ms=10_000,
                heartbeat_interval_ms=2_000,
                max_poll_interval_ms=300_000,
                request_timeout_ms=int(self.kafka.request_timeout_s * 1000) + 15_000,
            )
        except KafkaTimeoutError:
            raise self.kafka.unreachable() from None
        topics = self._consumer.topics()
        if self.settings.topic not in topics:
            self._consumer.close()
            name = self.settings.topic
            raise ConfigError(
                f"topic {name!r} does not exist on {where}; "
                f"create it with `vitals init --topic {name}` (or check the name)"
            )
        self._producer = make_producer(self.kafka, client_id="vitals-consumer-out", linger_ms=2)
        self._consumer.subscribe([self.settings.topic], listener=_Listener(self))

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)  # leaves the group cleanly
        if self._producer is not None:
            self._producer.close(timeout=10)

    def run(self) -> Stats:
        """Consume until ``stop()``. Call ``open()`` first."""
        assert self._consumer is not None, "open() first"
        while not self._stop.is_set():
            if self._reload.is_set():
                self._reload.clear()
                self._reload_rules()
            try:
                polled = self._consumer.poll(timeout_ms=250)
            except KafkaError as e:
                self.reporter.waiting("Kafka", 0, 1.0, e)
                time.sleep(1.0)
                continue
            if self._to_adopt and not self._adopt():
                break
            if polled:
                if not self.process(polled):
                    break  # asked to stop while waiting for Cassandra: commit nothing
                self._commit(polled)
            if self.telemetry.enabled and time.monotonic() >= self._next_watch:
                self._next_watch = time.monotonic() + WATCH_EVERY_S
                if not self._watch_telemetry():
                    break
        return self.stats

    def _commit(self, polled: dict[TopicPartition, list]) -> None:
        offsets = {
            tp: OffsetAndMetadata(records[-1].offset + 1, "", -1)
            for tp, records in polled.items()
            if records
        }
        try:
            self._consumer.commit(offsets)
        except CommitFailedError as e:
            # the group rebalanced under us; the new owner re-reads these (idempotent rows)
            log.warning("commit failed after a rebalance: %s", e)
            return
        except KafkaError as e:
            log.warning("commit failed: %s", e)
            return
        self.stats.last_commit = time.time()
        if self.metrics is not None:
            self.metrics.observe_commit(self.stats.last_commit)  # type: ignore[attr-defined]
        self.reporter.committed(self.stats)

    def _count(self, events: Sequence[AlertEvent]) -> None:
        for e in events:
            if e.kind == "raised":
                self.stats.alerts_raised += 1
                by = self.stats.alerts_by_severity
                by[e.severity] = by.get(e.severity, 0) + 1
            elif e.kind == "cleared":
                self.stats.alerts_cleared += 1
            elif e.kind == "escalated":  # the same alert at a higher level
                self.stats.alerts_escalated += 1
                by = self.stats.alerts_by_severity
                by[e.severity] = by.get(e.severity, 0) + 1

    def _reload_rules(self) -> None:
        if self.rules_loader is None:
            return
        try:
            rules = self.rules_loader()
        except Exception as e:
            self.reporter.waiting("rules", 0, 0.0, e)
            return
        self.engine.replace_rules(rules)
        log.info("rules reloaded")
        self.reporter.recovered("rules")
