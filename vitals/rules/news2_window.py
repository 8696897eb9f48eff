"""The NEWS2 alert level held over a window of readings (the default rules: 1 min).

One red-scoring artifact is not an alarm and a score hovering at a band edge
raises once: the level is the highest reached by at least 2/3 of the window's
readings, and it is calm when at most 1/5 of them reach any level (see
``vitals.rules``, "How RuleEngine.evaluate behaves").

The window filters artifacts of a continuous series of scores. A spot score (the first,
or one more than ``span`` after a previous score that was itself alone in its window:
manual observations every few minutes or hours) has no series to wait on and is judged
on its own at once, as without a window (RCP NEWS2 2017 scores each set of observations;
IEC 60601-1-8 alarm condition delays are for continuous signals). A continuous series
resuming after a gap (leads reattached) starts its window again.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta


class News2Window:
    """The NEWS2 alert level (0 none, 1 low, 2 medium, 3 high) and total of each reading of
    the last ``span``; ``since``: the first reading of an unbroken series (no gap longer than span)."""

    __slots__ = ("counts", "items", "quiet_since", "since")

    def __init__(self, ts: datetime) -> None:
        self.items: deque[tuple[datetime, int, int]] = deque()  # (time, level, total)
        self.counts = [0, 0, 0, 0]
        self.since = ts
        self.quiet_since: datetime | None = None  # since when at most 1/5 reach a level

    def add(
        self, ts: datetime, level: int, span: timedelta, total: int = 0
    ) -> tuple[int, bool] | None:
        """Add a reading; ``(level held by >= 2/3 of the window, calm)``, or ``None`` while
        the series is shorter than ``span``; a spot score: ``(its level, level == 0)``. Calm: at most 1/5 of the window's readings
        reached any level, at every reading of the last ``span`` (two windows in all)."""
        items, counts = self.items, self.counts
        if not items or ts - items[-1][0] > span:  # the first, or after a gap: start again
            spot = len(items) < 2  # the previous score, if any, was alone in its window
            items.clear()
            counts[:] = [0, 0, 0, 0]
            self.since, self.quiet_since = ts, None
            items.append((ts, level, total))
            counts[level] += 1
            return (level, level == 0) if spot else None
        items.append((ts, level, total))
        counts[level] += 1
        cut = ts - span
        while items[0][0] < cut:
            counts[items.popleft()[1]] -= 1
        if ts - self.since < span:
            return None
        n, at_least = len(items), 0
        held = 0
        for lv in (3, 2, 1):
            at_least += counts[lv]
            if at_least * 3 >= n * 2:
                held = lv
                break
        if (n - counts[0]) * 5 > n:
            self.quiet_since = None
        elif self.quiet_since is None:
            self.quiet_since = ts
        return held, self.quiet_since is not None and ts - self.quiet_since >= span

    def total_at(self, level: int) -> int | None:
        """The total of the newest reading of the window at exactly ``level``: the score an
        alert held at that level quotes (one always exists for a level ``add`` returned, as
        fewer than 2/3 of the readings reach the level above). ``None`` if there is none."""
        for _, lv, total in reversed(self.items):
            if lv == level:
                return total
        return None
