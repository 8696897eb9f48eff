"""Spreads over repeats, ratios per repeat, the issue's targets, and the printed table."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# figures in the results dict that hold a list of runs (one per repeat)
BATCH_CEILINGS = ("ceil_replicas_30", "ceil_partition_30", "ceil_partition_60")
SINGLE_CEILINGS = ("ceil_single_100", "ceil_single_256")


def spread(values: Sequence[float | None]) -> dict | None:
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def rates(results: dict, key: str) -> list[float]:
    return [run["rate"] for run in results.get(key, [])]


def per_repeat(results: dict, fn: Callable[[int], float | None]) -> list[float | None]:
    """A figure computed inside each repeat (ratios use only figures of the same repeat)."""
    repeats = len(results.get("ingest1", []))
    return [fn(i) for i in range(repeats)]


def best_batch(results: dict, i: int) -> tuple[str, float] | None:
    found = [(k, results[k][i]["rate"]) for k in BATCH_CEILINGS if len(results.get(k, [])) > i]
    return max(found, key=lambda kv: kv[1]) if found else None


def best_single(results: dict, i: int) -> float | None:
    found = [results[k][i]["rate"] for k in SINGLE_CEILINGS if len(results.get(k, [])) > i]
    return max(found) if found else None


def derived(results: dict) -> dict:
    """Ratios per repeat, then their spread."""

    def ratio(num: str, den: Callable[[int], float | None]) -> Callable[[int], float | None]:
        def f(i: int) -> float | None:
            runs = results.get(num, [])
            d = den(i)
            return runs[i]["rate"] / d if i < len(runs) and d else None

        return f

    def naive(i: int) -> float | None:
        runs = results.get("naive", [])
        return runs[i]["rate"] if i < len(runs) else None

    def batch(i: int) -> float | None:
        b = best_batch(results, i)
        return b[1] if b else None

    return {
        "ingest1_vs_naive": spread(per_repeat(results, ratio("ingest1", naive))),
        "ingest2_vs_naive": spread(per_repeat(results, ratio("ingest2", naive))),
        "ingest1_vs_ceiling_b": spread(per_repeat(results, ratio("ingest1", batch))),
        "ingest2_vs_ceiling_b": spread(per_repeat(results, ratio("ingest2", batch))),
        "ceiling_b": spread(per_repeat(results, batch)),
        "scale_10000_vs_100": spread(
            per_repeat(results, ratio("scale_10000", lambda i: _rate(results, "scale_100", i)))
        ),
        "scale_10000_every_poll_vs_100": spread(
            per_repeat(
                results,
                ratio("scale_10000_every_poll", lambda i: _rate(results, "scale_100", i)),
            )
        ),
        "storm_vs_quiet": spread(
            per_repeat(results, ratio("storm", lambda i: _rate(results, "ingest1", i)))
        ),
        "ceiling_b_winner": per_repeat(results, lambda i: (best_batch(results, i) or (None,))[0]),
        "ceiling_a": spread(per_repeat(results, lambda i: best_single(results, i))),
    }


def _rate(results: dict, key: str, i: int) -> float | None:
    runs = results.get(key, [])
    return runs[i]["rate"] if i < len(runs) else None


@dataclass
class Row:
    label: str
    value: dict | None  # spread
    unit: str = "rows/s"
    target: str = ""
    ok: bool | None = None

    def cells(self) -> list[str]:
        if self.value is None:
            return [self.label, "–", "", "", self.target, ""]
        fmt = _fmt(self.unit)
        v = self.value
        rng = f"{fmt(v['min'])} – {fmt(v['max'])}" if v["n"] > 1 else ""
        mark = "" if self.ok is None else ("✓" if self.ok else "✗")
        return [self.label, f"{fmt(v['median'])} {self.unit}", rng, str(v["n"]), self.target, mark]


def _fmt(unit: str) -> Callable[[float], str]:
    if unit in ("rows/s", "readings/s"):
        return lambda x: f"{x:,.0f}"
    if unit == "×":
        return lambda x: f"{x:.1f}"
    if unit == "of (b)":
        return lambda x: f"{x:.2f}"
    return lambda x: f"{x:,.1f}"


def one(x: float | None) -> dict | None:
    return None if x is None else {"median": x, "min": x, "max": x, "n": 1}


def table(results: dict, d: dict) -> list[Row]:
    rows: list[Row] = []
    s = spread
    prod = s(rates(results, "producer"))
    rows.append(Row("1 producer: sent+acked (CLI figure)", prod, "readings/s"))
    i1 = s(rates(results, "ingest1"))
    rows.append(Row("2 ingest, 1 consumer", i1, target="≥ 40,000", ok=_ge(i1, 40_000)))
    i2 = s(rates(results, "ingest2"))
    rows.append(Row("2 ingest, 2 consumers (one group)", i2, target="≥ 55,000", ok=_ge(i2, 55_000)))
    for key, label in (
        ("ceil_single_100", "3a ceiling: prepared singles, conc 100"),
        ("ceil_single_256", "3a ceiling: prepared singles, conc 256"),
        ("ceil_replicas_30", "3b ceiling: replica-set batches ×30"),
        ("ceil_partition_30", "3b ceiling: same-partition batches ×30"),
        ("ceil_partition_60", "3b ceiling: same-partition batches ×60"),
    ):
        if results.get(key):
            rows.append(Row(label, s(rates(results, key))))
    rows.append(Row("3b ceiling (b) = best batching", d["ceiling_b"]))
    r = d["ingest1_vs_ceiling_b"]
    rows.append(Row("   1 consumer ÷ ceiling (b)", r, "of (b)", "≥ 0.60", _ge(r, 0.6)))
    r = d["ingest2_vs_ceiling_b"]
    rows.append(Row("   2 consumers ÷ ceiling (b)", r, "of (b)"))
    nv = s(rates(results, "naive"))
    rows.append(Row("4 naive baseline (seed's way)", nv))
    r = d["ingest1_vs_naive"]
    rows.append(Row("   1 consumer ÷ naive", r, "×", "≥ 15×", _ge(r, 15)))
    lat = results.get("latency")
    if lat:
        w, c, a = lat["sent_to_write_ms"], lat["sent_to_commit_ms"], lat["sent_to_alert_ms"]
        for key, label, data in (
            ("p50", "5 sent → write issued (WRITETIME) p50", w),
            ("p95", "5 sent → write issued p95", w),
            ("p99", "5 sent → write issued p99", w),
            ("max", "5 sent → write issued max", w),
            ("p99", "5 sent → offset committed p99 (≥ acked)", c),
            ("max", "5 sent → offset committed max", c),
            ("p50", "5 sent → alert published p50", a),
            ("p95", "5 sent → alert published p95", a),
            ("p99", "5 sent → alert published p99", a),
            ("max", "5 sent → alert published max", a),
        ):
            v = one(data.get(key))
            if key == "p99" and data is a:
                rows.append(Row(label, v, "ms", "< 100 ms", _lt(v, 100)))
            elif key == "p99":
                rows.append(Row(label, v, "ms", "< 50 ms", _lt(v, 50)))
            else:
                rows.append(Row(label, v, "ms"))
    crss = s(_consumer_rss(results))
    rows.append(Row("6 consumer peak RSS (all runs)", crss, "MB", "< 120 MB", _lt_max(crss, 120)))
    prss = s([run["rss_mb"] for run in results.get("producer", [])])
    rows.append(Row("6 producer peak RSS", prss, "MB", "< 80 MB", _lt_max(prss, 80)))
    for key, label in (
        ("scale_100", "7 scaling: 1 consumer, 100 patients"),
        ("ingest1", "7 scaling: 1 consumer, 1,000 patients"),
        ("scale_10000", "7 scaling: 1 consumer, 10,000 patients"),
        ("scale_10000_every_poll", "   10,000 patients, --commit-interval 0 (before)"),
    ):
        if results.get(key):
            rows.append(Row(label, s(rates(results, key))))
    r = d.get("scale_10000_vs_100")
    if r:
        rows.append(Row("   10,000 ÷ 100 patients", r, "×", "≥ 0.9", _ge(r, 0.9)))
    r = d.get("scale_10000_every_poll_vs_100")
    if r:
        rows.append(Row("   10,000 (every poll) ÷ 100 patients", r, "×"))
    if results.get("storm"):
        rows.append(Row("7 alarm storm: 1 consumer, random vitals", s(rates(results, "storm"))))
        r = d.get("storm_vs_quiet")
        rows.append(Row("   storm ÷ quiet ward (1,000 patients)", r, "×", "≥ 0.5", _ge(r, 0.5)))
    e2e = results.get("sustained")
    if e2e:
        v = one(e2e["committed_rate_during_run"])
        ok = e2e["producer_rate"] >= 25_000 and not e2e["lag_growing"]
        lbl = f"8 end-to-end {e2e['offered_rate']:,.0f}/s offered, 2 consumers: stored"
        rows.append(Row(lbl, v, "readings/s", "≥ 25,000, lag flat", ok))
        rows.append(Row("   producer achieved", one(e2e["producer_rate"]), "readings/s"))
        rows.append(Row("   lag slope (2nd half)", one(e2e["lag_slope_per_s"]), "records/s"))
    return rows


def _consumer_rss(results: dict) -> list[float]:
    out = []
    for key in (
        "ingest1",
        "ingest2",
        "scale_100",
        "scale_10000",
        "scale_10000_every_poll",
        "storm",
    ):
        for run in results.get(key, []):
            out += [x for x in run["rss_mb"] if x is not None]
    lat = results.get("latency")
    if lat and lat.get("consumer_rss_mb"):
        out.append(lat["consumer_rss_mb"])
    return out


def _ge(v: dict | None, target: float) -> bool | None:
    return None if v is None else v["median"] >= target


def _lt(v: dict | None, target: float) -> bool | None:
    return None if v is None else v["median"] < target


def _lt_max(v: dict | None, target: float) -> bool | None:
    return None if v is None else v["max"] < target


def render(rows: list[Row]) -> str:
    head = ["figure", "median", "spread (min – max)", "runs", "target", ""]
    cells = [head] + [r.cells() for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = []
    for n, c in enumerate(cells):
        lines.append(
            "  ".join(
                x.ljust(w) if i != 1 else x.rjust(w)
                for i, (x, w) in enumerate(zip(c, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
