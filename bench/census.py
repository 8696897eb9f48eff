"""The live board's once-a-second read at hospital scale: census vs every patient ever seen.

A scratch keyspace is filled straight through the driver (unlogged batches, as the consumer
would have left the tables): ``census`` patients with a reading in the last minute, then
``gone`` patients whose newest reading is two days old (discharged long ago without an end
of monitoring). A tenth of each has an active alert. The server's per-poll work
(``WardStore.ward``: the reads plus building the states, as ``vitals serve`` does every
second) is timed with the census read and with the whole-table read it replaced
(``include_all``), first with only the census in the tables, then with the others added.
``fill`` is shared with tests/integration/test_web_census.py. Alone: ``python -m bench.census``.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent
from cassandra.query import BatchStatement, BatchType

from bench.infra import Scratch, cassandra_settings
from vitals.store import connect

BATCH = 100  # rows per unlogged batch (one node: no replica grouping needed)

_LATEST = (
    "INSERT INTO patient_latest (patient_id, timestamp, heart_rate, spo2, systolic, diastolic, "
    "respiratory_rate, temperature, consciousness, on_oxygen, news2, news2_incomplete) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'A', false, ?, '') USING TIMESTAMP ?"
)
_ACTIVE = (
    "INSERT INTO active_alerts (patient_id, rule, severity, message, value, raised_at) "
    "VALUES (?, 'low_spo2', 'medium', 'SpO2 89 % below 90 %', 89, ?)"
)


def fill(session: Session, ids: list[str], *, at: datetime, alerting_every: int = 10) -> None:
    """One ``patient_latest`` row per id with its reading at ``at`` (UTC, written with that
    write time, as the consumer does), and an active alert for every ``alerting_every``-th."""
    latest = session.prepare(_LATEST)
    active = session.prepare(_ACTIVE)
    micros = int(at.timestamp() * 1_000_000)
    batches = []
    for i in range(0, len(ids), BATCH):
        b = BatchStatement(batch_type=BatchType.UNLOGGED)
        for j, pid in enumerate(ids[i : i + BATCH], i):
            b.add(latest, (pid, at, 72, 97, 120, 80, 16, 36.8, 1, micros))
            if alerting_every and j % alerting_every == 0:
                b.add(active, (pid, at))
        batches.append((b, None))
    execute_concurrent(session, batches, concurrency=16, raise_on_first_error=True)


def _timed(store: object, *, include_all: bool, polls: int) -> dict:
    seconds, rows, shown = [], 0, 0
    for _ in range(polls):
        t = time.perf_counter()
        states = store.ward(  # type: ignore[attr-defined]
            now=datetime.now(UTC), stale_after=30.0, include_all=include_all
        )
        seconds.append(time.perf_counter() - t)
        rows, shown = store.rows_read, len(states)  # type: ignore[attr-defined]
    return {"median_s": statistics.median(seconds), "rows_read": rows, "patients": shown}


def _board_poll(store: object, polls: int) -> float:
    """Median seconds of the live board's whole poll (census read, the states validated as
    the API's models, the diff against the last poll) on the large keyspace."""
    from vitals.web.live import Board

    board = Board(store)  # type: ignore[arg-type]
    seconds = []
    for _ in range(polls):
        t = time.perf_counter()
        board.poll()
        seconds.append(time.perf_counter() - t)
    return statistics.median(seconds)


def write_cost(
    scratch: Scratch, *, patients: int = 1_000, rounds: int = 30, pairs: int = 2
) -> dict:
    """What the census index costs the consumer's writes: Cassandra CPU per ``patient_latest``
    upsert (µs) with and without the index on ``timestamp``, in ``pairs`` interleaved runs of
    ``rounds`` upserts of every one of ``patients`` (medians)."""
    from bench.infra import cpu_seconds, service_pid

    us: dict[str, list[float]] = {"with_index": [], "without_index": []}
    pid = service_pid("cassandra")
    for _ in range(pairs):
        for label in us:
            ks = scratch.keyspace(f"w{label[:6]}")
            cluster, session = connect(cassandra_settings(ks))
            try:
                if label == "without_index":
                    session.execute(f"DROP INDEX {ks}.patient_latest_timestamp_idx")
                ids = [f"P{i:05d}" for i in range(patients)]
                start, cpu = datetime.now(UTC), cpu_seconds(pid)
                for r in range(rounds):
                    fill(session, ids, at=start + timedelta(seconds=r), alerting_every=0)
                us[label].append((cpu_seconds(pid) - cpu) / (patients * rounds) * 1e6)
            finally:
                cluster.shutdown()
                scratch.drop_keyspace(ks)
    return {k: statistics.median(v) for k, v in us.items()}


def run(scratch: Scratch, *, census: int = 2_000, gone: int = 20_000, polls: int = 5) -> dict:
    """Per-poll time (median of ``polls``) and rows read, census and whole-table reads, with
    ``census`` patients in the tables, then with ``gone`` more who left the census."""
    from vitals.web.data import WardStore

    ks = scratch.keyspace("census")
    cluster, session = connect(cassandra_settings(ks))
    out: dict = {"census": census, "gone": gone}
    try:
        store = WardStore(session)
        now = datetime.now(UTC)
        fill(session, [f"NOW{i:05d}" for i in range(census)], at=now - timedelta(seconds=5))
        out["small_census"] = _timed(store, include_all=False, polls=polls)
        out["small_all"] = _timed(store, include_all=True, polls=polls)
        fill(session, [f"OLD{i:05d}" for i in range(gone)], at=now - timedelta(days=2))
        out["large_census"] = _timed(store, include_all=False, polls=polls)
        out["large_all"] = _timed(store, include_all=True, polls=polls)
        out["board_poll_s"] = _board_poll(store, polls)
    finally:
        cluster.shutdown()
        scratch.drop_keyspace(ks)
    out["write_us"] = write_cost(scratch)
    return out


def render(r: dict) -> str:
    """The figures as the bench prints them."""
    lines = [f"  census read per poll ({r['census']:,} patients monitored now):"]
    for size, label in (("small", f"{r['census']:,}"), ("large", f"{r['census'] + r['gone']:,}")):
        c, a = r[f"{size}_census"], r[f"{size}_all"]
        lines.append(
            f"    {label:>6} patients in patient_latest: census {c['rows_read']:,} rows "
            f"{c['median_s'] * 1000:.0f} ms ({c['patients']:,} shown) · whole tables "
            f"{a['rows_read']:,} rows {a['median_s'] * 1000:.0f} ms ({a['patients']:,} shown)"
        )
    if "board_poll_s" in r:
        lines.append(
            f"    live board's whole poll (read, states, diff) at "
            f"{r['census'] + r['gone']:,}: {r['board_poll_s'] * 1000:.0f} ms"
        )
    if "write_us" in r:
        w = r["write_us"]
        lines.append(
            f"    Cassandra CPU per patient_latest upsert: {w['with_index']:.0f} µs with the "
            f"census index, {w['without_index']:.0f} µs without"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # python -m bench.census: this section alone
    scratch = Scratch.open()
    try:
        print(render(run(scratch)))
    finally:
        for problem in scratch.cleanup():
            print(f"cleanup: {problem}")
