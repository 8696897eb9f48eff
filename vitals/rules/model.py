"""The rules model: ``Rule``, ``RuleSet`` (a validated rules file) and ``AlertEvent``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from vitals.readings import LIMITS, VITALS

VITAL_NAMES = (*VITALS, "news2")
SEVERITIES = ("high", "medium", "low")
NEWS2_RULE = "news2"
NEWS2_MESSAGE = "NEWS2 {value}: {response}"
_RANK = {"low": 1, "medium": 2, "high": 3}
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

    def describe(self) -> str:
        """``name  condition [for …], clears …  severity  'message'`` on one line."""
        raise_ = _range_text(self.condition, self.low, self.high, negate=True)
        if self.for_duration is not None:
            raise_ += f" for {_fmt_duration(self.for_duration)}"
        elif self.for_readings > 1:
            raise_ += f" for {self.for_readings} readings"
        clear = self.clear_text()
        off = "  (disabled)" if not self.enabled else ""
        what = f"{self.vital} {raise_}, clears {clear}"
        return f"{self.name:<22} {what:<50} {self.severity:<6} {self.message!r}{off}"

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


@dataclass(frozen=True)
class RuleSet:
    source: str
    rules: tuple[Rule, ...]
    news2_alerts: bool = True
    news2_message: str = NEWS2_MESSAGE
    patients: MappingProxyType[str, PatientRules] = field(
        default_factory=lambda: MappingProxyType({})
    )

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
        out = [f"Rules from {self.source}: {len(self.rules)} rules, NEWS2 alerts {n2}"]
        out += ["  " + r.describe() for r in self.rules]
        if self.news2_alerts:
            out.append(
                f"  {NEWS2_RULE:<22} NEWS2 red score -> low, 5-6 -> medium, >=7 -> high"
                " (escalates; clears when no level is reached)"
            )
        groups: dict[int, list[str]] = {}
        for pid, p in self.patients.items():
            groups.setdefault(id(p), []).append(pid)
        out += ["Overrides:"] if groups else []
        base = set(self.rules)
        for pids in groups.values():
            p = self.patients[pids[0]]
            out.append(f"  {', '.join(sorted(pids))}: NEWS2 SpO2 scale {p.spo2_scale}")
            out += ["    " + r.describe() for r in p.rules if r not in base]
        return "\n".join(out)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    patient_id: str
    rule: str
    severity: str
    kind: str  # "raised" | "cleared"
    timestamp: datetime  # of the reading that raised or cleared it
    value: float  # as the chart reads it (see vitals.news2)
    message: str
    raised_at: datetime | None = None  # cleared events: when the alert was raised


def _fmt_duration(d: timedelta) -> str:
    s = int(d.total_seconds())
    parts = ((s // 3600, "h"), (s // 60 % 60, "m"), (s % 60, "s"))
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"
