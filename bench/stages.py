"""``python -m bench.stages``: the consumer's CPU per stored row, by stage, in one process.

Runs ``VitalsConsumer.process`` (the real poll path: decode, NEWS2 and rules, publish,
statement binding, Cassandra writes) on polls of 5,000 records built in memory, against
the local Kafka (alert and dead-letter topics) and Cassandra (a scratch keyspace), under
``cProfile``; prints CPU µs per stored row (``time.process_time``, all threads, without
the profiler) and each stage's share of the profiled time, for a quiet ward of 100,
1,000 and 10,000 patients and for an alarm storm (uniformly random vitals). Kafka's
fetch and record parsing are not in it (``python -m bench --profile`` shows them), and
cProfile's cost per call inflates stages made of many small calls (decoding) against those
in C (the driver's I/O): compare cases and versions, not these shares with py-spy's.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from collections import namedtuple
from datetime import UTC, datetime, timedelta

from kafka import TopicPartition

from bench import runs
from bench.infra import KAFKA, Scratch
from vitals.config import ConsumerSettings, KafkaSettings
from vitals.consumer import VitalsConsumer
from vitals.producer import make_producer
from vitals.rules.loader import load_default_rules
from vitals.sources import Ward, patient_ids
from vitals.store import Writer, connect

Record = namedtuple("Record", "topic partition offset timestamp key value")

#: stage -> functions whose inclusive time makes it (first match in the profile wins)
STAGES = {
    "decode (msgspec + checks)": [("wire.py", "decode")],
    "NEWS2 + rules (assess)": [("engine.py", "assess")],
    "reading rows + binding": [("writer.py", "reading_rows"), ("writer.py", "batches")],
    "patient_latest rows + binding": [
        ("writer.py", "latest_statements"),
        ("records.py", "_newest"),
    ],
    "alert rows + binding": [("writer.py", "alert_statements"), ("records.py", "alert_json")],
    "publish (alerts to Kafka)": [("records.py", "_publish")],
    "driver I/O (execute)": [("writer.py", "execute")],
    "telemetry watch arrivals": [("ownership.py", "_arrivals")],
    "rule state of new patients": [("ownership.py", "_restore")],
}


def records(n: int, patients: int, *, storm: bool, seed: int = 7) -> list[Record]:
    """``n`` records, one reading per patient per second of simulated time, keyed like Kafka
    would (6 partitions by patient)."""
    ids = patient_ids(None, patients)
    ward = Ward(ids, seed=seed)
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(seconds=n // patients + 5)
    step = timedelta(seconds=1) / patients
    out = []
    for i in range(n):
        pid, ts = ids[i % patients], start + step * i
        r = (
            runs.storm_reading(rng, pid, ts, (i // patients) % 2 == 0)
            if storm
            else ward.next_reading(pid, ts)
        )
        ms = int(ts.timestamp() * 1000)
        out.append(Record("bench", hash(pid) % 6, i, ms, pid.encode(), r.to_json()))
    return out


def polls(recs: list[Record], size: int) -> list[dict]:
    out = []
    for i in range(0, len(recs), size):
        poll: dict = {}
        for rec in recs[i : i + size]:
            poll.setdefault(TopicPartition(rec.topic, rec.partition), []).append(rec)
        out.append(poll)
    return out


def run_case(
    scratch: Scratch, name: str, n: int, patients: int, storm: bool, commit_interval: float
) -> dict:
    ks = scratch.keyspace("stages")
    alerts = scratch.topic("alerts", 1)
    dlq = scratch.topic("dlq", 1)
    cluster, session = connect(scratch_settings(ks))
    kafka = KafkaSettings(bootstrap_servers=(KAFKA,))
    settings = ConsumerSettings(
        alerts_topic=alerts,
        dlq_topic=dlq,
        telemetry_timeout_s=30.0,
        commit_interval_s=commit_interval,
    )
    c = VitalsConsumer(
        kafka=kafka, settings=settings, writer=Writer(session), rules=load_default_rules()
    )
    c._producer = make_producer(kafka, client_id="bench-stages", linger_ms=2)
    try:
        # one stream of 2n records: a warm-up poll, n timed without the profiler, then the
        # rest under it (later readings, so none is taken for a replay)
        batches = polls(records(2 * n, patients, storm=storm), settings.max_poll_records)
        half = len(batches) // 2
        step(c, batches[0], 0.0)  # warm-up: prepared-statement paths, patients' first rows
        assert c.flush_latest()
        timed, profiled = batches[1 : half + 1], batches[half + 1 :]
        rows0, ev0 = c.stats.stored, c.stats.alerts_raised + c.stats.alerts_cleared
        cpu0, wall0 = time.process_time(), time.monotonic()
        due = wall0 + commit_interval
        for p in timed:
            due = step(c, p, due)
        assert c.flush_latest()
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        rows = c.stats.stored - rows0
        events = c.stats.alerts_raised + c.stats.alerts_cleared - ev0
        prof = cProfile.Profile()
        prof.enable()
        due = time.monotonic() + commit_interval
        for p in profiled:
            due = step(c, p, due)
        c.flush_latest()
        prof.disable()
    finally:
        c._producer.close(timeout=10)
        cluster.shutdown()
        scratch.drop_keyspace(ks)
    return {
        "case": name,
        "rows": rows,
        "events_per_reading": events / rows,
        "cpu_us_per_row": cpu / rows * 1e6,
        "rate_in_process": rows / wall,
        "stages": shares(prof),
    }


def step(c: VitalsConsumer, poll: dict, due: float) -> float:
    """One poll as ``VitalsConsumer.run`` takes it: process it, and write the newest values
    held per patient once the commit interval is over (the loop then commits); the next
    due time (``time.monotonic()``)."""
    assert c.process(poll)
    if time.monotonic() >= due:
        assert c.flush_latest()
        due = time.monotonic() + c.settings.commit_interval_s
    return due


def scratch_settings(ks: str):
    from bench.infra import cassandra_settings

    return cassandra_settings(ks)


def shares(prof: cProfile.Profile) -> dict[str, float]:
    """Each stage's inclusive share (%) of the profiled ``process`` and ``flush_latest`` time."""
    st = pstats.Stats(prof)
    incl: dict[tuple[str, str], float] = {}
    total = 0.0
    for (file, _line, func), (_cc, _nc, _tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        key = (file.rsplit("/", 1)[-1], func)
        incl[key] = incl.get(key, 0.0) + ct
        if key in (("records.py", "process"), ("records.py", "flush_latest")):
            total += ct
    out = {}
    for stage, funcs in STAGES.items():
        out[stage] = 100.0 * sum(incl.get(f, 0.0) for f in funcs) / total if total else 0.0
    out["other"] = max(0.0, 100.0 - sum(out.values()))
    return out


def render(results: list[dict]) -> str:
    cases = [r["case"] for r in results]
    w = max(len(s) for s in [*STAGES, "other", "CPU µs per stored row"]) + 2
    lines = ["consumer stages, in-process (python -m bench.stages)"]
    lines.append("".ljust(w) + "".join(c.rjust(16) for c in cases))
    lines.append(
        "CPU µs per stored row".ljust(w) + "".join(f"{r['cpu_us_per_row']:16.1f}" for r in results)
    )
    lines.append(
        "alert events/reading".ljust(w)
        + "".join(f"{r['events_per_reading']:16.2f}" for r in results)
    )
    lines.append(
        "rows/s (in process)".ljust(w) + "".join(f"{r['rate_in_process']:16,.0f}" for r in results)
    )
    lines.append("share of profiled process() time, %:")
    for stage in [*STAGES, "other"]:
        lines.append(
            ("  " + stage).ljust(w) + "".join(f"{r['stages'][stage]:16.1f}" for r in results)
        )
    return "\n".join(lines)


CASES = {
    "quiet-100": (100, False),
    "quiet-1000": (1000, False),
    "quiet-10000": (10_000, False),
    "storm-1000": (1000, True),
}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__)
    ap.add_argument("--n", type=int, default=20_000, help="timed records per case (default 20,000)")
    ap.add_argument("--cases", default=",".join(CASES), help="comma list of " + ",".join(CASES))
    ap.add_argument(
        "--commit-interval",
        default=str(ConsumerSettings.commit_interval_s),
        help="seconds between patient_latest writes (comma list: each case runs with each, "
        "side by side; 0 = after every poll, as before 2026-11-29)",
    )
    a = ap.parse_args(argv)
    scratch = Scratch.open()
    results = []
    try:
        intervals = [float(x) for x in a.commit_interval.split(",")]
        for name in a.cases.split(","):
            patients, storm = CASES[name]
            for every in intervals:
                label = name if len(intervals) == 1 else f"{name}@{every:g}s"
                print(f"[{time.strftime('%H:%M:%S')}] {label}", file=sys.stderr, flush=True)
                results.append(run_case(scratch, label, a.n, patients, storm, every))
    finally:
        scratch.cleanup()
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
