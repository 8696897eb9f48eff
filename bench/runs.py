"""Throughput runs: the producer, the consumer group, the seed's consumer, Cassandra ceilings.

Each function does one measurement and returns a flat dict of figures (rates in
rows/s, times in s, memory in MB); ``bench.__main__`` repeats and tabulates them.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType
from kafka import KafkaConsumer

from bench.infra import (
    KAFKA,
    Offsets,
    Scratch,
    Topics,
    VitalsProc,
    count_rows,
    cpu_seconds,
    days_between,
    service_pid,
    vitals_env,
    wait_until,
)
from vitals.readings import Reading
from vitals.sources import Ward, patient_ids
from vitals.store import Writer
from vitals.store.rows import INSERT_READING, reading_row

_SENT = re.compile(r"sent (\d+) readings to \S+: (\d+) acknowledged, (\d+) failed \(([\d,]+)/s\)")
_STOPPED = re.compile(r"stored (\d+), dead-lettered (\d+), alerts raised (\d+), cleared (\d+)")
_UPSERTS = re.compile(r"patient_latest upserts (\d+)")


# --- producer ------------------------------------------------------------------------------


def produce(topic: str, n: int, patients: int, *, rate: float = 10_000_000, seed: int = 7) -> dict:
    """`vitals produce --mode random --quiet` as a subprocess; all N must be acknowledged."""
    args = ["produce", "--mode", "random", "--quiet", "--count", str(n), "--rate", f"{rate:g}"]
    args += ["--patient-count", str(patients), "--seed", str(seed)]
    started = datetime.now(UTC)
    p = VitalsProc(args, vitals_env(VITALS_TOPIC=topic))
    code = p.finish(sig=None, timeout=max(120.0, n / 2000))
    line = p.last_line("readings to") or ""
    m = _SENT.search(line)
    if code != 0 or not m:
        raise RuntimeError(f"`vitals produce` failed (exit {code}):\n{p.text()}")
    sent, acked, failed = int(m[1]), int(m[2]), int(m[3])
    if acked != n or failed:
        raise RuntimeError(f"producer acknowledged {acked} of {n} ({failed} failed)")
    wall = (p.ended or time.monotonic()) - p.started
    return {
        "rows": acked,
        "rate": float(m[4].replace(",", "")),  # the CLI's own figure: send start → all acked
        "rate_incl_startup": acked / wall,
        "rss_mb": p.maxrss_mb,
        "cpu_us_per_row": (p.cpu_s or 0) / acked * 1e6,
        "started": started.isoformat(),
        "ended": datetime.now(UTC).isoformat(),
        "sent": sent,
    }


def produce_storm(topic: str, n: int, patients: int, *, seed: int = 7) -> dict:
    """An alarm storm: ``n`` readings of ``patients`` patients, one per patient per second
    of reading time, ending now: ``storm_reading``, asystole every other second, so the
    default rules give ≥ 1 alert event per reading."""
    import random

    from vitals.config import KafkaSettings
    from vitals.producer import VitalsProducer

    rng = random.Random(seed)
    ids = patient_ids(None, patients)
    step = timedelta(seconds=1) / patients
    start = datetime.now(UTC) - step * n
    t0 = time.monotonic()
    with VitalsProducer(kafka=KafkaSettings(bootstrap_servers=(KAFKA,)), topic=topic) as p:
        for i in range(n):
            asystole = (i // patients) % 2 == 0  # every other reading of each patient
            p.send(storm_reading(rng, ids[i % patients], start + step * i, asystole))
    if p.stats.acked != n or p.stats.failed:
        raise RuntimeError(f"storm producer acknowledged {p.stats.acked} of {n}")
    return {"rows": n, "rate": n / (time.monotonic() - t0)}


def storm_reading(rng, patient_id: str, ts: datetime, asystole: bool = False) -> Reading:
    """Uniformly random vitals in the seed producer's ranges (heart rate 50–130 bpm, SpO2
    88–100 %, systolic 90–180 / diastolic 50–110 mmHg, respiratory rate 10–30 /min,
    temperature 35.5–39.5 °C; diastolic below systolic, so none is dead-lettered), with a
    heart rate of 0 bpm when ``asystole``. The default rules raise most alerts only after
    10–60 s beyond a limit, which random values seldom sustain (0.08 events per reading);
    every other reading of a patient in asystole raises and clears ``no_pulse`` at once
    (1.15 events per reading)."""
    systolic = rng.randint(90, 180)
    return Reading(
        patient_id=patient_id,
        timestamp=ts,
        heart_rate=0 if asystole else rng.randint(50, 130),
        spo2=rng.randint(88, 100),
        systolic=systolic,
        diastolic=rng.randint(50, min(110, systolic - 10)),  # valid: below the systolic
        respiratory_rate=rng.randint(10, 30),
        temperature=round(rng.uniform(35.5, 39.5), 1),
    )


# --- the consumer group --------------------------------------------------------------------


def ingest(
    scratch: Scratch,
    topic: str,
    *,
    n: int,
    patients: int,
    members: int,
    span: tuple[datetime, datetime],
    alerts: str,
    dlq: str,
    profile_to: Path | None = None,
    commit_interval: float | None = None,
) -> dict:
    """Time ``members`` × `vitals consume --quiet` (one fresh group, fresh keyspace) to store
    all ``n`` rows of ``topic`` and commit the end offsets (``commit_interval``: the
    members' ``--commit-interval``, None: its default).

    The clock starts when the first member prints its partition assignment (the moment
    polling begins) and stops when the group's committed offsets reach the end of every
    partition and every row is counted in Cassandra.
    """
    ks = scratch.keyspace("ingest")
    group = scratch.group("ingest")
    env = vitals_env(Topics(topic, alerts, dlq, group), ks)
    if commit_interval is not None:
        env["VITALS_COMMIT_INTERVAL"] = str(commit_interval)
    offsets = Offsets(topic)
    ends = offsets.ends()
    if sum(ends.values()) != n:
        raise RuntimeError(f"topic {topic} holds {sum(ends.values())} records, expected {n}")
    cass_pid = service_pid("cassandra")
    procs = [VitalsProc(["consume", "--quiet"], env) for _ in range(members)]
    spy = None
    try:
        assigned = min(p.wait_for("Partitions assigned", 60) for p in procs)
        cass0 = cpu_seconds(cass_pid)
        if profile_to is not None:
            spy = _py_spy(procs[0].pid, profile_to)

        def caught_up() -> bool:
            for p in procs:
                if not p.alive():
                    raise RuntimeError(f"a consumer exited early:\n{p.text()}")
            return offsets.caught_up(group, ends)

        try:
            wait_until(
                caught_up, max(120.0, n / 500), f"group {group} committing the end offsets {ends}"
            )
        except TimeoutError as e:  # say what the members said, not only that they were late
            tails = "\n".join(p.text()[-1500:] for p in procs)
            raise TimeoutError(
                f"{e}; committed {offsets.committed(group)}; members:\n{tails}"
            ) from None
        done = time.monotonic()
        cass1 = cpu_seconds(cass_pid)
        days = days_between(*span)
        ids = patient_ids(None, patients)
        stored = count_rows(scratch.session, ks, ids, days)
        if stored < n:  # offsets are committed after the writes: this should not happen
            wait_until(lambda: count_rows(scratch.session, ks, ids, days) >= n, 30, "all rows")
            done = time.monotonic()
    finally:
        if spy is not None:
            import signal

            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        for p in procs:
            p.finish()
        offsets.close()
    seconds = done - assigned
    last = [p.last_line("Stopped after") or "" for p in procs]
    stats = [_STOPPED.search(line) for line in last]
    cpu = sum(p.cpu_s or 0 for p in procs)
    out = {
        "rows": n,
        "seconds": seconds,
        "rate": n / seconds,
        "startup_s": assigned - min(p.started for p in procs),
        "rss_mb": [p.maxrss_mb for p in procs],
        "consumer_cpu_us_per_row": cpu / n * 1e6,  # includes start-up (imports, connect)
        "cassandra_cpu_us_per_row": (cass1 - cass0) / n * 1e6,  # shared server: noisy
        "stored_by_member": [int(m[1]) if m else None for m in stats],
        "alerts_raised": sum(int(m[3]) for m in stats if m),
        "dead_lettered": sum(int(m[2]) for m in stats if m),
        # patient_latest rows written per stored reading (a count: steady on a noisy machine)
        "latest_upserts_per_row": sum(int(m[1]) for line in last if (m := _UPSERTS.search(line)))
        / n,
    }
    scratch.drop_keyspace(ks)
    return out


def _py_spy(pid: int, path: Path):
    import subprocess
    import sys

    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():  # requirements-dev.txt installs it; without it: no profile, no crash
        return None
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "--nonblocking",
            "--threads",
            "-o",
            str(path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# --- the seed's consumer -------------------------------------------------------------------

_SEED_TABLE = """
CREATE TABLE IF NOT EXISTS {ks}.patient_vitals (
    patient_id text, timestamp timestamp, heart_rate int, spo2 int, systolic int,
    diastolic int, respiratory_rate int, temperature float,
    PRIMARY KEY (patient_id, timestamp))
"""
_SEED_INSERT = (
    "INSERT INTO {ks}.patient_vitals (patient_id, timestamp, heart_rate, spo2, systolic, "
    "diastolic, respiratory_rate, temperature) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


def naive(scratch: Scratch, topic: str, rows: int) -> dict:
    """The seed's way: one poll loop, ``json.loads``, one synchronous insert per message."""
    ks = scratch.name("naive")
    scratch.keyspaces.append(ks)
    s = scratch.session
    s.execute(
        f"CREATE KEYSPACE {ks} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    s.execute(_SEED_TABLE.format(ks=ks))
    scratch.cluster.control_connection.wait_for_schema_agreement()
    insert = _SEED_INSERT.format(ks=ks)
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=[KAFKA],
        group_id=scratch.group("naive"),
        auto_offset_reset="earliest",
    )
    done = 0
    t0 = None
    try:
        while done < rows:
            for records in consumer.poll(timeout_ms=1000).values():
                if t0 is None:
                    t0 = time.monotonic()
                for rec in records:
                    d = json.loads(rec.value)
                    bp = d["blood_pressure"]
                    s.execute(
                        insert,
                        (
                            d["patient_id"],
                            datetime.fromisoformat(d["timestamp"]),
                            d["heart_rate"],
                            d["spo2"],
                            bp["systolic"],
                            bp["diastolic"],
                            d["respiratory_rate"],
                            d["temperature"],
                        ),
                    )
                    done += 1
                    if done >= rows:
                        break
                if done >= rows:
                    break
        seconds = time.monotonic() - (t0 or time.monotonic())
    finally:
        consumer.close()
    scratch.drop_keyspace(ks)
    return {"rows": done, "seconds": seconds, "rate": done / seconds}


# --- ceilings: straight into Cassandra -----------------------------------------------------


def make_rows(n: int, patients: int, seed: int = 7) -> list[tuple]:
    """N reading rows for ``patients`` patients, the simulator's values, ``patient_vitals``
    column order (news2 0; no basis, missing, separate cuff time or status: unset), one
    reading per patient per second of simulated time."""
    ids = patient_ids(None, patients)
    ward = Ward(ids, seed=seed)
    start = datetime.now(UTC)
    step = timedelta(seconds=1) / patients
    rows = []
    for i in range(n):
        rows.append(reading_row(ward.next_reading(ids[i % patients], start + step * i), 0))
    return rows


def ceiling_singles(scratch: Scratch, rows: list[tuple], concurrency: int) -> dict:
    """(a) one prepared insert per row, ``execute_concurrent_with_args``."""
    ks = scratch.keyspace("single")
    session = scratch.cluster.connect(ks)
    try:
        stmt = session.prepare(INSERT_READING)
        t0 = time.monotonic()
        for ok, res in execute_concurrent_with_args(
            session, stmt, rows, concurrency=concurrency, raise_on_first_error=True
        ):
            if not ok:
                raise res
        seconds = time.monotonic() - t0
    finally:
        session.shutdown()
    scratch.drop_keyspace(ks)
    return {"rows": len(rows), "seconds": seconds, "rate": len(rows) / seconds}


def ceiling_batches(
    scratch: Scratch, rows: list[tuple], *, group_by: str, batch_rows: int, concurrency: int
) -> dict:
    """(b) unlogged batches that stay sound on a cluster: rows of one partition
    (``group_by="partition"``) or rows sharing a replica set by the driver's token map
    (``"replicas"``: ``vitals.store.Writer.batches``). Grouping is inside the timing."""
    ks = scratch.keyspace("batch")
    session = scratch.cluster.connect(ks)
    cass_pid = service_pid("cassandra")
    try:
        writer = Writer(session, batch_rows=batch_rows, concurrency=concurrency)
        cass0 = cpu_seconds(cass_pid)
        t0 = time.monotonic()
        if group_by == "replicas":
            statements = writer.batches(rows)
        else:
            statements = _partition_batches(writer, rows, batch_rows)
        results = execute_concurrent(
            session,
            [(s, None) for s in statements],
            concurrency=concurrency,
            raise_on_first_error=True,
        )
        for ok, res in results:
            if not ok:
                raise res
        seconds = time.monotonic() - t0
        cass1 = cpu_seconds(cass_pid)
    finally:
        session.shutdown()
    scratch.drop_keyspace(ks)
    return {
        "rows": len(rows),
        "seconds": seconds,
        "rate": len(rows) / seconds,
        "statements": len(statements),
        "cassandra_cpu_us_per_row": (cass1 - cass0) / len(rows) * 1e6,
    }


def _partition_batches(writer: Writer, rows: list[tuple], size: int) -> list:
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for row in rows:
        groups[(row[0], row[1])].append(row)
    prepared = writer._reading
    out = []
    for group in groups.values():
        for i in range(0, len(group), size):
            b = BatchStatement(batch_type=BatchType.UNLOGGED)
            for row in group[i : i + size]:
                b.add(prepared, [UNSET_VALUE if v is None else v for v in row])
            out.append(b)
    return out
