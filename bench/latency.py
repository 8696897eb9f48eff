"""Delays at a fixed rate, and a sustained end-to-end run, measured from outside the product.

sent → stored: the reading's own timestamp (the producer sets it to *now* just before
``send``) against ``WRITETIME(heart_rate)`` of its row. The driver stamps writes on the
client side by default, so WRITETIME is the moment the consumer *issued* the write
(the acknowledgement follows by one Cassandra round trip). An upper bound comes from the
group's committed offsets (a poll's offsets are committed only after its writes were
acknowledged), sampled every ``COMMIT_POLL_S``.

sent → alert published: the Kafka CreateTime of each record on the alerts topic (set by
the consumer's producer when publishing) against the reading ``timestamp`` in the alert.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from datetime import UTC, datetime

from cassandra.concurrent import execute_concurrent_with_args
from kafka import KafkaConsumer, TopicPartition

from bench.infra import (
    KAFKA,
    PARTITIONS,
    Offsets,
    Scratch,
    Topics,
    VitalsProc,
    days_between,
    vitals_env,
    wait_until,
)
from vitals.sources import patient_ids

COMMIT_POLL_S = 0.01


def _ms(ts: datetime) -> float:
    return ts.timestamp() * 1000


def latency(scratch: Scratch, *, rate: float, seconds: float, patients: int = 100) -> dict:
    """One consumer; the producer at ``rate`` for ``seconds`` (stopped at that wall time
    plus 3 s if it cannot keep up). 100 patients at 10 readings/s each, so that episodes
    develop and alerts fire within the run."""
    topic = scratch.topic("lat")
    alerts = scratch.topic("lat-alerts", 1)
    dlq = scratch.topic("lat-dlq", 1)
    ks = scratch.keyspace("lat")
    group = scratch.group("lat")
    env = vitals_env(Topics(topic, alerts, dlq, group), ks)
    consumer = VitalsProc(["consume", "--quiet"], env)
    offsets = Offsets(topic)
    watch_offsets = Offsets(topic)  # its own clients: the watcher runs in a thread
    commits: list[tuple[float, dict[int, int]]] = []  # (wall ms, committed offsets)
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            got = watch_offsets.committed_all(group)
            commits.append((time.time() * 1000, got))
            stop.wait(COMMIT_POLL_S)

    watcher = threading.Thread(target=watch, daemon=True)
    try:
        consumer.wait_for("Partitions assigned", 60)
        watcher.start()
        start = datetime.now(UTC)
        args = ["produce", "--mode", "random", "--quiet", "--rate", f"{rate:g}"]
        args += ["--duration", f"{seconds:g}", "--patient-count", str(patients), "--seed", "11"]
        producer = VitalsProc(args, vitals_env(VITALS_TOPIC=topic))
        if producer.run_for(seconds + 3) != 0:
            raise RuntimeError(f"`vitals produce` failed:\n{producer.text()}")
        ends = offsets.ends()
        wait_until(lambda: offsets.caught_up(group, ends), 60, "the consumer catching up")
        end = datetime.now(UTC)
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join(5)
        consumer.finish()
        offsets.close()
        watch_offsets.close()

    # sent → write issued (WRITETIME), per row
    stmt = scratch.session.prepare(
        f"SELECT timestamp, WRITETIME(heart_rate) FROM {ks}.patient_vitals "
        "WHERE patient_id = ? AND day = ?"
    )
    pairs = [(p, d) for p in patient_ids(None, patients) for d in days_between(start, end)]
    stored: list[float] = []
    for ok, rows in execute_concurrent_with_args(scratch.session, stmt, pairs, concurrency=64):
        if not ok:
            raise rows
        for ts, wt in rows:
            stored.append(wt / 1000 - _ms(ts.replace(tzinfo=UTC)))

    # sent → offset committed, per record (first commit sample that covers it)
    committed = _commit_delays(topic, commits)

    # sent → alert published
    alert_delays: list[float] = []
    c = KafkaConsumer(bootstrap_servers=[KAFKA], consumer_timeout_ms=2000)
    tp = TopicPartition(alerts, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    import json

    for rec in c:
        event = json.loads(rec.value)
        alert_delays.append(rec.timestamp - _ms(datetime.fromisoformat(event["timestamp"])))
    c.close()
    scratch.drop_keyspace(ks)
    scratch.drop_topics([topic, alerts, dlq])
    return {
        "rate": rate,
        "seconds": seconds,
        "readings": len(stored),
        "patients": patients,
        "producer_rss_mb": producer.maxrss_mb,
        "consumer_rss_mb": consumer.maxrss_mb,
        "sent_to_write_ms": summary(stored),
        "sent_to_commit_ms": summary(committed),
        "sent_to_alert_ms": summary(alert_delays),
        "alerts": len(alert_delays),
        "commit_samples": len(commits),
    }


def _commit_delays(topic: str, commits: list[tuple[float, dict[int, int]]]) -> list[float]:
    """For each record: first commit sample whose offset passed it, minus its reading time."""
    per_part: dict[int, tuple[list[int], list[float]]] = {}
    for p in range(PARTITIONS):
        offs, times, best = [], [], -1
        for t, got in commits:
            if got[p] > best:
                best = got[p]
                offs.append(best)
                times.append(t)
        per_part[p] = (offs, times)
    c = KafkaConsumer(bootstrap_servers=[KAFKA], consumer_timeout_ms=2000)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    import msgspec

    decode = msgspec.json.Decoder().decode
    out: list[float] = []
    for rec in c:
        offs, times = per_part[rec.partition]
        i = bisect_right(offs, rec.offset)  # first committed offset > rec.offset
        if i < len(offs):
            sent = _ms(datetime.fromisoformat(decode(rec.value)["timestamp"]))
            out.append(times[i] - sent)
    c.close()
    return out


def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    v = sorted(values)

    def q(p: float) -> float:
        return v[min(len(v) - 1, int(p * len(v)))]

    return {"n": len(v), "p50": q(0.50), "p95": q(0.95), "p99": q(0.99), "max": v[-1]}


def sustained(
    scratch: Scratch, *, rate: float, seconds: float, members: int = 2, drain_max_s: float = 20
) -> dict:
    """Producer at ``rate`` for ``seconds`` with ``members`` consumers; lag sampled each second.

    Lag is growing when the least-squares slope of the lag over the second half of the run
    is above 2 % of the offered rate."""
    topic = scratch.topic("e2e")
    alerts = scratch.topic("e2e-alerts", 1)
    dlq = scratch.topic("e2e-dlq", 1)
    ks = scratch.keyspace("e2e")
    group = scratch.group("e2e")
    env = vitals_env(Topics(topic, alerts, dlq, group), ks)
    procs = [VitalsProc(["consume", "--quiet"], env) for _ in range(members)]
    offsets = Offsets(topic)
    samples: list[tuple[float, int, int]] = []  # (s since start, produced, committed)
    try:
        for p in procs:
            p.wait_for("Partitions assigned", 60)
        args = ["produce", "--mode", "random", "--quiet", "--rate", f"{rate:g}"]
        args += ["--duration", f"{seconds:g}", "--patient-count", "10000", "--seed", "13"]
        producer = VitalsProc(args, vitals_env(VITALS_TOPIC=topic))
        t0 = time.monotonic()
        while producer.alive() and time.monotonic() < t0 + seconds + 3:
            ends = sum(offsets.ends().values())
            done = sum(offsets.committed_all(group).values())
            samples.append((time.monotonic() - t0, ends, done))
            time.sleep(1.0)
        if producer.run_for(seconds + 3) != 0:
            raise RuntimeError(f"`vitals produce` failed:\n{producer.text()}")
        line = producer.last_line("readings to") or ""
        ends_map = offsets.ends()
        produced = sum(ends_map.values())
        end_lag = produced - sum(offsets.committed(group).values())
        drain_t0 = time.monotonic()
        try:
            wait_until(lambda: offsets.caught_up(group, ends_map), drain_max_s, "draining")
            drain: float | None = time.monotonic() - drain_t0
        except TimeoutError:
            drain = None  # not drained within drain_max_s
    finally:
        for p in procs:
            p.finish()
        offsets.close()
    scratch.drop_keyspace(ks)
    scratch.drop_topics([topic, alerts, dlq])
    run_s = samples[-1][0] if samples else seconds
    half = [(t, e - d) for t, e, d in samples if t >= run_s / 2]
    slope = _slope(half)
    stored_rate = (samples[-1][2] - samples[0][2]) / max(samples[-1][0] - samples[0][0], 1e-9)
    import re

    m = re.search(r"\(([\d,]+)/s\)", line)
    return {
        "offered_rate": rate,
        "seconds": seconds,
        "produced": produced,
        "producer_rate": float(m[1].replace(",", "")) if m else produced / run_s,
        "committed_rate_during_run": stored_rate,
        "lag_at_end": end_lag,
        "max_lag": max((e - d for _t, e, d in samples), default=0),
        "lag_slope_per_s": slope,
        "lag_growing": slope > 0.02 * rate,
        "drain_s": drain,
        "consumer_rss_mb": [p.maxrss_mb for p in procs],
    }


def _slope(points: list[tuple[float, int]]) -> float:
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    den = sum((t - mx) ** 2 for t, _ in points)
    return sum((t - mx) * (v - my) for t, v in points) / den if den else 0.0
