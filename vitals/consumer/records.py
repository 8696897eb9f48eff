"""One poll's records: decode, validate, score, evaluate; publish alerts; dead-letter; write.

A failure confined to one record (decoding, validation, scoring, rule evaluation)
dead-letters that record with its original bytes and the reason in headers, and the
rest go on; a poll's alerts and dead letters are acknowledged by Kafka before its rows
are written, and ``process`` returns True only once every row is written (then the
loop may commit). Only the servers' failures are retried; only ``stop()`` ends early.
"""

from __future__ import annotations

import hashlib
import logging
import time

import msgspec
from kafka import TopicPartition
from kafka.errors import KafkaError

from vitals.errors import InvalidReading
from vitals.freshness import Basis
from vitals.readings import VITALS, Reading, decode
from vitals.rules import AlertEvent

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode


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


class RecordProcessing:
    """``process``, ``flush_latest`` and ``_publish`` of ``VitalsConsumer`` (mixed in; the
    state is the consumer's)."""

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
        statements += w.alert_statements(events)
        statements += w.batched(registrations)  # once per patient per owner: batched
        started = time.monotonic()
        if not self._write(statements):
            return False
        if self.metrics is not None:
            self.metrics.observe_write(time.monotonic() - started, len(readings))  # type: ignore[attr-defined]

        held = self._latest_held  # written by ``flush_latest``, before the offsets' commit
        for pid, items in by_patient.items():
            before = held.get(pid)
            held[pid] = _newest(before + items if before else items)
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

    def flush_latest(self) -> bool:
        """Write the newest values held per patient to ``patient_latest`` (one upsert per
        patient and vital set since the last flush, however many readings it sent), retried
        until written; False if asked to stop while waiting to retry (then they stay held)."""
        held = self._latest_held
        if not held:
            return True
        w = self.writer
        rows = [item for items in held.values() for item in items]
        ok = self._write(w.latest_statements(rows))
        if ok:
            held.clear()
            self.stats.latest_upserts += len(rows)
        return ok

    def _write(self, statements: list) -> bool:
        """Write ``statements`` to Cassandra, retried (each wait reported) until written;
        False only if asked to stop while waiting (then nothing may be committed)."""
        return self.writer.execute(
            statements,
            should_stop=self._stop.is_set,
            on_retry=lambda n, d, e: self.reporter.waiting("Cassandra", n, d, e),
        )

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


#: Largest value kept whole in a dead letter; a longer one keeps its head plus its size and
#: SHA-256 in headers, so it can never be refused by the broker and stall the consumer.
DLQ_MAX_VALUE = 512 * 1024


Held = tuple[Reading, int | None, Basis | None]  # a reading, its NEWS2 total, its basis


def _newest(items: list[Held]) -> list[Held]:
    """Of one patient's readings, those ``patient_latest`` needs: the newest, plus each
    older one that carries a vital or an observation (consciousness, oxygen) no newer
    reading carries (a blood pressure before a run of heart rates, a nurse's ACVPU entry
    with a heart rate before the monitor's next ones). Complete readings: only the newest.
    At most one per vital or observation, so what a patient holds between flushes stays
    small however many readings it sends."""
    if len(items) == 1:
        return items
    out: list[Held] = []
    covered: set[str] = set()
    for item in sorted(items, key=lambda it: it[0].timestamp, reverse=True):
        r = item[0]
        carried = set(r.measured())
        if r.consciousness is not None:
            carried.add("consciousness")
        if r.on_oxygen is not None:
            carried.add("on_oxygen")
        if not covered or carried - covered:
            out.append(item)
            covered |= carried
        if len(covered) == len(VITALS) + 2:
            break
    return out


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
