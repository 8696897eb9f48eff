"""Evaluating rules: per-patient alert state, one reading at a time (see ``vitals.rules``)."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from vitals.freshness import Basis, Freshest
from vitals.news2 import RESPONSES, News2, round_half_up
from vitals.news2 import score as news2_score
from vitals.readings import Reading
from vitals.rules.model import _RANK, _SLOT, NEWS2_RULE, VITAL_NAMES, AlertEvent, Rule, RuleSet
from vitals.technical import TechnicalAlarms, is_technical_status_rule

log = logging.getLogger(__name__)

_INF = float("inf")
_SEVERITY = {rank: name for name, rank in _RANK.items()}
_VITALS = VITAL_NAMES[:-1]  # the slots of a reading's own vitals (the last is news2)


class _Check:
    """A rule compiled to plain comparisons of the raw value ``v``:
    raise when ``v < lo or v >= hi``; clear when ``clo <= v < chi`` (see ``_gt``)."""

    __slots__ = (
        "area",
        "chi",
        "clo",
        "count",
        "decimals",
        "duration",
        "ehi",
        "elo",
        "fast",
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

    def depth(self, v: float) -> float:
        """How far ``v`` is beyond the rule's limit (units of the vital; > 0 when true)."""
        r = self.rule
        return max(
            r.low - v if r.low is not None else 0.0, v - r.high if r.high is not None else 0.0
        )

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


class _Patient:
    __slots__ = ("active", "checks", "last", "n2", "runs", "stale")

    def __init__(self, checks: tuple[_Check, ...]) -> None:
        self.checks = checks
        self.last: datetime | None = None
        self.active: dict[str, AlertEvent] = {}
        # rule name -> [true readings, first true, last true, area, extreme since, last reading]
        self.runs: dict[str, list] = {}
        self.stale = False  # active may hold alerts of rules no longer in force
        self.n2: _Window | None = None  # NEWS2 alert levels of recent readings (windowed)


class _Window:
    """The NEWS2 alert level (0 none, 1 low, 2 medium, 3 high) of each reading of the last
    ``span``; ``since``: the first reading of an unbroken series (no gap longer than span)."""

    __slots__ = ("counts", "items", "quiet_since", "since")

    def __init__(self, ts: datetime) -> None:
        self.items: deque[tuple[datetime, int]] = deque()
        self.counts = [0, 0, 0, 0]
        self.since = ts
        self.quiet_since: datetime | None = None  # since when at most 1/5 reach a level

    def add(self, ts: datetime, level: int, span: timedelta) -> tuple[int, bool] | None:
        """Add a reading; ``(level held by >= 2/3 of the window, calm)``, or ``None`` while
        the series is shorter than ``span``. Calm: at most 1/5 of the window's readings
        reached any level, at every reading of the last ``span`` (two windows in all)."""
        items, counts = self.items, self.counts
        if items and ts - items[-1][0] > span:  # a gap (lead-off): start again
            items.clear()
            counts[:] = [0, 0, 0, 0]
            self.since, self.quiet_since = ts, None
        items.append((ts, level))
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


class RuleEngine:
    """Per-patient alert state over a ``RuleSet``; see the module docstring."""

    def __init__(self, ruleset: RuleSet) -> None:
        self._patients: dict[str, _Patient] = {}
        self.freshest = Freshest()
        self.technical = TechnicalAlarms()
        self._basis: dict[str, Basis] = {}
        self._compile(ruleset)

    @property
    def ruleset(self) -> RuleSet:
        return self._ruleset

    def _compile(self, ruleset: RuleSet) -> None:
        self._ruleset = ruleset
        self._news2 = ruleset.news2_alerts
        compiled: dict[int, tuple[_Check, ...]] = {}

        def checks(rules: tuple[Rule, ...]) -> tuple[_Check, ...]:
            if id(rules) not in compiled:
                compiled[id(rules)] = tuple(_Check(r) for r in rules if r.enabled)
            return compiled[id(rules)]

        self._default = checks(ruleset.rules)
        self._overridden = {pid: checks(p.rules) for pid, p in ruleset.patients.items()}

    def _state(self, patient_id: str) -> _Patient:
        st = self._patients.get(patient_id)
        if st is None:
            checks = self._overridden.get(patient_id, self._default)
            st = self._patients[patient_id] = _Patient(checks)
        return st

    def assess(self, reading: Reading) -> tuple[News2 | None, list[AlertEvent]]:
        """Score one reading (NEWS2, with the patient's SpO2 scale) and evaluate the rules.

        The one function both the consumer and ``vitals rules replay`` run, so a
        recording replayed offline gives exactly the events the consumer gave.
        NEWS2 takes each parameter's freshest value within its window
        (``vitals.freshness``); ``None`` when the set is incomplete (then no NEWS2
        alert, while single-parameter rules still judge what arrived); what the
        score was based on is ``basis(patient_id)``. Returns ``(news2, events)``;
        raises nothing for a valid ``Reading``.
        """
        basis = self.freshest.update(reading)
        self._basis[reading.patient_id] = basis
        n = None
        if basis.reading is not None:
            scale = self._ruleset.spo2_scale(reading.patient_id)
            n = news2_score(basis.reading, spo2_scale=scale)
        st = self._patients.get(reading.patient_id)
        replay = st is not None and st.last is not None and reading.timestamp <= st.last
        events = self.evaluate(reading, n)
        if not replay:
            events += self.technical.evaluate(reading)  # leads off, probe off: the equipment
        return n, events

    def basis(self, patient_id: str) -> Basis | None:
        """What the patient's last assessed NEWS2 score was based on."""
        return self._basis.get(patient_id)

    def evaluate(self, reading: Reading, news2: News2 | None) -> list[AlertEvent]:
        """Raised and cleared events caused by one reading, in rule order."""
        r = reading
        st = self._patients.get(r.patient_id) or self._state(r.patient_id)
        ts = r.timestamp
        if st.last is not None and ts <= st.last:
            return []  # a replay: already evaluated
        st.last = ts
        events: list[AlertEvent] = []
        active, runs = st.active, st.runs
        if st.stale:
            self._clear_orphans(st, r, events)
        values = (
            r.heart_rate,
            r.spo2,
            r.systolic,
            r.diastolic,
            r.respiratory_rate,
            r.temperature,
            None if news2 is None else news2.total,
        )
        for c in st.checks:
            v = values[c.slot]
            if v is None:  # not measured in this reading: the rule neither raises nor clears
                continue
            if active:
                raised = active.get(c.name)
                if raised is not None:
                    if c.clo <= v < c.chi and ts > raised.timestamp:
                        del active[c.name]
                        events.append(_cleared(raised, ts, _shown(v, c.decimals)))
                    continue
            if v < c.lo or v >= c.hi:
                if not c.immediate:
                    run = runs.get(c.name)
                    if run is None or (c.grace is not None and ts - run[2] > c.grace):
                        run = runs[c.name] = [1, ts, ts, 0.0, None, ts]  # (after a gap: anew)
                    else:
                        run[0] += 1
                        if c.area is not None:
                            run[3] += c.depth(v) * (ts - run[5]).total_seconds()
                        run[2] = run[5] = ts
                    if c.fast:
                        run[4] = (run[4] or ts) if c.extreme(v) else None
                    if not c.due(run, ts):
                        continue
                    del runs[c.name]
                events.append(self._raise(st, c, r, v))
            elif runs:
                run = runs.get(c.name)
                if run is not None:
                    if c.grace is None or ts - run[2] > c.grace:
                        del runs[c.name]
                    else:  # a brief return inside the limit: the run goes on
                        run[4], run[5] = None, ts
        if self._news2 and news2 is not None:
            self._news2_alert(st, r, news2, events)
        return events

    def _raise(self, st: _Patient, c: _Check, r: Reading, v: float) -> AlertEvent:
        rule, shown = c.rule, _shown(v, c.decimals)
        threshold = rule.low if v < c.lo else rule.high
        message = rule.message.format(
            value=shown,
            threshold=threshold,
            severity=rule.severity,
            patient_id=r.patient_id,
            rule=rule.name,
        )
        e = AlertEvent(
            r.patient_id, rule.name, rule.severity, "raised", r.timestamp, float(shown), message
        )
        st.active[rule.name] = e
        return e

    def _news2_alert(self, st: _Patient, r: Reading, n: News2, events: list) -> None:
        """Raise, escalate or clear the NEWS2 alert (see the module docstring)."""
        window = self._ruleset.news2_window
        if window is None:  # the alert follows each reading's score
            level = _RANK.get(n.alert_severity, 0)  # type: ignore[arg-type]
            clear = level == 0
        else:
            if st.n2 is None:
                st.n2 = _Window(r.timestamp)
            held = st.n2.add(r.timestamp, _RANK.get(n.alert_severity, 0), window)  # type: ignore[arg-type]
            if held is None:
                return  # not yet a window's worth of readings
            level, clear = held
        raised = st.active.get(NEWS2_RULE) if st.active else None
        if raised is not None:
            if r.timestamp <= raised.timestamp:
                return
            if clear:
                del st.active[NEWS2_RULE]
                events.append(_cleared(raised, r.timestamp, n.total))
            elif level > _RANK[raised.severity]:
                e = self._news2_event(r, n, _SEVERITY[level], "escalated", raised.timestamp)
                st.active[NEWS2_RULE] = replace(e, kind="raised", raised_at=None)
                events.append(e)
            return  # else still active (a lower level keeps the higher alert)
        if level:
            e = self._news2_event(r, n, _SEVERITY[level], "raised", None)
            st.active[NEWS2_RULE] = e
            events.append(e)

    def _news2_event(
        self, r: Reading, n: News2, severity: str, kind: str, raised_at: datetime | None
    ) -> AlertEvent:
        message = self._ruleset.news2_message.format(
            value=n.total,
            response=RESPONSES[severity],
            severity=severity,
            patient_id=r.patient_id,
            rule=NEWS2_RULE,
        )
        return AlertEvent(
            r.patient_id,
            NEWS2_RULE,
            severity,
            kind,
            r.timestamp,
            float(n.total),
            message,
            raised_at,
        )

    def _clear_orphans(self, st: _Patient, r: Reading, events: list) -> None:
        names = {c.name for c in st.checks}
        if self._news2:
            names.add(NEWS2_RULE)
        st.stale = False
        for name, raised in list(st.active.items()):
            if name in names:
                continue
            if r.timestamp <= raised.timestamp:
                st.stale = True  # try again at a newer reading
                continue
            del st.active[name]
            events.append(
                replace(
                    _cleared(raised, r.timestamp, raised.value),
                    message=f"Cleared: {raised.message} (rule {name} no longer "
                    "applies to this patient)",
                )
            )

    def beyond_limits(self, reading: Reading) -> list[str]:
        """The vitals of ``reading`` beyond the raise limit of one of its patient's enabled
        rules (NEWS2 excluded); no state is read or changed (for reports)."""
        checks = self._overridden.get(reading.patient_id, self._default)
        out = []
        for c in checks:
            if c.slot < len(_VITALS):
                v = getattr(reading, _VITALS[c.slot])
                if v is not None and (v < c.lo or v >= c.hi):
                    out.append(_VITALS[c.slot])
        return out

    # handing patients between consumers -------------------------------------------------------

    def active_alerts(self, patient_id: str) -> list[AlertEvent]:
        """The raised events of the patient's active alerts."""
        st = self._patients.get(patient_id)
        mine = list(st.active.values()) if st is not None else []
        return mine + self.technical.active(patient_id)

    def restore(
        self, patient_id: str, active: list[AlertEvent], *, last_seen: datetime | None = None
    ) -> None:
        """Start the patient afresh with these alerts active (e.g. loaded from the store):
        they are not raised again, and are cleared when their clear condition holds.

        ``last_seen`` is the newest reading already processed (by whichever consumer):
        readings up to it are a replay and change no state, so a new owner re-reading
        uncommitted offsets neither raises nor clears anything twice."""
        checks = self._overridden.get(patient_id, self._default)
        st = self._patients[patient_id] = _Patient(checks)
        st.last = last_seen
        for e in active:
            if e.patient_id != patient_id or e.kind != "raised" or e.severity not in _RANK:
                raise ValueError(
                    f"cannot restore {e.kind} alert {e.rule!r} of {e.patient_id!r} "
                    f"as active for {patient_id!r}"
                )
            if is_technical_status_rule(e.rule):
                self.technical.restore(patient_id, e)  # cleared by the device's next value
            else:
                st.active[e.rule] = e
        st.stale = bool(st.active)

    def forget(self, patient_id: str) -> None:
        """Drop all state of a patient (its partition went to another consumer)."""
        self._patients.pop(patient_id, None)
        self.technical.forget(patient_id)
        self.freshest.forget(patient_id)
        self._basis.pop(patient_id, None)

    def replace_rules(self, ruleset: RuleSet) -> None:
        """Put new rules in force (SIGHUP): state of rules with the same name is kept."""
        self._compile(ruleset)
        for pid, st in self._patients.items():
            st.checks = self._overridden.get(pid, self._default)
            names = {c.name for c in st.checks}
            for name in [n for n in st.runs if n not in names]:
                del st.runs[name]
            st.stale = bool(st.active)
        log.info("rules replaced from %s: %d rules", ruleset.source, len(ruleset.rules))


def _shown(v: float, decimals: int) -> int | float:
    """The value as the chart reads it, for messages and events (90.5 -> 91, 36.05 -> 36.1)."""
    if decimals == 0:
        return v if v.__class__ is int else round_half_up(v)
    return round_half_up(v, decimals)


def _cleared(raised: AlertEvent, ts: datetime, value: float) -> AlertEvent:
    return AlertEvent(
        raised.patient_id,
        raised.rule,
        raised.severity,
        "cleared",
        ts,
        float(value),
        f"Cleared: {raised.message} (now {value})",
        raised.timestamp,
    )
