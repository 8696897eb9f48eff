"""The consumer loop: poll → validate → NEWS2 + rules → publish → write → commit.

Processing is synchronous per poll: a poll's alerts and dead letters are delivered
to Kafka, then its readings and alerts written to Cassandra, before the next poll.
(Publishing first means a crash in between can publish an alert twice, never lose it:
a replay re-raises what was not stored.) Each patient's newest values are held and
written to ``patient_latest`` once per commit interval (``ConsumerSettings.
commit_interval_s``, 1 s), however many readings the patient sent in it, or as soon as
a poll comes back empty, and only then are the offsets of the polls written since
committed: nothing is committed before all its rows are written, and a member that
dies replays from the last commit. Kafka runs
rebalance callbacks inside ``poll``: before a poll that will rejoin the group the loop
writes what it holds and commits, so the next owner restores every stored row and
re-reads nothing stored. Should a rebalance start between that look and the poll
(kafka-python often rejoins once more just after the first assignment), what was
written stays noted: a partition given straight back is read on from there and
committed at the next checkpoint; one given to another member is re-read by it from
the last commit (rows are idempotent, as after a crash).
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
#: longest commit interval while catching up (seconds): Kafka's default auto-commit interval
CATCH_UP_S = 5.0


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
        # per patient, the readings ``patient_latest`` still needs (see ``flush_latest``)
        self._latest_held: dict[str, list] = {}
        # the next offset of each partition whose polls are written but not yet committed
        self._written: dict[TopicPartition, OffsetAndMetadata] = {}
        self._commit_due = 0.0  # time.monotonic() of the next checkpoint
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
            # a rebalance happens inside poll: write and commit what is held before it
            if self._written and self._rebalance_pending() and not self.checkpoint():
                break
            try:
                polled = self._consumer.poll(timeout_ms=250)
            except KafkaError as e:
                self.reporter.waiting("Kafka", 0, 1.0, e)
                time.sleep(1.0)
                continue
            if self._to_adopt and not self._adopt():
                break
            if polled and self._written:
                polled = self._unread(polled)
            if polled:
                if not self.process(polled):
                    break  # asked to stop while waiting for Cassandra: commit nothing
                self._written_up_to(polled)
            # due, or caught up (an empty poll): nothing more to coalesce, write and commit now
            due = self._written and (not polled or time.monotonic() >= self._commit_due)
            if due and not self.checkpoint():
                break
            if self.telemetry.enabled and time.monotonic() >= self._next_watch:
                self._next_watch = time.monotonic() + WATCH_EVERY_S
                if not self._watch_telemetry():
                    break
        self.checkpoint()  # what was written before stopping (one attempt when stopped)
        return self.stats

    def _rebalance_pending(self) -> bool:
        """Will the next ``poll`` rejoin the group (another member came or went, or the
        topic changed)? kafka-python has no public call for it: its coordinator's
        ``need_rejoin`` (False if that ever changes: what is written stays noted through
        the rebalance, see ``_adopt``, and a partition given to another member is re-read
        by it from the last commit, as after a crash)."""
        coordinator = getattr(self._consumer, "_coordinator", None)
        try:
            return bool(coordinator is not None and coordinator.need_rejoin())
        except Exception:  # a kafka-python without it: see the docstring
            return False

    def _written_up_to(self, polled: dict[TopicPartition, list]) -> None:
        """Note a poll as written: its offsets are committed at the next checkpoint, due one
        commit interval after the first poll since the last, or up to ``CATCH_UP_S`` when
        the poll's newest record is older than that (a backlog: what the boards show is
        that late anyway, and fewer writes per reading catch up sooner)."""
        newest = 0
        for tp, records in polled.items():
            if records:
                self._written[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
                newest = max(newest, records[-1].timestamp)
        if self._written and not self._commit_due:
            every = self.settings.commit_interval_s
            behind = time.time() - newest / 1000 if newest > 0 else 0.0
            if every and behind > every:
                every = max(every, min(behind, CATCH_UP_S))
            self._commit_due = time.monotonic() + every

    def checkpoint(self) -> bool:
        """Write the newest values held per patient, then commit the offsets of every poll
        written since the last checkpoint, for the partitions this member owns (a partition
        a rebalance gave to another member is re-read by it from the last commit). False
        (nothing committed) only if asked to stop while waiting for Cassandra."""
        if not self.flush_latest():
            return False
        offsets, self._written = self._written, {}
        self._commit_due = 0.0
        if offsets and self._consumer is not None:
            owned = self._consumer.assignment()
            offsets = {tp: o for tp, o in offsets.items() if tp in owned}
        if offsets:
            self._commit(offsets)
        return True

    def _unread(self, polled: dict[TopicPartition, list]) -> dict[TopicPartition, list]:
        """``polled`` without the records already written (a partition that a rebalance
        took and gave straight back is fetched again from its last commit)."""
        out = {}
        for tp, records in polled.items():
            done = self._written.get(tp)
            if done is not None:
                records = [r for r in records if r.offset >= done.offset]
            if records:
                out[tp] = records
        return out

    def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
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
