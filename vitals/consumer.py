"""The consumer loop: poll → validate → NEWS2 + rules → publish → write → commit.

Processing is synchronous per poll: a poll's alerts and dead letters are delivered
to Kafka, then its rows written to Cassandra, and only then are its offsets
committed, before the next poll. (Publishing first means a crash in between can
publish an alert twice, never lose it: a replay re-raises what was not stored.) Kafka runs rebalance callbacks inside ``poll``, so when partitions
are revoked everything this member processed is already committed: nothing is
committed early, nothing stored is re-read by the next owner.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import msgspec
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError, KafkaTimeoutError
from kafka.structs import OffsetAndMetadata

from vitals.config import ConsumerSettings, KafkaSettings
from vitals.errors import ConfigError, InvalidReading
from vitals.freshness import Basis
from vitals.producer import make_producer
from vitals.readings import VITALS, Reading, decode, record_time
from vitals.rules import AlertEvent, RuleEngine, RuleSet
from vitals.store import Writer
from vitals.telemetry import RETIRED_AFTER, TELEMETRY_LOST, TelemetryWatch, after, utcnow

log = logging.getLogger(__name__)
WATCH_EVERY_S = 0.5  # how often silent patients are looked for (wall clock)
ENDED_CHECK_EVERY_S = (
    5.0  # how often patients in telemetry-lost are checked for an ended monitoring
)
_encode = msgspec.json.Encoder().encode


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
    last_commit: float | None = None
    alerts_by_severity: dict[str, int] = field(default_factory=dict)


def alert_json(e: AlertEvent) -> bytes:
    return _encode(
        {
            "patient_id": e.patient_id,
            "rule": e.rule,
            "kind": e.kind,
            "severity": e.severity,
            "message": e.message,
            "value": e.value,
            "timestamp": e.timestamp.isoformat(),
            "raised_at": e.raised_at.isoformat() if e.raised_at else None,
        }
    )


class _Listener(ConsumerRebalanceListener):
    def __init__(self, owner: VitalsConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self.owner._on_revoked(revoked)

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        owner = self.owner
        owner._stash = {tp: s for tp, s in owner._stash.items() if tp in set(assigned)}
        owner._to_adopt.update(assigned)
        self.owner.reporter.assigned(sorted(assigned))


class VitalsConsumer:
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

    # one poll -------------------------------------------------------------------------------

    def process(self, polled: dict[TopicPartition, list]) -> bool:
        """Validate, evaluate, write and publish one poll's records. False if stopped early.

        Any failure confined to one record (decoding, validation, scoring, rule
        evaluation) dead-letters that record and the rest go on; only the
        servers' failures are retried, and only ``stop()`` ends early.
        """
        accepted: list[tuple[object, Reading]] = []
        dead: list[tuple[object, str, str]] = []  # (record, reason, exception class)
        arrivals: dict[str, tuple[TopicPartition, int]] = {}  # patient -> newest record time
        for tp, records in polled.items():
            seen = self._patients_by_tp.setdefault(tp, set())
            for rec in records:
                try:
                    r = decode(rec.value, rec.timestamp)
                except Exception as e:  # decode is total; anything else is still one bad record
                    dead.append((rec, *_failure(e)))
                    continue
                accepted.append((rec, r))
                seen.add(r.patient_id)
                arrivals[r.patient_id] = (tp, rec.timestamp)
        self.stats.consumed += sum(len(v) for v in polled.values())

        new = {r.patient_id for _, r in accepted} - self._known
        if new and not self._restore(new):
            return False

        engine = self.engine
        assess = engine.assess
        readings: list[Reading] = []
        scores: list[int | None] = []
        bases: list[Basis | None] = []
        events: list[AlertEvent] = []
        by_patient: dict[str, list[tuple[Reading, int | None, Basis | None]]] = {}
        report = self.reporter.reading
        for rec, r in accepted:
            try:
                n, ev = assess(r)
            except Exception as e:  # a defect met by one reading must not stop the ward
                log.exception("scoring or evaluating %s failed", r.patient_id)
                dead.append((rec, *_failure(e, "evaluating the reading failed")))
                continue
            total = None if n is None else n.total
            basis = engine.basis(r.patient_id)
            readings.append(r)
            scores.append(total)
            bases.append(basis)
            if ev:
                events.extend(ev)
            by_patient.setdefault(r.patient_id, []).append((r, total, basis))
            report(r, total, ev)
        technical, registrations = self._arrivals(arrivals)
        events.extend(technical)

        out = [
            (self.settings.alerts_topic, e.patient_id.encode(), alert_json(e), None) for e in events
        ]
        for rec, reason, kind in dead:
            out.append(_dead_letter(self.settings.dlq_topic, rec, reason, kind))
            self.reporter.dead_letter(rec.topic, rec.partition, rec.offset, reason)  # type: ignore[attr-defined]
        if out and not self._publish(out):
            return False

        w = self.writer
        statements = w.batches(w.reading_rows(readings, scores, bases))
        statements += w.latest_statements(_latest(by_patient))
        statements += w.alert_statements(events)
        statements += w.batched(registrations)  # once per patient per owner: batched
        started = time.monotonic()
        ok = w.execute(
            statements,
            should_stop=self._stop.is_set,
            on_retry=lambda n, d, e: self.reporter.waiting("Cassandra", n, d, e),
        )
        if not ok:
            return False
        if self.metrics is not None:
            self.metrics.observe_write(time.monotonic() - started, len(readings))  # type: ignore[attr-defined]

        self.stats.stored += len(readings)
        self.stats.dead_lettered += len(dead)
        self.stats.batches += 1
        self._count(events)
        if technical:
            self.reporter.alerts(technical)
        if self.metrics is not None:
            records = sum(len(v) for v in polled.values())
            self.metrics.observe_batch(records, len(readings), len(dead), events)  # type: ignore[attr-defined]
        return True

    def _publish(self, messages: list[tuple]) -> bool:
        """Deliver alert events and dead letters; retry until Kafka acknowledges each."""
        pending = messages
        attempt = 0
        while pending:
            futures = []
            for m in pending:
                topic, key, value, headers = m
                try:
                    futures.append(
                        (m, self._producer.send(topic, key=key, value=value, headers=headers))
                    )
                except KafkaError as e:
                    futures.append((m, e))
            self._producer.flush(timeout=30)
            failed = []
            error: object = None
            for m, f in futures:
                if isinstance(f, Exception):
                    failed.append(m)
                    error = f
                elif f.failed() or not f.is_done:
                    failed.append(m)
                    error = f.exception
            if not failed:
                if attempt:
                    self.reporter.recovered("Kafka")
                return True
            attempt += 1
            delay = min(10.0, 0.5 * 2**attempt)
            self.reporter.waiting("Kafka", len(failed), delay, error)
            if self._stop.wait(delay):
                return False
            pending = failed
        return True

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

    # telemetry lost (technical alarm) -----------------------------------------------------------

    def _arrivals(
        self, arrivals: dict[str, tuple[TopicPartition, int]]
    ) -> tuple[list[AlertEvent], list]:
        """Feed the telemetry watch; register patients new to this owner's partitions."""
        now = utcnow()
        events: list[AlertEvent] = []
        statements = []
        for pid, (tp, ms) in arrivals.items():
            self._tp_of[pid] = tp
            at = record_time(ms) or now
            cleared = self.telemetry.arrived(pid, at, now)
            if cleared is not None:
                events.append(cleared)
            if (tp, pid) not in self._registered:
                # new to this owner: register it on its partition, and let a record created
                # after an end of its monitoring start monitoring again (last write wins)
                self._registered.add((tp, pid))
                statements.append(self.writer.register(tp.topic, tp.partition, pid, now))
                if pid not in self._no_end:  # an end of monitoring read, or not read: undo it
                    statements.append(self.writer.resume(pid, at))
        self._no_end.clear()
        return events, statements

    def _caught_up(self, patient_id: str) -> bool:
        """No record of the patient's partition waits unread (so silence is real)."""
        tp = self._tp_of.get(patient_id)
        if tp is None or self._consumer is None:
            return False
        try:
            high = self._consumer.highwater(tp)
            return high is not None and self._consumer.position(tp) >= high
        except KafkaError:
            return False

    def _watch_telemetry(self) -> bool:
        """Raise telemetry-lost for silent patients; end those whose monitoring was ended.

        False only if asked to stop while waiting for Kafka or Cassandra."""
        now = utcnow()
        check = self.telemetry.silent(now)
        if self.telemetry.lost and time.monotonic() >= self._next_ended_check:
            self._next_ended_check = time.monotonic() + ENDED_CHECK_EVERY_S
            check += self.telemetry.lost
        events: list[AlertEvent] = []
        statements: list = []
        if check:
            try:
                ended = self.writer.monitoring_ended(check)
            except Exception as e:  # Cassandra unavailable: try again at the next watch
                self.reporter.waiting("Cassandra", len(check), WATCH_EVERY_S, e)
                return True
            for pid, ended_at in ended.items():
                if self.telemetry.ended_by(pid, ended_at):
                    events += self._end_monitoring(pid, now)
                    tp = self._tp_of.pop(pid, None)
                    if tp is not None:
                        statements.append(self.writer.unregister(tp.topic, tp.partition, pid))
                        self._patients_by_tp.get(tp, set()).discard(pid)
                        self._registered.discard((tp, pid))
        events += self.telemetry.due(now, self._caught_up)
        if not events and not statements:
            return True
        out = [
            (self.settings.alerts_topic, e.patient_id.encode(), alert_json(e), None) for e in events
        ]
        if out and not self._publish(out):
            return False
        ok = self.writer.execute(
            statements + self.writer.alert_statements(events),
            should_stop=self._stop.is_set,
            on_retry=lambda n, d, e: self.reporter.waiting("Cassandra", n, d, e),
        )
        if not ok:
            return False
        self._count(events)
        self.reporter.alerts(events)
        return True

    def _end_monitoring(self, patient_id: str, now: datetime) -> list[AlertEvent]:
        """Monitoring of the patient was ended on purpose: close its alerts, stop watching."""
        reason = "monitoring ended"
        events = []
        lost = self.telemetry.end(patient_id, now, reason)
        if lost is not None:
            events.append(lost)
        for e in self.engine.active_alerts(patient_id):
            at = after(now, e.timestamp)
            events.append(
                AlertEvent(
                    patient_id,
                    e.rule,
                    e.severity,
                    "cleared",
                    at,
                    e.value,
                    f"Cleared: {e.message} ({reason})",
                    raised_at=e.timestamp,
                )
            )
        self.engine.forget(patient_id)
        self._known.discard(patient_id)
        return events

    def _adopt(self) -> bool:
        """Take over the patients registered on newly assigned partitions (they may be silent).

        False only if asked to stop while waiting for Cassandra."""
        tps = sorted(self._to_adopt, key=lambda tp: (tp.topic, tp.partition))
        attempt = 0
        while True:
            try:
                found = {tp: self.writer.monitored(tp.topic, tp.partition) for tp in tps}
                break
            except Exception as e:  # driver errors of any kind: wait and retry
                attempt += 1
                delay = min(10.0, 0.25 * 2**attempt)
                self.reporter.waiting("Cassandra", len(tps), delay, e)
                if self._stop.wait(delay):
                    return False
        for tp, pids in found.items():
            for pid, state in self._stash.pop(tp, {}).items():
                self.telemetry.reinstate(pid, state)
            self._patients_by_tp.setdefault(tp, set()).update(pids)
            for pid in pids:
                self._tp_of[pid] = tp
                self._registered.add((tp, pid))
        new = {pid for pids in found.values() for pid in pids} - self._known
        if new and not self._restore(new):
            return False
        self._no_end.clear()  # they are registered already
        self._to_adopt.difference_update(tps)
        return True

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

    # rule state across owners ----------------------------------------------------------------

    def _restore(self, patient_ids: set[str]) -> bool:
        attempt = 0
        while True:
            try:
                state = self.writer.rule_state(patient_ids)
                break
            except Exception as e:  # driver errors of any kind: wait and retry
                attempt += 1
                delay = min(10.0, 0.25 * 2**attempt)
                self.reporter.waiting("Cassandra", len(patient_ids), delay, e)
                if self._stop.wait(delay):
                    return False
        now = utcnow()
        for pid, (rows, last_seen, freshest, ended_at) in state.items():
            if ended_at is None:
                self._no_end.add(pid)  # its registration needs no resume (see _arrivals)
            if freshest:
                self.engine.freshest.seed(pid, freshest)
            lost = next((row for row in rows if row[0] == TELEMETRY_LOST), None)
            rows = [row for row in rows if row[0] != TELEMETRY_LOST]
            if lost or (last_seen is not None and now - last_seen <= RETIRED_AFTER):
                self.telemetry.adopt(pid, now, _restored(pid, lost) if lost else None)
            # else: silent for longer than the census window: no longer watched (a new
            # reading starts watching it again)
            events = [_restored(pid, row) for row in rows]
            if events or last_seen is not None:
                self.engine.restore(pid, events, last_seen=last_seen)
        self._known |= patient_ids
        return True

    def _on_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        for tp in revoked:
            self._to_adopt.discard(tp)
            stash = self._stash[tp] = {}
            for pid in self._patients_by_tp.pop(tp, set()):
                self.engine.forget(pid)
                stash[pid] = self.telemetry.forget(pid)
                self._known.discard(pid)
                self._tp_of.pop(pid, None)
                self._registered.discard((tp, pid))
        self.reporter.revoked(sorted(revoked))

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


#: Largest value kept whole in a dead letter; a longer one keeps its head plus its size and
#: SHA-256 in headers, so it can never be refused by the broker and stall the consumer.
DLQ_MAX_VALUE = 512 * 1024


def _latest(
    by_patient: dict[str, list[tuple[Reading, int | None, Basis | None]]],
) -> list[tuple[Reading, int | None, Basis | None]]:
    """The poll's readings that ``patient_latest`` needs: per patient the newest, plus each
    older one that carries a vital no newer reading of the poll carries (a blood pressure
    before a run of heart rates). Complete readings: only the newest, as before."""
    out = []
    for items in by_patient.values():
        if len(items) == 1:
            out.append(items[0])
            continue
        covered: set[str] = set()
        for item in sorted(items, key=lambda it: it[0].timestamp, reverse=True):
            carried = set(item[0].measured())
            if not covered or carried - covered:
                out.append(item)
                covered |= carried
            if len(covered) == len(VITALS):
                break
    return out


def _restored(patient_id: str, row: tuple) -> AlertEvent:
    """An active alert row ``(rule, severity, message, value, raised_at)`` as its raise."""
    rule, severity, message, value, raised_at = row
    return AlertEvent(
        patient_id,
        rule,
        severity,
        "raised",
        raised_at or datetime.now(UTC),
        value if value is not None else 0.0,
        message or "",
        raised_at,
    )


def _failure(e: BaseException, context: str = "") -> tuple[str, str]:
    """``(reason, exception class)`` for a record that could not be taken."""
    if isinstance(e, InvalidReading):
        return (f"{e.field}: {e.reason}" if e.field else e.reason), type(e).__name__
    detail = f"{type(e).__name__}: {str(e)[:300]}"
    return (f"{context}: {detail}" if context else detail), type(e).__name__


def _dead_letter(topic: str, rec: object, reason: str, kind: str) -> tuple:
    """The ``(topic, key, value, headers)`` that dead-letters ``rec`` with its original bytes."""
    value = rec.value  # type: ignore[attr-defined]
    headers = [
        ("vitals.error", reason.encode("utf-8", "replace")),
        ("vitals.error.class", kind.encode()),
        ("vitals.source.topic", rec.topic.encode()),  # type: ignore[attr-defined]
        ("vitals.source.partition", str(rec.partition).encode()),  # type: ignore[attr-defined]
        ("vitals.source.offset", str(rec.offset).encode()),  # type: ignore[attr-defined]
        ("vitals.source.timestamp", str(rec.timestamp).encode()),  # type: ignore[attr-defined]
    ]
    if value is not None and len(value) > DLQ_MAX_VALUE:
        headers += [
            ("vitals.value.truncated", str(len(value)).encode()),
            ("vitals.value.sha256", hashlib.sha256(value).hexdigest().encode()),
        ]
        value = value[:DLQ_MAX_VALUE]
    key = rec.key  # type: ignore[attr-defined]
    if key is not None and len(key) > DLQ_MAX_VALUE:
        headers.append(("vitals.key.truncated", str(len(key)).encode()))
        key = key[:DLQ_MAX_VALUE]
    return topic, key, value, headers
