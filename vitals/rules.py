"""Clinical alert rules: the YAML rules file, its validation, and the evaluation engine.

The file format is documented in ``default_rules.yaml``, which ships with the
package. ``load_rules(path)`` validates a whole file up front and raises one
``RulesError`` naming file, line and key for the first mistake.

How ``RuleEngine.evaluate`` behaves
    * Rules are evaluated in file order, the built-in ``news2`` rule last, so
      the events of one reading come out in that order.
    * A value is compared as the chart reads it: whole numbers rounded half up,
      temperature to one decimal (see ``vitals.news2``). ``above: 110`` is true
      from 111 (or 110.5) on; ``below: 92`` up to 91 (or 91.49).
    * An alert is raised once, at the reading that makes its rule true for the
      ``for:`` asked: N consecutive readings, or a duration from the first true
      reading to the current one on the readings' own timestamps (a gap in the
      readings does not reset it; a reading where the rule is false does). It
      stays active without repeating and is cleared once, at the first later
      reading inside its ``clear:`` range (default: where the rule is false).
      Between the raise limit and the clear limit nothing happens, so a value
      hovering at the limit does not flap.
    * NEWS2: raised at ``News2.alert_severity``. A rise to a higher severity
      clears the active alert and raises one at the new severity (two events,
      one reading); a fall to a lower alert level keeps the higher alert active;
      it clears when the score reaches no alert level at all.
    * Replays: a reading not newer than the last one evaluated for its patient
      is ignored (no events, no state change), so redelivered readings are
      idempotent. An active alert only clears on a reading newer than its raise.
    * Alerts whose rule no longer applies (removed by ``replace_rules``,
      disabled for the patient, or restored for an unknown rule) are cleared at
      the patient's next reading.
    * Not thread-safe: one engine per consuming thread.
"""

from __future__ import annotations

import difflib
import logging
import re
import string
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vitals.errors import RulesError
from vitals.news2 import RESPONSES, News2, round_half_up
from vitals.news2 import score as news2_score
from vitals.readings import LIMITS, VITALS, Reading

log = logging.getLogger(__name__)

VITAL_NAMES = (*VITALS, "news2")
SEVERITIES = ("high", "medium", "low")
NEWS2_RULE = "news2"
NEWS2_MESSAGE = "NEWS2 {value}: {response}"
_RANK = {"low": 1, "medium": 2, "high": 3}
_RANGE = {**LIMITS, "news2": (0, 20)}
_SLOT = {v: i for i, v in enumerate(VITAL_NAMES)}  # index into the values of a reading
_ALIASES = dict(
    hr="heart_rate",
    pulse="heart_rate",
    rr="respiratory_rate",
    bp="systolic",
    temp="temperature",
    sbp="systolic",
    dbp="diastolic",
    o2="spo2",
    sats="spo2",
)
_TOP_KEYS = ("rules", "overrides", "news2")
_CONDITIONS = ("above", "below", "outside")
_RULE_KEYS = ("name", "vital", *_CONDITIONS, "severity", "message", "for", "clear", "enabled")
_PATCH_KEYS = (*_CONDITIONS, "clear", "for", "enabled")
_OVERRIDE_KEYS = ("patients", "patient", "spo2_scale", "rules")
_NEWS2_KEYS = ("alerts", "message")
_CLEAR_KEY = {"above": "below", "below": "above", "outside": "inside"}
_PLACEHOLDERS = ("value", "threshold", "severity", "patient_id", "rule")
_NEWS2_PLACEHOLDERS = ("value", "response", "severity", "patient_id", "rule")
_EXPECTED = {  # what a key expects, for error messages
    "name": "a unique rule name of letters, digits, _ - . (e.g. high_heart_rate)",
    "vital": f"one of {', '.join(VITAL_NAMES)}",
    "severity": f"one of {', '.join(SEVERITIES)}",
    "message": "text such as 'High heart rate: {value}'",
    "condition": "give one of above: X, below: X or outside: [low, high]",
    "for": "a number of readings (e.g. 3) or a duration such as 30s, 2m, 1h, 1m30s",
    "patients": "exactly one of patients: [P001, P002] or patient: P001",
    "patient": "a patient id as text (quote ids YAML reads as numbers or booleans: '1001')",
    "news2 override": "the built-in NEWS2 rule has no limits to override; give the patient "
    "spo2_scale: 2, or turn NEWS2 alerts off with news2: {alerts: false}",
}
_OWN_CLEAR = "; give this override a clear: of its own"
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


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


# --- loading -------------------------------------------------------------------------------


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate a rules file; raise ``RulesError`` naming file, line and key."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RulesError(source, None, None, "is not UTF-8 text; save it as UTF-8") from None
    except OSError as e:
        raise RulesError(source, None, None, f"cannot be read: {e.strerror or e}") from None
    return parse_rules(text, source)


def load_default_rules() -> RuleSet:
    """The rules shipped with the package (``vitals/default_rules.yaml``)."""
    res = resources.files(__package__).joinpath("default_rules.yaml")
    return parse_rules(res.read_text(encoding="utf-8"), str(res))


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Validate rules given as YAML text; ``source`` names them in error messages."""
    return _Loader(source).ruleset(text)


_Fields = dict[str, tuple[Node, Node]]  # key -> (key node, value node)


class _Loader:
    """Reads composed YAML nodes (which know their line) and fails with ``RulesError``."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.constructor = SafeConstructor()

    def fail(self, node: Node | None, key: str | None, reason: str) -> NoReturn:
        raise RulesError(self.source, node and node.start_mark.line + 1, key, reason)

    # typed values ------------------------------------------------------------------------

    def value(self, node: Node) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as e:
            self.fail(node, None, f"not valid YAML: {getattr(e, 'problem', None) or e}")

    def shown(self, node: Node) -> str:
        if not isinstance(node, ScalarNode):
            return "a list" if isinstance(node, SequenceNode) else "a mapping"
        v = self.value(node)
        return "nothing" if v is None else str(v).lower() if isinstance(v, bool) else repr(v)

    def scalar(self, node: Node, key: str, ok: Any, expected: str) -> Any:
        v = self.value(node) if isinstance(node, ScalarNode) else None
        if not ok(v):
            self.fail(node, key, f"expected {expected}, got {self.shown(node)}")
        return v

    def number(self, node: Node, key: str) -> int | float:
        return self.scalar(node, key, _is_number, "a number")

    def text(self, node: Node, key: str) -> str:
        return self.scalar(node, key, lambda v: isinstance(v, str) and v.strip(), "text")

    def flag(self, node: Node, key: str) -> bool:
        return self.scalar(node, key, lambda v: isinstance(v, bool), "true or false")

    def items(self, node: Node, key: str, what: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            got = self.shown(node)
            self.fail(node, key, f"expected a list of {what} ('- ' lines), got {got}")
        return node.value

    def pair(self, node: Node, key: str) -> tuple[int | float, int | float]:
        if not isinstance(node, SequenceNode) or len(node.value) != 2:
            self.fail(node, key, f"expected [low, high], got {self.shown(node)}")
        low, high = (self.number(n, key) for n in node.value)
        if low >= high:
            self.fail(
                node, key, f"low bound {low} is not below high bound {high}; write [low, high]"
            )
        return low, high

    def fields(
        self, node: Node, key: str | None, allowed: tuple[str, ...], what: str, noun: str = "key"
    ) -> _Fields:
        if not isinstance(node, MappingNode):
            self.fail(node, key, f"expected {what} ('key: value' lines), got {self.shown(node)}")
        out: _Fields = {}
        for k, v in node.value:
            name = self.value(k)
            if not isinstance(name, str):
                self.fail(k, str(name), f"keys must be text; {what} takes {', '.join(allowed)}")
            if name in out:
                first = out[name][0].start_mark.line + 1
                self.fail(k, name, f"given twice in {what} (first at line {first})")
            if name not in allowed:
                hint = _did_you_mean(name, allowed)
                why = f"unknown {noun} in {what}; expected {', '.join(allowed)}{hint}"
                self.fail(k, name, why)
            out[name] = (k, v)
        return out

    # the file ------------------------------------------------------------------------------

    def ruleset(self, text: str) -> RuleSet:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            line = mark.line + 1 if mark is not None else None
            raise RulesError(self.source, line, None, f"not valid YAML: {problem}") from None
        if root is None or (isinstance(root, ScalarNode) and self.value(root) is None):
            self.fail(None, None, "the file is empty; expected rules: (see default_rules.yaml)")
        top = self.fields(root, None, _TOP_KEYS, "a rules file")
        rules: dict[str, Rule] = {}
        for node in self.items(top["rules"][1], "rules", "rules") if "rules" in top else ():
            rule, name_node = self.rule(node)
            if rule.name in rules:
                why = f"duplicate rule name {rule.name!r}; the first is at line {rules[rule.name].line}"
                self.fail(name_node, "name", why)
            rules[rule.name] = rule
        alerts, message = True, NEWS2_MESSAGE
        if "news2" in top:
            f = self.fields(top["news2"][1], "news2", _NEWS2_KEYS, "the news2 section")
            if "alerts" in f:
                alerts = self.flag(f["alerts"][1], "alerts")
            if "message" in f:
                sample = {"value": 7, "response": "r"}
                message = self.message(f["message"][1], _NEWS2_PLACEHOLDERS, sample)
        patients = self.overrides(top["overrides"][1], rules) if "overrides" in top else {}
        return RuleSet(
            self.source, tuple(rules.values()), alerts, message, MappingProxyType(patients)
        )

    def rule(self, node: Node) -> tuple[Rule, Node]:
        f = self.fields(node, "rules", _RULE_KEYS, "a rule")
        name = self.text(f["name"][1], "name") if "name" in f else None
        where = f"rule {name!r}" if name else "this rule"
        for key in ("name", "vital", "severity", "message"):
            if key not in f:
                self.fail(node, key, f"missing in {where}; expected {_EXPECTED[key]}")
        if not _NAME.fullmatch(name):
            self.fail(f["name"][1], "name", f"expected {_EXPECTED['name']}, got {name!r}")
        if name == NEWS2_RULE:
            self.fail(f["name"][1], "name", "news2 is the built-in NEWS2 rule; choose another name")
        vital = self.text(f["vital"][1], "vital")
        if vital not in VITAL_NAMES:
            alias = _ALIASES.get(vital.lower())
            hint = f" (did you mean {alias!r}?)" if alias else _did_you_mean(vital, VITAL_NAMES)
            why = f"unknown vital {vital!r}; expected {_EXPECTED['vital']}{hint}"
            self.fail(f["vital"][1], "vital", why)
        severity = self.text(f["severity"][1], "severity")
        if severity not in SEVERITIES:
            hint = _did_you_mean(severity, SEVERITIES)
            why = f"unknown severity {severity!r}; expected {_EXPECTED['severity']}{hint}"
            self.fail(f["severity"][1], "severity", why)
        condition = next((k for k in _CONDITIONS if k in f), None)
        if condition is None:
            self.fail(node, None, f"{where} has no condition; {_EXPECTED['condition']}")
        rule = Rule(name, vital, condition, None, None, severity, "", line=_line(f["name"][0]))
        rule = self.patch(rule, f, "this rule")
        message = self.message(f["message"][1], _PLACEHOLDERS, _sample(rule))
        at = f[condition][0]
        return self.checked(replace(rule, message=message), at, f.get("clear", (at,))[0]), f[
            "name"
        ][1]

    def patch(self, rule: Rule, f: _Fields, what: str) -> Rule:
        """``rule`` with the condition, clear, for and enabled keys of ``f`` applied."""
        cond = [k for k in _CONDITIONS if k in f]
        if len(cond) > 1:
            why = f"{what} already has {cond[0]}:; give only one of above:, below:, outside:"
            self.fail(f[cond[1]][0], cond[1], why)
        if cond and cond[0] != rule.condition:
            why = f"rule {rule.name!r} is an {rule.condition}: rule; change its {rule.condition}: limit"
            self.fail(f[cond[0]][0], cond[0], why)
        if cond == ["outside"]:
            low, high = self.pair(f["outside"][1], "outside")
            rule = replace(rule, low=low, high=high)
        elif cond:
            x = self.number(f[cond[0]][1], cond[0])
            rule = replace(rule, low=x) if cond[0] == "below" else replace(rule, high=x)
        if "clear" in f:
            want, node = _CLEAR_KEY[rule.condition], f["clear"][1]
            c = self.fields(node, "clear", (want,), f"the clear of an {rule.condition}: rule")
            if want not in c:
                self.fail(node, "clear", f"expected {want}: in the clear of this rule, got nothing")
            if want == "inside":
                low, high = self.pair(c[want][1], want)
                rule = replace(rule, clear_low=low, clear_high=high)
            else:
                x = self.number(c[want][1], want)
                low, high = (x, None) if want == "above" else (None, x)
                rule = replace(rule, clear_low=low, clear_high=high)
        if "for" in f:
            count, duration = self.sustained(f["for"][1])
            rule = replace(rule, for_readings=count, for_duration=duration)
        if "enabled" in f:
            rule = replace(rule, enabled=self.flag(f["enabled"][1], "enabled"))
        return rule

    def checked(self, r: Rule, at: Node, clear_at: Node, hint: str = "") -> Rule:
        """Check the limits of a whole rule (also after overrides); fail at ``at``/``clear_at``."""
        low, high = _RANGE[r.vital]
        for x in (r.low, r.high, r.clear_low, r.clear_high):
            if x is not None and not low <= x <= high:
                why = f"{x} is outside the possible {r.vital} range {low:g}..{high:g}"
                self.fail(at, r.condition, why)
        c, lo, hi, clo, chi = r.condition, r.low, r.high, r.clear_low, r.clear_high
        if c == "above" and chi is not None and chi > hi:
            why = f"below: {chi} is above the limit above: {hi}; it must not be above it"
        elif c == "below" and clo is not None and clo < lo:
            why = f"above: {clo} is below the limit below: {lo}; it must not be below it"
        elif c == "outside" and clo is not None and not lo <= clo < chi <= hi:
            why = f"inside: [{clo}, {chi}] is not within the limits outside: [{lo}, {hi}]"
        else:
            return r
        self.fail(clear_at, "clear", f"{why} (rule {r.name!r}){hint}")

    def sustained(self, node: Node) -> tuple[int, timedelta | None]:
        v = self.value(node) if isinstance(node, ScalarNode) else None
        if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
            return v, None
        m = _DURATION.fullmatch(v.replace(" ", "")) if isinstance(v, str) else None
        h, mi, s = (int(g or 0) for g in m.groups()) if m else (0, 0, 0)
        if not h and not mi and not s:
            self.fail(node, "for", f"expected {_EXPECTED['for']}, got {self.shown(node)}")
        return 1, timedelta(hours=h, minutes=mi, seconds=s)

    def message(self, node: Node, allowed: tuple[str, ...], sample: dict[str, Any]) -> str:
        text = self.text(node, "message")
        use = ", ".join("{" + a + "}" for a in allowed)
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as e:
            self.fail(node, "message", f"{e}; write {{{{ and }}}} for literal braces")
        for name in names:
            if name not in allowed:
                self.fail(node, "message", f"unknown placeholder {{{name}}}; use {use}")
        try:
            text.format(**{"severity": "high", "patient_id": "P001", "rule": "r", **sample})
        except (ValueError, TypeError) as e:
            self.fail(node, "message", f"cannot be formatted: {e}")
        return text

    def overrides(self, node: Node, rules: dict[str, Rule]) -> dict[str, PatientRules]:
        """Per patient in order of the file: the SpO2 scale and the rule patches given."""
        scales: dict[str, int] = {}
        patches: dict[str, list[tuple[str, _Fields, Node]]] = {}
        for item in self.items(node, "overrides", "overrides"):
            f = self.fields(item, "overrides", _OVERRIDE_KEYS, "an override")
            if ("patients" in f) == ("patient" in f):
                self.fail(item, "patients", f"an override needs {_EXPECTED['patients']}")
            if "patient" in f:
                pids = [self.patient(f["patient"][1], "patient")]
            else:
                ids = self.items(f["patients"][1], "patients", "patient ids")
                pids = [self.patient(n, "patients") for n in ids]
            if "spo2_scale" not in f and "rules" not in f:
                self.fail(item, None, "this override changes nothing; give spo2_scale: or rules:")
            if "spo2_scale" in f:
                v = f["spo2_scale"][1]
                ok = lambda s: s in (1, 2) and not isinstance(s, bool)  # noqa: E731
                scale = self.scalar(v, "spo2_scale", ok, "1 or 2 (the NEWS2 SpO2 scale)")
                scales.update(dict.fromkeys(pids, scale))
            entries: list[tuple[str, _Fields, Node]] = []
            if "rules" in f:
                node = f["rules"][1]
                for k, _ in node.value if isinstance(node, MappingNode) else ():
                    if self.value(k) == NEWS2_RULE:
                        self.fail(k, NEWS2_RULE, _EXPECTED["news2 override"])
                rf = self.fields(node, "rules", tuple(rules), "this override", noun="rule")
                for name, (k, v) in rf.items():
                    pf = self.fields(v, name, _PATCH_KEYS, f"the override of rule {name!r}")
                    self.checked(self.patch(rules[name], pf, "this override"), k, k, _OWN_CLEAR)
                    entries.append((name, pf, k))
            for pid in pids:
                patches.setdefault(pid, []).extend(entries)
                scales.setdefault(pid, 1)
        groups: dict[tuple, PatientRules] = {}  # patients with the same overrides share one
        out: dict[str, PatientRules] = {}
        for pid, scale in scales.items():
            entries = patches.get(pid, [])
            key = (scale, *(id(k) for _, _, k in entries))
            if key not in groups:
                effective = dict(rules)
                for name, pf, k in entries:  # later overrides win, key by key
                    patched = self.patch(effective[name], pf, "this override")
                    effective[name] = self.checked(patched, k, k, _OWN_CLEAR)
                groups[key] = PatientRules(scale, tuple(effective.values()))
            out[pid] = groups[key]
        return out

    def patient(self, node: Node, key: str) -> str:
        ok = lambda v: isinstance(v, str) and v  # noqa: E731
        return self.scalar(node, key, ok, _EXPECTED["patient"])


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v


def _did_you_mean(word: str, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _sample(rule: Rule) -> dict[str, Any]:
    """Values of the types a message will be formatted with, to try it at load time."""
    value = 37.5 if rule.vital == "temperature" else 100
    return {"value": value, "threshold": rule.high if rule.low is None else rule.low}


def _fmt_duration(d: timedelta) -> str:
    s = int(d.total_seconds())
    parts = ((s // 3600, "h"), (s // 60 % 60, "m"), (s % 60, "s"))
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


# --- evaluation ----------------------------------------------------------------------------

_INF = float("inf")


class _Check:
    """A rule compiled to plain comparisons of the raw value ``v``:
    raise when ``v < lo or v >= hi``; clear when ``clo <= v < chi`` (see ``_gt``)."""

    __slots__ = (
        "chi",
        "clo",
        "count",
        "decimals",
        "duration",
        "hi",
        "immediate",
        "lo",
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
            self.clo, self.chi = _ge(r.clear_low, step), _gt(r.clear_high, step)
        elif r.condition == "below" and r.clear_low is not None:  # clear: R > clear_low
            self.clo = _gt(r.clear_low, step)
        elif r.condition == "above" and r.clear_high is not None:  # clear: R < clear_high
            self.chi = _ge(r.clear_high, step)


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
    __slots__ = ("active", "checks", "last", "runs", "stale")

    def __init__(self, checks: tuple[_Check, ...]) -> None:
        self.checks = checks
        self.last: datetime | None = None
        self.active: dict[str, AlertEvent] = {}
        self.runs: dict[str, list] = {}  # rule name -> [true readings so far, first true time]
        self.stale = False  # active may hold alerts of rules no longer in force


class RuleEngine:
    """Per-patient alert state over a ``RuleSet``; see the module docstring."""

    def __init__(self, ruleset: RuleSet) -> None:
        self._patients: dict[str, _Patient] = {}
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

    def assess(self, reading: Reading) -> tuple[News2, list[AlertEvent]]:
        """Score one reading (NEWS2, with the patient's SpO2 scale) and evaluate the rules.

        The one function both the consumer and ``vitals rules replay`` run, so a
        recording replayed offline gives exactly the events the consumer gave.
        Returns ``(news2, events)``; raises nothing for a valid ``Reading``.
        """
        n = news2_score(reading, spo2_scale=self._ruleset.spo2_scale(reading.patient_id))
        return n, self.evaluate(reading, n)

    def evaluate(self, reading: Reading, news2: News2) -> list[AlertEvent]:
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
            news2.total,
        )
        for c in st.checks:
            v = values[c.slot]
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
                    if run is None:
                        run = runs[c.name] = [0, ts]
                    run[0] += 1
                    if run[0] < c.count or (c.duration is not None and ts - run[1] < c.duration):
                        continue
                    del runs[c.name]
                events.append(self._raise(st, c, r, v))
            elif runs:
                runs.pop(c.name, None)
        if self._news2:
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
        severity = n.alert_severity
        raised = st.active.get(NEWS2_RULE) if st.active else None
        if raised is not None:
            if r.timestamp <= raised.timestamp or (
                severity is not None and _RANK[severity] <= _RANK[raised.severity]
            ):
                return  # still active (a lower level keeps the higher alert)
            del st.active[NEWS2_RULE]
            events.append(_cleared(raised, r.timestamp, n.total))
        if severity is not None:
            message = self._ruleset.news2_message.format(
                value=n.total,
                response=RESPONSES[severity],
                severity=severity,
                patient_id=r.patient_id,
                rule=NEWS2_RULE,
            )
            e = AlertEvent(
                r.patient_id, NEWS2_RULE, severity, "raised", r.timestamp, float(n.total), message
            )
            st.active[NEWS2_RULE] = e
            events.append(e)

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

    # handing patients between consumers -------------------------------------------------------

    def active_alerts(self, patient_id: str) -> list[AlertEvent]:
        """The raised events of the patient's active alerts."""
        st = self._patients.get(patient_id)
        return list(st.active.values()) if st is not None else []

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
            st.active[e.rule] = e
        st.stale = bool(st.active)

    def forget(self, patient_id: str) -> None:
        """Drop all state of a patient (its partition went to another consumer)."""
        self._patients.pop(patient_id, None)

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
