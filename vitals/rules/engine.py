"""Evaluating rules: per-patient alert state, one reading at a time (see ``vitals.rules``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from vitals.freshness import Basis, Freshest
from vitals.news2 import RESPONSES, News2
from vitals.news2 import score as news2_score
from vitals.readings import Reading
from vitals.rules.checks import Check, Checks, charted
from vitals.rules.model import _RANK, _SLOT, NEWS2_RULE, VITAL_NAMES, AlertEvent, Rule, RuleSet
from vitals.rules.news2_window import News2Window
from vitals.technical import TechnicalAlarms, is_technical_status_rule

log = logging.getLogger(__name__)

_SEVERITY = {rank: name for name, rank in _RANK.items()}
_VITALS = VITAL_NAMES[:-1]  # the slots of a reading's own vitals (the last is news2)
#: the vital slots a technical status names (``vitals.readings.STATUS_VITALS``)
_STATUS_SLOTS = {v: (_SLOT[v],) for v in _VITALS} | {
    "blood_pressure": (_SLOT["systolic"], _SLOT["diastolic"])
}


class _Patient:
    __slots__ = ("active", "checks", "last", "n2", "runs", "seen", "seen_before", "stale")

    def __init__(self, checks: Checks) -> None:
        self.checks = checks
        self.last: datetime | None = None
        self.active: dict[str, AlertEvent] = {}
        # rule name -> [true readings, first true, last true, area, extreme since, last reading,
        # first true value]
        self.runs: dict[str, list] = {}
        self.stale = False  # active may hold alerts of rules no longer in force
        self.n2: News2Window | None = None  # NEWS2 alert levels of recent readings (windowed)
        # per vital slot: the times of the newest two readings with its value or a technical
        # status for it (Check.spot), the newest in seen
        self.seen: list[datetime | None] = [None] * len(VITAL_NAMES)
        self.seen_before: list[datetime | None] = [None] * len(VITAL_NAMES)


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
        self._window = ruleset.news2_window
        compiled: dict[int, Checks] = {}

        def checks(rules: tuple[Rule, ...]) -> Checks:
            if id(rules) not in compiled:
                compiled[id(rules)] = Checks(rules)
            return compiled[id(rules)]

        self._default = checks(ruleset.rules)
        self._overridden = {pid: checks(p.rules) for pid, p in ruleset.patients.items()}
        self._scales = {pid: p.spo2_scale for pid, p in ruleset.patients.items()}

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
        pid = reading.patient_id
        basis = self._basis[pid] = self.freshest.update(reading)
        full = basis.reading
        n = None if full is None else news2_score(full, spo2_scale=self._scales.get(pid, 1))
        st = self._patients.get(pid)
        if st is None:
            st = self._state(pid)
        events = self._evaluate(st, reading, n)
        if events is None:
            return n, []  # a replay: already evaluated
        technical = self.technical.evaluate(reading)  # leads off, probe off: the equipment
        if technical:
            events += technical
        return n, events

    def basis(self, patient_id: str) -> Basis | None:
        """What the patient's last assessed NEWS2 score was based on."""
        return self._basis.get(patient_id)

    def evaluate(self, reading: Reading, news2: News2 | None) -> list[AlertEvent]:
        """Raised and cleared events caused by one reading, in rule order."""
        st = self._patients.get(reading.patient_id) or self._state(reading.patient_id)
        return self._evaluate(st, reading, news2) or []

    def _evaluate(self, st: _Patient, r: Reading, news2: News2 | None) -> list[AlertEvent] | None:
        """``evaluate``; ``None`` for a replay (no vital of the reading newer than its own
        newest value seen: no events, no state change).

        A reading not newer than the patient's last is late, not necessarily a replay: a
        cuff result completes after that minute's HR/SpO2 readings. Its vitals newer than
        their own newest value are judged (a spot measurement, see ``Check.spot``); the
        others are a replay and ignored. A late reading adds no NEWS2 score to the window
        (its time is past): its values enter the freshest set and so the next reading's score."""
        ts = r.timestamp
        values: tuple = (
            r.heart_rate,
            r.spo2,
            r.systolic,
            r.diastolic,
            r.respiratory_rate,
            r.temperature,
            None if news2 is None else news2.total,
        )
        late = st.last is not None and ts <= st.last
        if late:
            seen = st.seen
            newer = [
                v if (at := seen[i]) is None or ts > at else None for i, v in enumerate(values)
            ]
            newer[-1] = None  # no NEWS2 score of a past time
            values = tuple(newer)
            if values.count(None) == len(values):
                return None  # a replay: already evaluated
            news2 = None
        else:
            st.last = ts
        events: list[AlertEvent] = []
        if st.stale:
            self._clear_orphans(st, r, events)
        active, checks = st.active, st.checks
        if st.runs or (active and not checks.names.isdisjoint(active)) or not checks.calm(values):
            self._judge(st, r, values, events)
        seen, before, ts = st.seen, st.seen_before, r.timestamp
        if None not in values:  # every vital and a score (the seed's reading): all at once
            before[:] = seen
            seen[:] = [ts] * len(values)
        else:
            for i, v in enumerate(values):
                if v is not None:
                    before[i], seen[i] = seen[i], ts
        for vital, _ in r.status:  # a device reporting probe off: the signal goes on
            for i in _STATUS_SLOTS.get(vital, ()):
                if (at := seen[i]) is None or ts > at:
                    before[i], seen[i] = at, ts
        if self._news2 and news2 is not None:
            self._news2_alert(st, r, news2, events)
        return events

    def _judge(self, st: _Patient, r: Reading, values: tuple, events: list) -> None:
        """Each rule on the reading's values (by slot), in file order: raise, clear, runs."""
        ts = r.timestamp
        active, runs = st.active, st.runs
        for c in st.checks.checks:
            v = values[c.slot]
            if v is None:  # not measured in this reading: the rule neither raises nor clears
                continue
            if runs and c.continuous and c.gap is not None:
                run = runs.get(c.name)
                # the run of a vital's lone first value, and this value more than grace: later:
                # that first one was a spot measurement (Check.spot), raised now at its own time
                if (
                    run is not None
                    and run[0] == 1
                    and st.seen_before[c.slot] is None
                    and run[1] == st.seen[c.slot]
                    and ts - run[1] > c.gap
                ):
                    del runs[c.name]
                    events.append(self._raise(st, c, r, run[6], at=run[1]))
            if active:
                raised = active.get(c.name)
                if raised is not None:
                    if c.clo <= v < c.chi and ts > raised.timestamp:
                        del active[c.name]
                        events.append(raised.cleared(ts, charted(v, c.decimals), now=True))
                    continue
            if v < c.lo or v >= c.hi:
                if not c.immediate and c.spot(st.seen[c.slot], st.seen_before[c.slot], ts):
                    runs.pop(c.name, None)  # intermittent: no signal to wait on, judged at once
                elif not c.immediate:
                    run = runs.get(c.name)
                    if run is None or (c.grace is not None and ts - run[2] > c.grace):
                        run = runs[c.name] = [1, ts, ts, 0.0, None, ts, v]  # (after a gap: anew)
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

    def _raise(
        self, st: _Patient, c: Check, r: Reading, v: float, at: datetime | None = None
    ) -> AlertEvent:
        """Raise ``c`` on the value ``v`` of ``r`` (measured ``at``, default ``r``'s time)."""
        rule, shown = c.rule, charted(v, c.decimals)
        threshold = rule.low if v < c.lo else rule.high
        message = rule.message.format(
            value=shown,
            threshold=threshold,
            severity=rule.severity,
            patient_id=r.patient_id,
            rule=rule.name,
        )
        e = AlertEvent(
            r.patient_id,
            rule.name,
            rule.severity,
            "raised",
            at or r.timestamp,
            float(shown),
            message,
        )
        st.active[rule.name] = e
        return e

    def _news2_alert(self, st: _Patient, r: Reading, n: News2, events: list) -> None:
        """Raise, escalate or clear the NEWS2 alert (see the module docstring)."""
        window = self._window
        if window is None:  # the alert follows each reading's score
            level = _RANK.get(n.alert_severity, 0)  # type: ignore[arg-type]
            clear = level == 0
            quoted = None
        else:
            if st.n2 is None:
                st.n2 = News2Window(r.timestamp)
            held = st.n2.add(r.timestamp, _RANK.get(n.alert_severity, 0), window, n.total)  # type: ignore[arg-type]
            if held is None:
                return  # not yet a window's worth of readings
            level, clear = held
            # the alert quotes a score of the level it is held at: the newest reading's may
            # be of another level (NEWS2 5 is medium, never a "red score" alert)
            quoted = st.n2.total_at(level) if level else None
        total = n.total if quoted is None else quoted
        raised = st.active.get(NEWS2_RULE) if st.active else None
        if raised is not None:
            if r.timestamp <= raised.timestamp:
                return
            if clear:
                del st.active[NEWS2_RULE]
                events.append(raised.cleared(r.timestamp, n.total, now=True))
            elif level > _RANK[raised.severity]:
                e = self._news2_event(r, total, _SEVERITY[level], "escalated", raised.timestamp)
                st.active[NEWS2_RULE] = replace(e, kind="raised", raised_at=None)
                events.append(e)
            return  # else still active (a lower level keeps the higher alert)
        if level:
            e = self._news2_event(r, total, _SEVERITY[level], "raised", None)
            st.active[NEWS2_RULE] = e
            events.append(e)

    def _news2_event(
        self, r: Reading, total: int, severity: str, kind: str, raised_at: datetime | None
    ) -> AlertEvent:
        """The NEWS2 alert event at ``severity``, quoting the score ``total`` (of that level)."""
        message = self._ruleset.news2_message.format(
            value=total,
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
            float(total),
            message,
            raised_at,
        )

    def _clear_orphans(self, st: _Patient, r: Reading, events: list) -> None:
        names = set(st.checks.names)
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
                    raised.cleared(r.timestamp, raised.value, now=True),
                    message=f"Cleared: {raised.message} (rule {name} no longer "
                    "applies to this patient)",
                )
            )

    def beyond_limits(self, reading: Reading) -> list[str]:
        """The vitals of ``reading`` beyond the raise limit of one of its patient's enabled
        rules (NEWS2 excluded); no state is read or changed (for reports)."""
        checks = self._overridden.get(reading.patient_id, self._default)
        out = []
        for c in checks.checks:
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
        self,
        patient_id: str,
        active: list[AlertEvent],
        *,
        last_seen: datetime | None = None,
        seen: Mapping[str, datetime] | None = None,
    ) -> None:
        """Start the patient afresh with these alerts active (e.g. loaded from the store):
        they are not raised again, and are cleared when their clear condition holds.

        ``last_seen`` is the newest reading already processed (by whichever consumer);
        ``seen`` the time of each vital's newest value processed (``heart_rate``, ``spo2``,
        ``blood_pressure`` or ``systolic``/``diastolic``, ``respiratory_rate``,
        ``temperature``; UTC), e.g. the freshest values the store holds. A value not newer
        than its vital's time (without ``seen``: than ``last_seen``) is a replay and changes
        no state, so a new owner re-reading uncommitted offsets neither raises nor clears
        anything twice, while a late cuff result newer than the stored one is judged."""
        checks = self._overridden.get(patient_id, self._default)
        st = self._patients[patient_id] = _Patient(checks)
        st.last = last_seen
        if seen is None:
            st.seen[: len(_VITALS)] = [last_seen] * len(_VITALS)
        else:
            for vital, at in seen.items():
                for i in _STATUS_SLOTS.get(vital, ()):
                    st.seen[i] = at
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
            names = st.checks.names
            for name in [n for n in st.runs if n not in names]:
                del st.runs[name]
            st.stale = bool(st.active)
        log.info("rules replaced from %s: %d rules", ruleset.source, len(ruleset.rules))
