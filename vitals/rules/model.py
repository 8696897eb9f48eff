"""The rules model: ``Rule``, ``RuleSet`` (a validated rules file) and ``AlertEvent``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from vitals.readings import LIMITS, VITALS

VITAL_NAMES = (*VITALS, "news2")
SEVERITIES = ("high", "medium", "low")
NEWS2_RULE = "news2"
NEWS2_MESSAGE = "NEWS2 {value}: {response}"
_RANK = {"low": 1, "medium": 2, "high": 3}
#: The lower end of the SpO2 target range of NEWS2 scale 2 (88-92 %, RCP 2017 chart 1 and
#: BTS oxygen guideline 2017): no SpO2 alarm limit of a scale-2 patient lies above it.
SCALE2_SPO2_LOW = 88
_RANGE = {**LIMITS, "news2": (0, 20)}
_SLOT = {v: i for i, v in enumerate(VITAL_NAMES)}  # index into the values of a reading


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. ``low``/``high`` bound the range where it is false: ``above: 110`` is
    ``high=110``, ``below: 92`` is ``low=92``, ``outside: [50, 120]`` sets both.
    ``clear_low``/``clear_high`` likewise bound its ``clear:`` range (``None``: default)."""

    name: str
    vital: str
    condition: str  # "above" | "below" | "outside"
    low: float | None
    high: float | None
    severity: str  # "high" | "medium" | "low"
    message: str
    for_readings: int = 1
    for_duration: timedelta | None = None
    clear_low: float | None = None
    clear_high: float | None = None
    enabled: bool = True
    line: int | None = None
    # artifact tolerance (see the module docstring of vitals.rules)
    grace: timedelta | None = None  # a run survives false readings this long
    area: float | None = None  # raise sooner: value units x seconds beyond the limit
    extreme_low: float | None = None  # raise sooner: every reading beyond these ...
    extreme_high: float | None = None
    min_for: timedelta | None = None  # ... never before the condition held this long

    def describe(self) -> str:
        """``name  condition [for …], clears …  severity  'message'`` on one line."""
        raise_ = _range_text(self.condition, self.low, self.high, negate=True)
        if self.for_duration is not None:
            raise_ += f" for {_fmt_duration(self.for_duration)}"
        elif self.for_readings > 1:
            raise_ += f" for {self.for_readings} readings"
        raise_ += self.sooner_text()
        clear = self.clear_text()
        off = "  (disabled)" if not self.enabled else ""
        what = f"{self.vital} {raise_}, clears {clear}"
        return f"{self.name:<22} {what:<50} {self.severity:<6} {self.message!r}{off}"

    def sooner_text(self) -> str:
        """`` (sooner: area 60 or < 85, after 10s; grace 15s)``, or nothing."""
        fast = []
        if self.area is not None:
            fast.append(f"area {self.area:g}")
        if self.extreme_low is not None or self.extreme_high is not None:
            fast.append(
                _range_text(self.condition, self.extreme_low, self.extreme_high, negate=True)
            )
        out = []
        if fast and self.min_for is not None:
            out.append(f"sooner: {' or '.join(fast)}, after {_fmt_duration(self.min_for)}")
        if self.grace is not None:
            out.append(f"grace {_fmt_duration(self.grace)}")
        return f" ({'; '.join(out)})" if out else ""

    def clear_text(self) -> str:
        if self.clear_low is None and self.clear_high is None:
            return _range_text(self.condition, self.low, self.high, negate=False)
        return {"above": f"< {self.clear_high}", "below": f"> {self.clear_low}"}.get(
            self.condition, f"inside {self.clear_low}..{self.clear_high}"
        )


def _range_text(condition: str, low: float | None, high: float | None, *, negate: bool) -> str:
    if condition == "above":
        return f"> {high}" if negate else f"<= {high}"
    if condition == "below":
        return f"< {low}" if negate else f">= {low}"
    return f"outside {low}..{high}" if negate else f"inside {low}..{high}"


@dataclass(frozen=True, slots=True)
class PatientRules:
    """The effective rules of patients with overrides (one object per group of patients)."""

    spo2_scale: int
    rules: tuple[Rule, ...]
    notes: tuple[str, ...] = ()  # what the scale changed or could not change, for describe()


@dataclass(frozen=True)
class RuleSet:
    source: str
    rules: tuple[Rule, ...]
    news2_alerts: bool = True
    news2_message: str = NEWS2_MESSAGE
    patients: MappingProxyType[str, PatientRules] = field(
        default_factory=lambda: MappingProxyType({})
    )
    news2_window: timedelta | None = None  # None: the alert follows every reading's score

    def rules_for(self, patient_id: str) -> tuple[Rule, ...]:
        """The rules of a patient, overrides applied (disabled rules included)."""
        p = self.patients.get(patient_id)
        return self.rules if p is None else p.rules

    def spo2_scale(self, patient_id: str) -> int:
        """The NEWS2 SpO2 scale to score this patient with (1 unless overridden)."""
        p = self.patients.get(patient_id)
        return 1 if p is None else p.spo2_scale

    def describe(self) -> str:
        """The effective rules in words, as ``vitals rules check FILE`` prints them."""
        n2 = f"on, message {self.news2_message!r}" if self.news2_alerts else "off"
        count = f"{len(self.rules)} rule{'' if len(self.rules) == 1 else 's'}"
        out = [f"Rules from {self.source}: {count}, NEWS2 alerts {n2}"]
        out += ["  " + r.describe() for r in self.rules]
        if self.news2_alerts:
            if self.news2_window is None:
                how = "per reading; escalates; clears when no level is reached"
            else:
                w = _fmt_duration(self.news2_window)
                how = (
                    f"a level held by 2/3 of the readings of the last {w}; escalates; "
                    f"clears when at most 1/5 of them reach any level"
                )
            out.append(
                f"  {NEWS2_RULE:<22} NEWS2 red score -> low, 5-6 -> medium, >=7 -> high ({how})"
            )
        groups: dict[int, list[str]] = {}
        for pid, p in self.patients.items():
            groups.setdefault(id(p), []).append(pid)
        out += ["Overrides:"] if groups else []
        base = set(self.rules)
        for pids in groups.values():
            p = self.patients[pids[0]]
            out.append(f"  {', '.join(sorted(pids))}: NEWS2 SpO2 scale {p.spo2_scale}")
            out += [f"    note: {n}" for n in p.notes]
            out += ["    " + r.describe() for r in p.rules if r not in base]
        return "\n".join(out)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One change of an alert, caused by one reading.

    ``kind``: ``"raised"``; ``"escalated"`` (an active alert now at the higher ``severity``:
    it stays active, is acknowledged anew, and counts as the same alert); ``"cleared"``.
    ``raised_at``: for escalated and cleared events, when the alert (at its previous level)
    was raised; ``None`` for raised events."""

    patient_id: str
    rule: str
    severity: str
    kind: str  # "raised" | "escalated" | "cleared"
    timestamp: datetime  # of the reading that raised, escalated or cleared it (UTC)
    value: float  # as the chart reads it (see vitals.news2)
    message: str
    raised_at: datetime | None = None

    def cleared(self, at: datetime, value: float, *, now: bool = False) -> AlertEvent:
        """The ``cleared`` event of this raised (or escalated) alert: the one home of its shape.

        ``at``: the time of the reading (or, for a technical alarm without one, of the
        record) that cleared it (UTC); ``value``: as the chart reads it, in the rule's
        vital's units (0.0 for a technical alarm); ``now``: end the message with the
        value, ``Cleared: High heart rate: 115 (now 98)``, as physiological rules do.
        """
        message = f"Cleared: {self.message} (now {value})" if now else f"Cleared: {self.message}"
        return AlertEvent(
            self.patient_id,
            self.rule,
            self.severity,
            "cleared",
            at,
            float(value),
            message,
            self.timestamp,
        )


def _fmt_duration(d: timedelta) -> str:
    s = int(d.total_seconds())
    parts = ((s // 3600, "h"), (s // 60 % 60, "m"), (s % 60, "s"))
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


def on_scale2(r: Rule, given: bool, notes: list[str]) -> Rule:
    """A ``below:`` SpO2 rule for a patient on NEWS2 SpO2 scale 2: no limit inside the
    target range 88-92 % (readings NEWS2 scores 0 there); its clear and extreme move down
    with it. A limit the override gives itself is kept, with a note saying why it fires."""
    if r.vital != "spo2" or r.condition != "below" or r.low is None or r.low <= SCALE2_SPO2_LOW:
        return r
    if given:
        notes.append(
            f"{r.name}: below {r.low:g} as the override gives it, inside the scale-2 target "
            f"{SCALE2_SPO2_LOW}-92 %: it alarms at readings NEWS2 scores 0"
        )
        return r
    shift = r.low - SCALE2_SPO2_LOW
    notes.append(
        f"{r.name}: below {r.low:g} -> below {SCALE2_SPO2_LOW} (SpO2 scale 2 target "
        f"{SCALE2_SPO2_LOW}-92 %; give the override its own below: to choose another limit)"
    )
    return replace(
        r,
        low=SCALE2_SPO2_LOW,
        clear_low=None if r.clear_low is None else r.clear_low - shift,
        extreme_low=None if r.extreme_low is None else r.extreme_low - shift,
    )
