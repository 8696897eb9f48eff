"""Summarise a py-spy ``--format raw`` profile (collapsed stacks) of one consumer.

A collapsed line is ``frame;frame;…;leaf COUNT`` with frames like
``decode (vitals/readings.py:201)``; ``--threads`` adds a thread frame at the root.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _name(frame: str) -> str:
    """``func (path/to/file.py:12)`` → ``file.py:func`` with a short, stable path."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{m['func']}"


def summarise(path: Path, top: int = 10) -> dict:
    """Self and inclusive sample shares per function, and per thread."""
    self_counts: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if frames and frames[0].startswith(("thread", "process")):
            while frames and frames[0].startswith(("thread", "process")):
                if frames[0].startswith("thread"):
                    threads[frames[0]] += n
                frames = frames[1:]
        if not frames:
            continue
        total += n
        names = [_name(f) for f in frames]
        self_counts[names[-1]] += n
        for name in set(names):
            incl[name] += n
    if not total:
        return {"samples": 0}

    def share(c: Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, 100.0 * v / total) for name, v in c.most_common(k)]

    vitals_incl = Counter({k: v for k, v in incl.items() if k.startswith("vitals/")})
    return {
        "samples": total,
        "self": share(self_counts, top),
        "inclusive_vitals": share(vitals_incl, top),
        "threads": share(threads, 6),
    }


def render(summary: dict) -> str:
    if not summary.get("samples"):
        return "profile: no samples (py-spy could not attach?)"
    out = [f"consumer profile: {summary['samples']} samples (py-spy, 200 Hz, all threads)"]
    out.append("  top functions by own time (% of samples):")
    for name, pct in summary["self"]:
        out.append(f"    {pct:5.1f}%  {name}")
    out.append("  vitals/ functions incl. callees (% of samples):")
    for name, pct in summary["inclusive_vitals"]:
        out.append(f"    {pct:5.1f}%  {name}")
    out.append("  threads: " + ", ".join(f"{t} {p:.0f}%" for t, p in summary["threads"]))
    return "\n".join(out)
