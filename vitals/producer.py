"""Kafka producer: keyed by patient, acks=all + idempotence, every delivery accounted for."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from vitals.admin import require_topic
from vitals.config import KafkaSettings
from vitals.errors import ConfigError, InvalidReading, KafkaUnavailable
from vitals.readings import MAX_PATIENT_ID, VITALS, Reading, build
from vitals.sources import CsvPlan, Ward, csv_readings

log = logging.getLogger(__name__)


@dataclass
class DeliveryStats:
    sent: int = 0
    acked: int = 0
    failed: int = 0
    first_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ok(self, _meta: object) -> None:
        with self._lock:
            self.acked += 1

    def error(self, exc: BaseException) -> None:
        with self._lock:
            self.failed += 1
            if self.first_error is None:
                self.first_error = f"{type(exc).__name__}: {exc}"
        log.error("delivery failed: %s", exc)


def make_producer(kafka: KafkaSettings, **overrides: object) -> KafkaProducer:
    where = ",".join(kafka.bootstrap_servers)
    cfg: dict[str, object] = {
        **kafka.client_kwargs(),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "batch_size": 64 * 1024,
        "delivery_timeout_ms": 120_000,
        "request_timeout_ms": int(kafka.request_timeout_s * 1000),
        "max_block_ms": int(kafka.request_timeout_s * 1000),
        "client_id": "vitals-producer",
    }
    cfg.update(overrides)
    try:
        return KafkaProducer(**cfg)
    except KafkaTimeoutError:
        raise kafka.unreachable() from None
    except KafkaError as e:
        raise KafkaUnavailable(f"Kafka at {where}: {e}") from None


class VitalsProducer:
    """Sends readings to ``topic`` keyed by ``patient_id``; a context manager that flushes.

    Raises ``ConfigError`` if ``topic`` does not exist (it is never auto-created) and
    ``KafkaUnavailable`` if Kafka cannot be reached.
    """

    def __init__(self, *, kafka: KafkaSettings, topic: str, **overrides: object) -> None:
        self.topic = topic
        self.kafka = kafka
        self.stats = DeliveryStats()
        require_topic(kafka, topic)
        # a topic deleted while we run must fail the sends, not come back with broker defaults
        self._producer = make_producer(kafka, allow_auto_create_topics=False, **overrides)

    def send(self, reading: Reading) -> None:
        self.send_raw(reading.patient_id.encode(), reading.to_json())

    def send_raw(self, key: bytes | None, value: bytes | None, headers: list | None = None) -> None:
        try:
            fut = self._producer.send(self.topic, key=key, value=value, headers=headers)
        except KafkaError as e:
            self.stats.error(e)
            return
        self.stats.sent += 1
        fut.add_callback(self.stats.ok)
        fut.add_errback(self.stats.error)

    def flush(self, timeout: float | None = None) -> None:
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError as e:
            raise KafkaUnavailable(
                f"could not deliver to Kafka at {','.join(self.kafka.bootstrap_servers)} "
                f"within {timeout} s: {e}"
            ) from None

    def close(self, timeout: float = 30.0) -> None:
        try:
            self.flush(timeout)
        finally:
            self._producer.close(timeout=timeout)

    def __enter__(self) -> VitalsProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- pacing ------------------------------------------------------------------------------


class Pacer:
    """Sleeps so that item ``i`` goes out at ``start + offset(i)``; stoppable."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.start = time.monotonic()

    def wait_until(self, offset_s: float) -> bool:
        """False if asked to stop while waiting."""
        delay = self.start + offset_s - time.monotonic()
        if delay > 0.002:
            return not self.stop.wait(delay)
        return not self.stop.is_set()


_NORMAL = {  # a reading every rule accepts, to check patient ids with the consumer's rules
    "heart_rate": 80,
    "spo2": 97,
    "systolic": 120,
    "diastolic": 75,
    "respiratory_rate": 16,
    "temperature": 37.0,
}


def check_patient_ids(ids: list[str]) -> None:
    """Refuse patient ids the consumer would dead-letter, before anything is sent.

    Uses ``vitals.readings.build`` (the consumer's validation). Raises ``ConfigError``
    (exit 2) naming each bad id and why.
    """
    now = datetime.now(UTC)
    bad = []
    for pid in ids:
        try:
            build(pid, now, {f: _NORMAL[f] for f in VITALS})
        except InvalidReading as e:
            too_long = len(pid) > MAX_PATIENT_ID
            bad.append(f"{e.reason}; this one has {len(pid)}" if too_long else e.reason)
    if bad:
        raise ConfigError("invalid patient id: " + "; ".join(bad) + "; nothing was sent")


def stream_random(
    producer: VitalsProducer,
    ward: Ward,
    *,
    stop: threading.Event,
    interval: float = 1.0,
    rate: float | None = None,
    count: int | None = None,
    duration: float | None = None,
    on_sent: Callable[[Reading], None] | None = None,
) -> int:
    """Send readings for every patient of ``ward``; returns how many were sent.

    ``rate`` (readings/s, all patients together) overrides ``interval`` (s between
    two readings of one patient). Bounded by ``count`` and/or ``duration``. Raises
    ``ConfigError`` before sending anything if a patient id is invalid.
    """
    ids = list(ward.patient_ids)
    check_patient_ids(ids)
    pacer = Pacer(stop)
    sent = 0
    tick = 0
    while True:
        for pid in ids:
            if count is not None and sent >= count:
                return sent
            offset = sent / rate if rate else tick * interval
            if duration is not None and offset >= duration:
                return sent
            if (rate or pid == ids[0]) and not pacer.wait_until(offset):
                return sent
            reading = ward.next_reading(pid, datetime.now(UTC))
            if reading is None:  # the simulated monitor is off (a lead-off gap)
                continue
            producer.send(reading)
            sent += 1
            if on_sent is not None:
                on_sent(reading)
        tick += 1


def stream_csv(
    producer: VitalsProducer,
    plan: CsvPlan,
    *,
    stop: threading.Event,
    interval: float = 1.0,
    speed: float = 1.0,
    loop: bool = False,
    count: int | None = None,
    duration: float | None = None,
    on_sent: Callable[[Reading], None] | None = None,
) -> int:
    """Replay a validated CSV. Rows with timestamps keep their gaps (divided by ``speed``);
    rows without are paced by ``interval``. With ``loop`` the file repeats, timestamps
    shifted by the file's span so every pass writes new rows."""
    pacer = Pacer(stop)
    sent = 0
    base = 0.0
    passes = 0
    while True:
        shift = None
        last_offset = 0.0
        for i, (gap, reading) in enumerate(csv_readings(plan)):
            if count is not None and sent >= count:
                return sent
            offset = base + (gap / speed if gap is not None else i * interval)
            if duration is not None and offset >= duration:
                return sent
            if not pacer.wait_until(offset):
                return sent
            if gap is not None and passes:
                shift = shift or plan_span(plan) * passes
                reading = replace(reading, timestamp=reading.timestamp + shift)
            producer.send(reading)
            sent += 1
            last_offset = offset
            if on_sent is not None:
                on_sent(reading)
        passes += 1
        if not loop:
            return sent
        base = last_offset + max(interval, 0.001)


def plan_span(plan: CsvPlan) -> timedelta:
    """Time covered by a timed CSV plus one typical gap (so a loop's rows never collide)."""
    stamps = [f["timestamp"] for _l, f in plan.rows]
    first, last = min(stamps), max(stamps)  # type: ignore[type-var]
    n = max(len(stamps) - 1, 1)
    return (last - first) + max((last - first) / n, timedelta(seconds=1))  # type: ignore[operator]
