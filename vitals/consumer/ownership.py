"""Which patients this member owns: rebalance, rule state across owners, the telemetry watch.

On assignment the member adopts the patients registered on its new partitions (they
may be silent) and restores each new patient's active alerts and freshest vitals from
Cassandra; on revocation it forgets them (Kafka runs the listener inside ``poll``; the
loop commits what it wrote before a poll that will rebalance, see ``checkpoint``, and
a partition given straight back is read on from what was written). Patients are registered on their
partition once per owner; silent ones raise *telemetry lost*, and those whose monitoring
was ended on purpose have their alerts closed and are no longer watched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import KafkaError

from vitals.consumer.records import alert_json
from vitals.readings import record_time
from vitals.rules import AlertEvent
from vitals.telemetry import RETIRED_AFTER, TELEMETRY_LOST, after, utcnow

if TYPE_CHECKING:
    from vitals.consumer.loop import VitalsConsumer

log = logging.getLogger(__name__)
_T = TypeVar("_T")
WATCH_EVERY_S = 0.5  # how often silent patients are looked for (wall clock)
ENDED_CHECK_EVERY_S = (
    5.0  # how often patients in telemetry-lost are checked for an ended monitoring
)


class _Listener(ConsumerRebalanceListener):
    """The consumer's rebalance listener. kafka-python runs it on its IO thread while the
    consumer's own thread waits inside ``poll``: it only changes state, never blocks."""

    def __init__(self, owner: VitalsConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self.owner._on_revoked(revoked)

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        owner = self.owner
        owner._stash = {tp: s for tp, s in owner._stash.items() if tp in set(assigned)}
        owner._to_adopt.update(assigned)
        self.owner.reporter.assigned(sorted(assigned))


class Ownership:
    """The ownership methods of ``VitalsConsumer`` (mixed in; the state is the consumer's)."""

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
        if not self._write(statements + self.writer.alert_statements(events)):
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
        # newest values held since the last checkpoint first: the restore below reads them
        if not self.flush_latest():
            return False
        for tp in tps:  # given straight back: read on after what was written
            done = self._written.get(tp)
            if done is not None and self._consumer is not None:
                try:  # (records the rejoining poll fetched below it are dropped: _unread)
                    if self._consumer.position(tp) < done.offset:
                        self._consumer.seek(tp, done.offset)
                except KafkaError as e:  # then it is re-read and rewritten (idempotent)
                    log.warning("could not resume %s at offset %d: %s", tp, done.offset, e)
        found = self._read_retrying(
            lambda: {tp: self.writer.monitored(tp.topic, tp.partition) for tp in tps}, len(tps)
        )
        if found is None:
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

    def _read_retrying(self, read: Callable[[], _T], count: int) -> _T | None:
        """``read()`` from Cassandra, retried with back-off (0.5 s doubling, at most 10 s)
        on any driver error, each wait reported for ``count`` items; None only if asked to
        stop while waiting."""
        attempt = 0
        while True:
            try:
                return read()
            except Exception as e:  # driver errors of any kind: wait and retry
                attempt += 1
                delay = min(10.0, 0.25 * 2**attempt)
                self.reporter.waiting("Cassandra", count, delay, e)
                if self._stop.wait(delay):
                    return None

    def _restore(self, patient_ids: set[str]) -> bool:
        state = self._read_retrying(lambda: self.writer.rule_state(patient_ids), len(patient_ids))
        if state is None:
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
                seen = {param: at for param, (at, _) in freshest.items()} if freshest else None
                self.engine.restore(pid, events, last_seen=last_seen, seen=seen)
        self._known |= patient_ids
        return True

    def _on_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        # what was written but not committed stays noted (see ``checkpoint``, ``_adopt``)
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
