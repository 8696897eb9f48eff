"""``python -m bench [--quick]``: measure vitals against the local Kafka and Cassandra.

Repeats are interleaved (repeat 1 of every throughput figure, then repeat 2, …) so that
every ratio is computed from figures taken side by side while neighbours load the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import census as cen
from bench import gateway as gw
from bench import latency as lat
from bench import profile, report, runs
from bench.infra import ROOT, Scratch, machine, versions

OUT = ROOT / ".bench"


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small N, one repeat (< 2 min)")
    ap.add_argument("--n", type=int, help="readings per ingest run (default 100,000; quick 20,000)")
    ap.add_argument("--repeats", type=int, help="repeats per figure (default 3; quick 1)")
    ap.add_argument(
        "--budget",
        type=float,
        help="seconds (default 570; quick 115): later repeats are dropped, and said so, "
        "when the machine is too busy to finish them in time",
    )
    ap.add_argument("--profile", action="store_true", help="quick mode: profile too")
    ap.add_argument(
        "--skip",
        default="",
        help="comma list of: latency,sustained,profile,scaling,storm,gateway,census",
    )
    a = ap.parse_args(argv)
    a.n = a.n or (20_000 if a.quick else 100_000)
    a.repeats = a.repeats or (1 if a.quick else 3)
    a.naive_rows = 2_000 if a.quick else 20_000
    a.single_rows = min(a.n, 5_000 if a.quick else 20_000)
    a.latency_s = 15.0 if a.quick else 60.0
    a.sustained_s = 15.0 if a.quick else 60.0
    a.budget_s = a.budget or (115.0 if a.quick else 570.0)
    a.skip = {x.strip() for x in a.skip.split(",") if x.strip()}
    if a.quick and not a.profile:
        a.skip.add("profile")
    return a


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    a = parse(argv)
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    t_start = time.monotonic()
    scratch = Scratch.open()
    results: dict = {}
    meta = {
        "mode": "quick" if a.quick else "full",
        "n": a.n,
        "repeats": a.repeats,
        "naive_rows": a.naive_rows,
        "single_rows": a.single_rows,
        "machine": machine(),
        "versions": versions(scratch.session),
        "started": datetime.now(UTC).isoformat(),
    }
    try:
        run_all(a, scratch, results, stamp)
    finally:
        problems = scratch.cleanup()
        for p in problems:
            log(f"cleanup: {p}")
    meta["seconds"] = time.monotonic() - t_start
    meta["repeats_done"] = len(results.get("ingest1", []))
    meta["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    d = report.derived(results)
    rows = report.table(results, d)
    text = header(meta) + "\n\n" + report.render(rows)
    text += "\n\n" + details(results, d)
    if "profile" in results:
        text += "\n\n" + profile.render(results["profile"])
    for note in results.get("notes", []):
        text += f"\nnote: {note}"
    print(text)
    path = OUT / f"{stamp}.json"
    payload = {"meta": meta, "results": results, "derived": d, "table": [r.cells() for r in rows]}
    path.write_text(json.dumps(payload, indent=1, default=str))
    print(f"\nwritten: {path.relative_to(ROOT)}  ({meta['seconds']:.0f} s)")
    return 0


def details(results: dict, d: dict) -> str:
    """Figures behind the table: CPU per row, start-up, alerts, lag."""
    out = ["details (medians over repeats):"]
    for key, label in (
        ("ingest1", "1 consumer"),
        ("ingest2", "2 consumers"),
        ("scale_100", "100 patients"),
        ("scale_10000", "10,000 patients"),
        ("scale_10000_every_poll", "10,000 patients, --commit-interval 0"),
        ("storm", "alarm storm"),
    ):
        runs_ = results.get(key)
        if not runs_:
            continue
        med = lambda f, rs=runs_: report.spread([r[f] for r in rs])["median"]  # noqa: E731
        out.append(
            f"  {label}: consumer CPU {med('consumer_cpu_us_per_row'):.0f} µs/row (incl. "
            f"start-up), Cassandra CPU {med('cassandra_cpu_us_per_row'):.0f} µs/row (shared "
            f"server), join {med('startup_s'):.1f} s, alerts raised {med('alerts_raised'):.0f}, "
            f"patient_latest upserts per row {med('latest_upserts_per_row'):.2f}"
        )
    for key in ("ceil_replicas_30", "ceil_partition_30", "ceil_partition_60"):
        runs_ = results.get(key)
        if runs_:
            cpu = report.spread([r["cassandra_cpu_us_per_row"] for r in runs_])["median"]
            out.append(f"  {key}: Cassandra CPU {cpu:.0f} µs/row")
    out.append(f"  ceiling (b) winner per repeat: {d.get('ceiling_b_winner')}")
    lat_ = results.get("latency")
    if lat_:
        out.append(
            f"  latency run: {lat_['readings']:,} rows, {lat_['alerts']} alerts published, "
            f"{lat_['commit_samples']} commit samples, producer RSS {lat_['producer_rss_mb']:.0f} "
            f"MB, consumer RSS {lat_['consumer_rss_mb']:.0f} MB"
        )
    if results.get("gateway"):
        out.append(gw.render(results["gateway"]))
    if results.get("census"):
        out.append(cen.render(results["census"]))
    e2e = results.get("sustained")
    if e2e:
        drain = "not within cap" if e2e["drain_s"] is None else f"{e2e['drain_s']:.1f} s"
        out.append(
            f"  end-to-end: produced {e2e['produced']:,}, max lag {e2e['max_lag']:,}, lag at "
            f"end {e2e['lag_at_end']:,}, drained {drain}, consumer RSS {e2e['consumer_rss_mb']}"
        )
    return "\n".join(out)


def header(meta: dict) -> str:
    m, v = meta["machine"], meta["versions"]
    return (
        f"vitals bench ({meta['mode']}): N = {meta['n']:,} readings per ingest run, "
        f"{meta['repeats_done']} of {meta['repeats']} repeat(s), interleaved; naive sample {meta['naive_rows']:,}, "
        f"singles sample {meta['single_rows']:,}\n"
        f"machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, load "
        f"{m['loadavg_at_start']} → {meta['loadavg_at_end']} (shared: absolute figures are noisy)\n"
        f"versions: Python {v['python']}, kafka-python {v['kafka-python']}, cassandra-driver "
        f"{v['cassandra-driver']}, msgspec {v['msgspec']}, Kafka {v['kafka']}, "
        f"Cassandra {v['cassandra']} (single node, RF 1)"
    )


def run_all(a: argparse.Namespace, scratch: Scratch, results: dict, stamp: str) -> None:
    t0 = time.monotonic()
    add = lambda key, value: results.setdefault(key, []).append(value)  # noqa: E731
    alerts = scratch.topic("alerts", 1)
    dlq = scratch.topic("dlq", 1)

    # 1. producer; its first run's topic is the ingest topic
    topics: dict[int | str, str] = {}
    first_start = datetime.now(UTC)
    for r in range(a.repeats):
        t = scratch.topic("vitals1000")
        log(f"producer {r + 1}/{a.repeats}: {a.n:,} readings, 1,000 patients → {t}")
        add("producer", runs.produce(t, a.n, 1000))
        if r == 0:
            topics[1000] = t
        else:
            scratch.drop_topics([t])
    scaling = "scaling" not in a.skip
    if scaling:
        for patients in (100, 10_000):
            topics[patients] = scratch.topic(f"vitals{patients}")
            log(f"prefill {a.n:,} readings, {patients:,} patients → {topics[patients]}")
            add(f"prefill_{patients}", runs.produce(topics[patients], a.n, patients))
    storm = "storm" not in a.skip
    if storm:
        topics["storm"] = scratch.topic("vitalsstorm")
        log(f"prefill {a.n:,} readings, 1,000 patients, random vitals, asystole every other s")
        add("prefill_storm", runs.produce_storm(topics["storm"], a.n, 1000))
    log(f"generating {a.n:,} rows for the ceilings")
    rows = runs.make_rows(a.n, 1000)

    def span() -> tuple[datetime, datetime]:
        return first_start, datetime.now(UTC)

    def ingest(
        members: int,
        patients: int,
        profile_to: Path | None = None,
        topic: str | None = None,
        commit_interval: float | None = None,
    ) -> dict:
        return runs.ingest(
            scratch,
            topic or topics[patients],
            n=a.n,
            patients=patients,
            members=members,
            span=span(),
            alerts=alerts,
            dlq=dlq,
            profile_to=profile_to,
            commit_interval=commit_interval,
        )

    tail = 0.0 if "latency" in a.skip else a.latency_s + 25
    tail += 0.0 if "sustained" in a.skip else a.sustained_s + 35
    repeat_s = 0.0
    for r in range(a.repeats):
        left = a.budget_s - (time.monotonic() - t0)
        profile_s = 0.0
        if r and "profile" not in a.skip:
            profile_s = 15 + results["ingest1"][-1]["seconds"]
        if r and left < repeat_s * 1.1 + profile_s + tail:
            note = f"repeats cut at {r} of {a.repeats}: {left:.0f} s of the budget left"
            log(note)
            results.setdefault("notes", []).append(note)
            break
        r_start = time.monotonic()
        tag = f"repeat {r + 1}/{a.repeats}"
        log(f"{tag}: ingest, 1 consumer")
        add("ingest1", ingest(1, 1000))
        log(f"{tag}: ingest, 2 consumers")
        add("ingest2", ingest(2, 1000))
        for c in (100, 256):
            log(f"{tag}: ceiling (a) singles, {a.single_rows:,} rows, concurrency {c}")
            add(f"ceil_single_{c}", runs.ceiling_singles(scratch, rows[: a.single_rows], c))
        for group_by, size in (("replicas", 30), ("partition", 30), ("partition", 60)):
            log(f"{tag}: ceiling (b) {group_by} batches ×{size}")
            add(
                f"ceil_{group_by}_{size}",
                runs.ceiling_batches(
                    scratch, rows, group_by=group_by, batch_rows=size, concurrency=48
                ),
            )
        log(f"{tag}: naive baseline, {a.naive_rows:,} rows")
        add("naive", runs.naive(scratch, topics[1000], a.naive_rows))
        if scaling:
            for patients in (100, 10_000):
                log(f"{tag}: scaling, 1 consumer, {patients:,} patients")
                add(f"scale_{patients}", ingest(1, patients))
            # side by side: patient_latest written after every poll, as before 2026-11-29
            log(f"{tag}: scaling, 1 consumer, 10,000 patients, --commit-interval 0")
            add("scale_10000_every_poll", ingest(1, 10_000, commit_interval=0.0))
        if storm:
            log(f"{tag}: alarm storm, 1 consumer, 1,000 patients")
            add("storm", ingest(1, 1000, topic=topics["storm"]))
        repeat_s = max(repeat_s, time.monotonic() - r_start)

    if "profile" not in a.skip:
        path = OUT / f"{stamp}-consumer.collapsed"
        log(f"profile: one more 1-consumer ingest under py-spy → {path.relative_to(ROOT)}")
        try:
            results["profile_run"] = ingest(1, 1000, profile_to=path)
        except TimeoutError as e:  # the figures above stand; say so instead of losing them
            results.setdefault("notes", []).append(f"profile run: {e}")
        if path.exists():
            results["profile"] = profile.summarise(path)
    scratch.drop_topics([t for t in topics.values()])
    del rows

    if "latency" not in a.skip:
        log(f"latency: 1,000 readings/s for {a.latency_s:g} s, 1 consumer")
        results["latency"] = lat.latency(scratch, rate=1000, seconds=a.latency_s)
    if "sustained" not in a.skip:
        log(f"end-to-end: 25,000 readings/s for {a.sustained_s:g} s, 2 consumers")
        results["sustained"] = lat.sustained(
            scratch, rate=25_000, seconds=a.sustained_s, drain_max_s=10 if a.quick else 20
        )
    if "gateway" not in a.skip:
        log("gateway: HL7 MLLP saturation (1 and 8 connections), then 100 messages/s")
        results["gateway"] = gw.run(scratch, seconds=8.0 if a.quick else 20.0)
    if "census" not in a.skip:
        gone = 5_000 if a.quick else 20_000
        log(f"census: the live board's per-poll read, 2,000 monitored + {gone:,} gone")
        results["census"] = cen.run(scratch, census=2_000, gone=gone, polls=3 if a.quick else 5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
