"""A rule compiled to plain comparisons of a raw value, as the chart reads that value.

``above: 110`` is true from 111 on, but also from 110.5 on (the chart rounds
half up, see ``vitals.news2``): ``Check`` turns each limit into one cut between
two grid values, so evaluating a reading is a float comparison, not a rounding.
``charted`` is the value as the chart reads it, for messages and events.
``Checks`` is one group's enabled rules compiled once per rule set, with the range of
each vital inside which none of them can raise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from vitals.news2 import round_half_up
from vitals.rules.model import _SLOT, Rule, RuleSet, _fmt_duration

_INF = float("inf")
#: Vitals a bedside monitor measures as a continuous signal (ECG, pulse oximetry,
#: impedance respiration), whose artifacts the alarm condition delay filters
#: (IEC 60601-1-8); blood pressure (NIBP cuff cycles) and temperature are intermittent.
CONTINUOUS = frozenset({"heart_rate", "spo2", "respiratory_rate"})


class Check:
    """A rule compiled to plain comparisons of the raw value ``v``:
    raise when ``v < lo or v >= hi``; clear when ``clo <= v < chi`` (see ``_gt``)."""

    __slots__ = (
        "area",
        "chi",
        "clo",
        "continuous",
        "count",
        "decimals",
        "duration",
        "ehi",
        "elo",
        "fast",
        "gap",
        "grace",
        "hi",
        "immediate",
        "lo",
        "min_for",
        "name",
        "rule",
        "slot",
    )

    def __init__(self, r: Rule) -> None:
        self.rule, self.name, self.slot = r, r.name, _SLOT[r.vital]
        self.decimals = 1 if r.vital == "temperature" else 0
        self.count, self.duration = r.for_readings, r.for_duration
        self.immediate = r.for_readings <= 1 and r.for_duration is None
        step = Decimal("0.1") if r.vital == "temperature" else Decimal(1)
        self.lo = _ge(r.low, step) if r.low is not None else -_INF  # raise: R < low
        self.hi = _gt(r.high, step) if r.high is not None else _INF  # raise: R > high
        self.clo, self.chi = self.lo, self.hi  # default clear: the rule is false
        if r.condition == "outside" and r.clear_low is not None:  # clear: low <= R <= high
            assert r.clear_high is not None  # the loader sets both or neither
            self.clo, self.chi = _ge(r.clear_low, step), _gt(r.clear_high, step)
        elif r.condition == "below" and r.clear_low is not None:  # clear: R > clear_low
            self.clo = _gt(r.clear_low, step)
        elif r.condition == "above" and r.clear_high is not None:  # clear: R < clear_high
            self.chi = _ge(r.clear_high, step)
        self.grace, self.area, self.min_for = r.grace, r.area, r.min_for
        self.elo = _ge(r.extreme_low, step) if r.extreme_low is not None else None
        self.ehi = _gt(r.extreme_high, step) if r.extreme_high is not None else None
        self.fast = self.elo is not None or self.ehi is not None
        # longest spacing of a continuous signal: beyond it a reading is a spot measurement
        self.gap = r.grace
        self.continuous = r.vital in CONTINUOUS

    def depth(self, v: float) -> float:
        """How far ``v`` is beyond the rule's limit (units of the vital; > 0 when true)."""
        r = self.rule
        return max(
            r.low - v if r.low is not None else 0.0, v - r.high if r.high is not None else 0.0
        )

    def spot(self, previous: datetime | None, before: datetime | None, ts: datetime) -> bool:
        """Is a reading at ``ts`` an intermittent measurement of its vital, to judge at once?

        ``previous``, ``before``: the two newest earlier readings with a value or a technical
        status of the vital (``None``: none). The alarm condition delay (``for:``,
        IEC 60601-1-8) filters artifacts of a continuous signal. A reading more than
        ``grace:`` after the previous one of its vital is a spot measurement (NIBP cuff cycle, thermometer, manual observation: a
        monitor alarms on the NIBP result as the cycle completes) unless that previous one
        was itself part of a continuous signal (at most ``grace:`` after its predecessor):
        then the signal resumes after a gap (leads reattached) and the delay starts anew. A
        first value is a spot measurement only for an intermittent vital (blood pressure,
        temperature, a NEWS2 score); the first value of a ``CONTINUOUS`` one starts the delay
        like any (a stream's first readings are often artifacts), and the next value decides:
        more than ``grace:`` later, the first was a spot measurement (the engine raises it
        then, dated at its own time). Always ``False`` for a rule without ``grace:``,
        which behaves as before it existed (its ``for:`` runs on through gaps)."""
        gap = self.gap
        if gap is None:
            return False
        if previous is None:
            return not self.continuous
        return ts - previous > gap and (before is None or previous - before > gap)

    def extreme(self, v: float) -> bool:
        return (self.elo is not None and v < self.elo) or (self.ehi is not None and v >= self.ehi)

    def due(self, run: list, ts: datetime) -> bool:
        """Has the run ``[true readings, first true, last true, area, extreme since, last]``
        lasted long enough to raise at the reading at ``ts``?"""
        held = ts - run[1]
        if run[0] >= self.count and (self.duration is None or held >= self.duration):
            return True
        if self.min_for is None or held < self.min_for:
            return False
        if self.area is not None and run[3] >= self.area:
            return True
        return run[4] is not None and ts - run[4] >= self.min_for


#: A ``grace:`` shorter than this, with a ``for:`` duration, is shorter than many devices'
#: reading interval (pulse oximeters every 15 s, NIBP cuff cycles): ``vitals rules check``
#: warns, as every value of such a device is then judged at once (``Check.spot``).
SHORT_GRACE = timedelta(seconds=15)


def short_grace_warnings(ruleset: RuleSet) -> list[str]:
    """One ``FILE:LINE: ...`` warning per enabled rule (defaults and patient overrides, once
    each) whose ``grace:`` is shorter than ``SHORT_GRACE`` with a ``for:`` duration: a
    vital read less often than every ``grace:`` has each value taken for a spot
    measurement and judged at once, so its ``for:`` never delays an alarm."""
    out: list[str] = []
    done: set[tuple[str, int | None]] = set()
    rules = list(ruleset.rules) + [r for p in ruleset.patients.values() for r in p.rules]
    for r in rules:
        if r.grace is None or r.for_duration is None or r.grace >= SHORT_GRACE or not r.enabled:
            continue
        if (r.name, r.line) in done:
            continue
        done.add((r.name, r.line))
        where = f"{ruleset.source}:{r.line}" if r.line is not None else ruleset.source
        g = _fmt_duration(r.grace)
        out.append(
            f"{where}: rule {r.name}: grace: {g} is shorter than "
            f"{_fmt_duration(SHORT_GRACE)}: a {r.vital} read less often than every {g} "
            f"(a pulse oximeter every 15 s, a cuff) is judged at once at each value, so "
            f"for: {_fmt_duration(r.for_duration)} never delays its alarm"
        )
    return out


class Checks:
    """The enabled rules of one group of patients (file order), compiled once per rule set.

    ``names``: their names. ``quiet``: ``(slot, lo, hi)`` per vital slot some check reads
    (see ``vitals.rules.model._SLOT``): a value ``lo <= v < hi`` raises none of that
    slot's checks. A reading ``calm`` on every slot, of a patient with no run under way
    and none of these rules active, can neither raise, clear nor move a run: the engine
    need not visit each check.
    """

    __slots__ = ("checks", "names", "quiet")

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.checks = tuple(Check(r) for r in rules if r.enabled)
        self.names = frozenset(c.name for c in self.checks)
        bounds: dict[int, tuple[float, float]] = {}
        for c in self.checks:
            lo, hi = bounds.get(c.slot, (-_INF, _INF))
            bounds[c.slot] = (max(lo, c.lo), min(hi, c.hi))
        self.quiet = tuple((slot, lo, hi) for slot, (lo, hi) in sorted(bounds.items()))

    def calm(self, values: tuple[float | None, ...]) -> bool:
        """True if no value (by slot; ``None``: not measured) is beyond a raise limit."""
        for slot, lo, hi in self.quiet:
            v = values[slot]
            if v is not None and (v < lo or v >= hi):
                return False
        return True


# The value R as the chart reads it (rounded half up to a multiple of ``step``) compared with
# a limit x, as one comparison of the raw value v with a cut between two grid values:
#   R > x  <=>  v >= _gt(x)        R <= x  <=>  v < _gt(x)
#   R >= x <=>  v >= _ge(x)        R < x   <=>  v < _ge(x)
def _gt(x: float, step: Decimal) -> float:
    return float(_grid(x, step, ROUND_FLOOR) + step / 2)


def _ge(x: float, step: Decimal) -> float:
    return float(_grid(x, step, ROUND_CEILING) - step / 2)


def _grid(x: float, step: Decimal, rounding: str) -> Decimal:
    """``x`` rounded to a multiple of ``step`` (down or up); ``x`` exactly as written."""
    return (Decimal(repr(x)) / step).to_integral_value(rounding) * step


def charted(v: float, decimals: int) -> int | float:
    """The value as the chart reads it, for messages and events (90.5 -> 91, 36.05 -> 36.1)."""
    if decimals == 0:
        return v if v.__class__ is int else round_half_up(v)
    return round_half_up(v, decimals)
