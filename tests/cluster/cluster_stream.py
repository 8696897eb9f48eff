"""Streaming under faults: a paced producer, `vitals consume` members, a progress monitor,
and the checks (stored = produced, no duplicates, no gaps per patient).

Readings have deterministic times: round ``k`` of every patient is ``base + k s``, so a
patient's stored timestamps must be exactly ``base, base + 1 s, …`` — a gap is visible.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tests.helpers import ROOT, VitalsProcess, wait_until
from tools import services as svc
from vitals.config import CassandraSettings, KafkaSettings

CASSANDRA_HOSTS = svc.CLUSTER_CASSANDRA_HOSTS
KAFKA_SERVERS = svc.CLUSTER_KAFKA_SERVERS
CONSISTENCY = "QUORUM"
REPORT_FILE = ROOT / ".services" / "cluster" / "fault-report.jsonl"
UNAVAILABLE = re.compile(r"Cassandra unavailable \(.*\); holding \d+ writes and the offsets")
STOPPED = re.compile(r"Stopped after [\d.]+ s: consumed (\d+), stored (\d+)")


@dataclass
class Sample:
    t: float
    acked: int
    committed: int | None
    end: int | None


@dataclass
class Scenario:
    """One test's keyspace, topics and group, and the streams and consumers on them."""

    tag: str
    kafka: KafkaSettings
    cassandra: CassandraSettings
    topic: str
    alerts_topic: str
    dlq_topic: str
    group: str
    consumers: list[VitalsProcess] = field(default_factory=list)
    _closers: list[Callable[[], None]] = field(default_factory=list)
    _probe: tuple | None = None
    _probe_lock: threading.Lock = field(default_factory=threading.Lock)

    # --- processes ------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            VITALS_BOOTSTRAP_SERVERS=",".join(KAFKA_SERVERS),
            VITALS_CASSANDRA_HOSTS=",".join(CASSANDRA_HOSTS),
            VITALS_CASSANDRA_PORT="9042",
            VITALS_CONSISTENCY=CONSISTENCY,
            VITALS_KEYSPACE=self.cassandra.keyspace,
            VITALS_TOPIC=self.topic,
            VITALS_ALERTS_TOPIC=self.alerts_topic,
            VITALS_DLQ_TOPIC=self.dlq_topic,
            VITALS_GROUP=self.group,
            VITALS_TELEMETRY_TIMEOUT="0",  # streams stop on purpose; telemetry-lost has its own tests
            PYTHONUNBUFFERED="1",
            NO_COLOR="1",
        )
        return env

    def start_consumers(self, n: int = 2) -> list[VitalsProcess]:
        for _ in range(n):
            p = VitalsProcess(["consume", "--quiet"], self.env())
            self.consumers.append(p)
        for p in self.consumers:
            p.wait_for("Partitions assigned", timeout=90)
        return self.consumers

    def stop_consumers(self) -> tuple[int, int]:
        """SIGINT every member; returns (consumed, stored) summed over their summaries."""
        consumed = stored = 0
        for p in self.consumers:
            code = p.stop(timeout=60)
            assert code == 0, f"consumer exited {code}:\n{p.text()[-3000:]}"
            found = [m for ln in p.err if (m := STOPPED.search(ln))]
            assert found, p.text()[-3000:]
            consumed += int(found[-1].group(1))
            stored += int(found[-1].group(2))
        return consumed, stored

    def unavailable_lines(self) -> list[str]:
        return [ln for p in self.consumers for ln in p.err if UNAVAILABLE.search(ln)]

    def outage_summary(self) -> str:
        """How often the members said Cassandra was unavailable, and the distinct causes."""
        lines = self.unavailable_lines()
        causes: dict[str, int] = {}
        for ln in lines:
            cause = re.sub(r"\d+(\.\d+)?", "N", ln.split("unavailable (", 1)[1])[:110]
            causes[cause] = causes.get(cause, 0) + 1
        shown = "; ".join(f"{n}x {c}" for c, n in sorted(causes.items(), key=lambda x: -x[1])[:3])
        return f"'Cassandra unavailable' lines: {len(lines)} ({shown or 'none'})"

    # --- Kafka views ------------------------------------------------------------------------

    def offsets(self) -> tuple[dict[int, int], dict[int, int]]:
        """(committed offset per partition of the group, end offset per partition)."""
        from kafka import TopicPartition

        with self._probe_lock:
            try:
                admin, consumer = self._probe_clients()
                got = admin.list_group_offsets(self.group).get(self.group, {})
                committed = {tp.partition: om.offset for tp, om in got.items() if om.offset >= 0}
                parts = [TopicPartition(self.topic, p) for p in range(6)]
                ends = {tp.partition: off for tp, off in consumer.end_offsets(parts).items()}
                return committed, ends
            except Exception:
                self._close_probe()
                raise

    def _probe_clients(self) -> tuple:
        from kafka import KafkaConsumer
        from kafka.admin import KafkaAdminClient

        if self._probe is None:
            servers = list(KAFKA_SERVERS)
            admin = KafkaAdminClient(
                bootstrap_servers=servers, request_timeout_ms=3000, client_id="probe"
            )
            consumer = KafkaConsumer(
                bootstrap_servers=servers, request_timeout_ms=5000, client_id="probe"
            )
            self._probe = (admin, consumer)
        return self._probe

    def _close_probe(self) -> None:
        if self._probe is not None:
            admin, consumer = self._probe
            self._probe = None
            with contextlib.suppress(Exception):
                consumer.close()
            with contextlib.suppress(Exception):
                admin.close()

    def leaders(self) -> dict[int, int]:
        """{partition: leader broker id} of the readings topic."""
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=list(KAFKA_SERVERS), client_id="probe")
        try:
            (desc,) = admin.describe_topics([self.topic])
            return {p["partition_index"]: p["leader_id"] for p in desc["partitions"]}
        finally:
            admin.close()

    def isr(self) -> dict[int, list[int]]:
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=list(KAFKA_SERVERS), client_id="probe")
        try:
            (desc,) = admin.describe_topics([self.topic])
            return {p["partition_index"]: sorted(p["isr_nodes"]) for p in desc["partitions"]}
        finally:
            admin.close()

    def delete_topics(self) -> None:
        from kafka.admin import KafkaAdminClient

        with contextlib.suppress(Exception):
            admin = KafkaAdminClient(bootstrap_servers=list(KAFKA_SERVERS), client_id="cleanup")
            try:
                admin.delete_topics([self.topic, self.alerts_topic, self.dlq_topic])
            finally:
                admin.close()

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()
        with self._probe_lock:
            self._close_probe()

    # --- Cassandra view ---------------------------------------------------------------------

    def stored_keys(self) -> list[tuple[str, datetime]]:
        """(patient_id, timestamp) of every row of patient_vitals, read at QUORUM."""
        from cassandra.query import SimpleStatement

        from vitals.store import connect

        cluster, session = connect(self.cassandra)
        try:
            stmt = SimpleStatement(
                "SELECT patient_id, day, timestamp FROM patient_vitals", fetch_size=5000
            )
            rows = session.execute(stmt, timeout=120)
            out = []
            for r in rows:
                ts = r.timestamp.replace(tzinfo=UTC)
                assert r.day == ts.date(), (r.patient_id, r.day, ts)
                out.append((r.patient_id, ts))
            return out
        finally:
            cluster.shutdown()


class Stream:
    """The project's producer (acks=all, idempotent) at a steady rate, plus a monitor.

    ``patients`` patients, up to ``rounds`` readings each; ``stop()`` ends it early
    (after a whole round, so every patient has the same count).
    """

    def __init__(self, sc: Scenario, *, patients: int, rounds: int, rate: float) -> None:
        from vitals.producer import VitalsProducer
        from vitals.sources import Ward

        self.sc = sc
        self.patient_ids = [f"{sc.tag[:6].upper()}-{i:04d}" for i in range(patients)]
        self.rounds = rounds
        self.rate = rate
        self.ward = Ward(self.patient_ids, seed=11)
        self.base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        self.producer = VitalsProducer(kafka=sc.kafka, topic=sc.topic)
        self.sent_rounds = 0
        self.samples: list[Sample] = []
        self.events: list[tuple[float, str]] = []
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._monitor_stop = threading.Event()
        self._error: BaseException | None = None
        self._producer_thread = threading.Thread(target=self._produce, daemon=True)
        self._monitor_thread = threading.Thread(target=self._monitor, daemon=True)
        sc._closers.append(self._shutdown)

    # --- threads ---------------------------------------------------------------------------

    def start(self) -> Stream:
        self.t0 = time.monotonic()
        self._producer_thread.start()
        self._monitor_thread.start()
        return self

    def _produce(self) -> None:
        try:
            n = len(self.patient_ids)
            for k in range(self.rounds):
                if self._stop.is_set():
                    break
                ts = self.base + timedelta(seconds=k)
                for i, pid in enumerate(self.patient_ids):
                    delay = self.t0 + (k * n + i) / self.rate - time.monotonic()
                    if delay > 0.002:
                        time.sleep(delay)
                    self.producer.send(self.ward.next_reading(pid, ts))
                self.sent_rounds = k + 1
            self.producer.flush(timeout=180)
        except BaseException as e:  # reported by join()
            self._error = e
        finally:
            self._done.set()

    def _monitor(self) -> None:
        while not self._monitor_stop.is_set():
            t = time.monotonic() - self.t0
            acked = self.producer.stats.acked
            committed = end = None
            with contextlib.suppress(Exception):
                c, e = self.sc.offsets()
                committed, end = sum(c.values()), sum(e.values())
            self.samples.append(Sample(t, acked, committed, end))
            self._monitor_stop.wait(0.25)

    # --- control ---------------------------------------------------------------------------

    @property
    def sent(self) -> int:
        return self.producer.stats.sent

    @property
    def acked(self) -> int:
        return self.producer.stats.acked

    def now(self) -> float:
        return time.monotonic() - self.t0

    def mark(self, what: str) -> float:
        t = self.now()
        self.events.append((t, what))
        print(f"[{t:6.1f} s] {what} (sent {self.sent}, acked {self.acked})", flush=True)
        return t

    def wait_acked(self, n: int, timeout: float = 120) -> None:
        wait_until(lambda: self.acked >= n, timeout, f"{n} readings acknowledged by Kafka")

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 300) -> int:
        """Wait for the producer to finish; returns the readings produced (all acked)."""
        assert self._done.wait(timeout), f"producer still running after {timeout} s"
        if self._error is not None:
            raise self._error
        stats = self.producer.stats
        assert stats.failed == 0, f"{stats.failed} deliveries failed: {stats.first_error}"
        assert stats.acked == stats.sent == self.sent_rounds * len(self.patient_ids), stats
        return stats.sent

    def wait_committed(self, produced: int, timeout: float = 180) -> None:
        """Until the group has committed every record of the topic."""

        def done() -> bool:
            with contextlib.suppress(Exception):
                c, e = self.sc.offsets()
                return sum(e.values()) >= produced and sum(c.values()) == sum(e.values())
            return False

        wait_until(done, timeout, "the group to commit every record of the topic", every=0.5)

    def _shutdown(self) -> None:
        self._stop.set()
        self._done.wait(30)
        self._monitor_stop.set()
        self._monitor_thread.join(10)
        with contextlib.suppress(Exception):
            self.producer._producer.close(timeout=10)

    # --- analysis --------------------------------------------------------------------------

    def stall(self, since: float, until: float | None = None) -> float:
        """Longest time the group's committed offsets stood still while records waited."""
        worst = 0.0
        waiting_since: float | None = None
        last: int | None = None
        samples = [
            s
            for s in self.samples
            if s.committed is not None and s.t >= since and (until is None or s.t <= until)
        ]
        for s in samples:
            lag = (s.end or 0) - s.committed
            if last is not None and s.committed != last:
                if waiting_since is not None:
                    worst = max(worst, s.t - waiting_since)
                waiting_since = s.t if lag > 0 else None
            elif waiting_since is None and lag > 0:
                waiting_since = s.t
            last = s.committed
        return worst

    def producer_stall(self, since: float) -> float:
        """Longest time Kafka acknowledged nothing while the producer was sending."""
        worst, t_prev, a_prev = 0.0, None, None
        for s in self.samples:
            if s.t < since:
                continue
            if a_prev is None or s.acked != a_prev:
                if t_prev is not None and a_prev is not None and a_prev < self.sent:
                    worst = max(worst, s.t - t_prev)
                t_prev, a_prev = s.t, s.acked
        return worst

    def resumed_after(self, t: float) -> float:
        """Seconds from ``t`` until the group's committed offsets next advanced."""
        before = [s.committed for s in self.samples if s.t <= t and s.committed is not None]
        base = before[-1] if before else 0
        for s in self.samples:
            if s.t > t and s.committed is not None and s.committed > base:
                return s.t - t
        return float("nan")

    def verify(self, produced: int) -> dict[str, int]:
        """stored = produced, no duplicate rows, no gap in any patient's sequence."""
        keys = self.sc.stored_keys()
        mine = [k for k in keys if k[0] in set(self.patient_ids)]
        distinct = set(mine)
        rounds = self.sent_rounds
        expected = {
            (pid, self.base + timedelta(seconds=k))
            for pid in self.patient_ids
            for k in range(rounds)
        }
        missing = expected - distinct
        extra = distinct - expected
        by_patient: dict[str, list[datetime]] = defaultdict(list)
        for pid, ts in distinct:
            by_patient[pid].append(ts)
        gaps = []
        for pid in self.patient_ids:
            seconds = sorted(int((ts - self.base).total_seconds()) for ts in by_patient[pid])
            if seconds != list(range(rounds)):
                gaps.append(pid)
        _committed, ends = self.sc.offsets()
        result = {
            "produced": produced,
            "stored": len(distinct),
            "duplicated_rows": len(mine) - len(distinct),
            "kafka_records": sum(ends.values()),
            "kafka_duplicates": sum(ends.values()) - produced,
            "missing": len(missing),
            "unexpected": len(extra),
            "patients_with_gaps": len(gaps),
        }
        assert not missing, f"{len(missing)} readings lost, e.g. {sorted(missing)[:3]}"
        assert not extra, f"{len(extra)} rows nobody produced, e.g. {sorted(extra)[:3]}"
        assert len(mine) == len(distinct) == produced, result
        assert not gaps, f"gaps in {len(gaps)} patients, e.g. {gaps[:3]}"
        assert result["kafka_duplicates"] == 0, result
        return result


def report(
    fault: str,
    stream: Stream,
    result: dict[str, int],
    *,
    stall_s: float,
    replayed: int,
    notes: list[str],
) -> None:
    row = {"fault": fault, "stall_s": round(stall_s, 1), "replayed": replayed, **result}
    row["notes"] = notes
    row["timeline"] = [(round(t, 1), what) for t, what in stream.events]
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    with REPORT_FILE.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1), flush=True)
