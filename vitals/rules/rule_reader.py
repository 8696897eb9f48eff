"""One rule of a rules file: its keys read from YAML nodes, each on its own, then checked whole.

``RuleReader`` (a ``NodeReader``) knows a rule's vocabulary: ``name``, ``vital`` (with
aliases such as ``hr``), ``severity``, ``message`` (placeholders tried at load time), the
condition ``above:``/``below:``/``outside:``, ``clear:``, ``for:`` (readings or a duration),
``enabled:`` and the sooner-than-``for:`` keys ``area:``/``extreme:``/``min_for:``/``grace:``
(IEC 60601-1-8 alarm condition delay; Nellcor SatSeconds). ``rule`` records every mistake of
a rule in ``found``; ``patch`` applies an override's keys to a rule and ``checked`` checks
the rule they make (possible range, can it fire, clear within the limits). The file around
the rules (overrides, the news2 section, one ``RulesError`` for all) is
``vitals.rules.loader``.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import replace
from datetime import timedelta
from typing import Any

from yaml.nodes import Node, ScalarNode

from vitals.rules.model import _RANGE, NEWS2_RULE, SEVERITIES, VITAL_NAMES, Rule
from vitals.rules.yaml_nodes import (
    CLOCK,
    DURATION,
    DURATION_EXPECTED,
    Fields,
    NodeReader,
    did_you_mean,
    is_number,
    line_of,
)

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
_CONDITIONS = ("above", "below", "outside")
_SOONER_KEYS = ("area", "extreme", "min_for", "grace")
_RULE_KEYS: tuple[str, ...] = ("name", "vital", *_CONDITIONS, "severity", "message", "for")
_RULE_KEYS += ("clear", "enabled", *_SOONER_KEYS)
#: The keys an override may give for one rule.
PATCH_KEYS = (*_CONDITIONS, "clear", "for", "enabled", *_SOONER_KEYS)
#: ``min_for:`` when a rule gives ``area:`` or ``extreme:`` without one: longer than a
#: two-reading artifact at one reading every 5 s, shorter than any sensible ``for:``.
DEFAULT_MIN_FOR = timedelta(seconds=10)
_CLEAR_KEY = {"above": "below", "below": "above", "outside": "inside"}
#: Keys whose mistake leaves a rule's limits unknown: its whole-rule checks then wait.
_LIMIT_KEYS = (*_CONDITIONS, "clear", "inside", *_SOONER_KEYS)
_PATCHED = ("clear", "for", "enabled", "area", "extreme", "min_for", "grace")  # in this order
_PLACEHOLDERS = ("value", "threshold", "severity", "patient_id", "rule")
_EXPECTED = {  # what a key of a rule expects, for error messages
    "name": "a unique rule name of letters, digits, _ - . (e.g. high_heart_rate)",
    "vital": f"one of {', '.join(VITAL_NAMES)}",
    "severity": f"one of {', '.join(SEVERITIES)}",
    "message": "text such as 'High heart rate: {value}'",
    "condition": "give one of above: X, below: X or outside: [low, high]",
    "for": "a number of readings (e.g. 3) or a duration such as 30s, 2m, 1h, 1m30s",
    "duration": DURATION_EXPECTED,
    "area": "a positive number: value units x seconds beyond the limit (e.g. 60 for SpO2: "
    "%-seconds, like Nellcor SatSeconds)",
}
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class RuleReader(NodeReader):
    """The keys of one rule over ``NodeReader``; every mistake is recorded in ``found``."""

    def rule(self, node: Node) -> tuple[Rule, Node] | None:
        """The rule of one ``- name: …`` item and its name's node, or None when it has
        mistakes: each is recorded in ``found``, every key read on its own."""
        before = len(self.found)
        f = self.fields(node, "rules", _RULE_KEYS, "a rule")
        name = vital = severity = None
        with self.collecting():
            name = self.rule_name(f["name"][1]) if "name" in f else None
        where = f"rule {name!r}" if name else "this rule"
        for key in ("name", "vital", "severity", "message"):
            if key not in f:
                with self.collecting():
                    self.fail(node, key, f"missing in {where}; expected {_EXPECTED[key]}")
        with self.collecting():
            vital = self.vital(f["vital"][1]) if "vital" in f else None
        with self.collecting():
            severity = self.severity(f["severity"][1]) if "severity" in f else None
        condition = next((k for k in _CONDITIONS if k in f), None)
        typo = any(  # an unknown key that looks like a condition (abve:) was reported already
            e.field not in _RULE_KEYS and did_you_mean(e.field or "", _CONDITIONS)
            for e in self.found[before:]
        )
        if condition is None and not typo:
            with self.collecting():
                self.fail(node, None, f"{where} has no condition; {_EXPECTED['condition']}")
        line = line_of(f["name"][0] if "name" in f else node)
        rule = Rule(
            name or "?", vital or "heart_rate", condition or "above", None, None,
            severity or "high", "", line=line,
        )  # fmt: skip
        given = f if condition else {k: f[k] for k in f if k != "clear"}  # clear needs one
        rule = self.patch(rule, given, "this rule")
        message = ""
        with self.collecting():
            if "message" in f:
                message = self.message(f["message"][1], _PLACEHOLDERS, _sample(rule))
        limits_read = not any(e.field in (*_LIMIT_KEYS, None) for e in self.found[before:])
        if vital is not None and condition is not None and limits_read:
            at = f[condition][0]
            with self.collecting():
                rule = self.checked(rule, at, f.get("clear", (at,))[0])
        if len(self.found) > before:
            return None
        return replace(rule, message=message), f["name"][1]

    def rule_name(self, node: Node) -> str:
        name = self.text(node, "name")
        if not _NAME.fullmatch(name):
            self.fail(node, "name", f"expected {_EXPECTED['name']}, got {name!r}")
        if name == NEWS2_RULE:
            self.fail(node, "name", "news2 is the built-in NEWS2 rule; choose another name")
        return name

    def vital(self, node: Node) -> str:
        vital = self.text(node, "vital")
        if vital not in VITAL_NAMES:
            alias = _ALIASES.get(vital.lower()) or (
                vital.lower() if vital.lower() in VITAL_NAMES else None
            )
            hint = f" (did you mean {alias!r}?)" if alias else did_you_mean(vital, VITAL_NAMES)
            self.fail(
                node, "vital", f"unknown vital {vital!r}; expected {_EXPECTED['vital']}{hint}"
            )
        return vital

    def severity(self, node: Node) -> str:
        severity = self.text(node, "severity")
        if severity not in SEVERITIES:
            hint = did_you_mean(severity, SEVERITIES)
            if severity.lower() in SEVERITIES:
                hint = f" (did you mean {severity.lower()!r}? severities are lowercase)"
            why = f"unknown severity {severity!r}; expected {_EXPECTED['severity']}{hint}"
            self.fail(node, "severity", why)
        return severity

    def patch(self, rule: Rule, f: Fields, what: str) -> Rule:
        """``rule`` with the condition, clear, for and enabled keys of ``f`` applied; a key
        with a mistake is recorded in ``found`` and left as it was."""
        cond = [k for k in _CONDITIONS if k in f]
        if len(cond) > 1:
            why = f"{what} already has {cond[0]}:; give only one of above:, below:, outside:"
            with self.collecting():
                self.fail(f[cond[1]][0], cond[1], why)
        if cond and cond[0] != rule.condition:
            why = f"rule {rule.name!r} is an {rule.condition}: rule; change its {rule.condition}: limit"
            with self.collecting():
                self.fail(f[cond[0]][0], cond[0], why)
            cond = []
        if "for" in f:  # stands in as 1 s if for: has a mistake (recorded): no "needs a for:"
            rule = replace(rule, for_readings=1, for_duration=timedelta(seconds=1))
        steps = [(self._condition, cond[0])] if cond else []
        steps += [(getattr(self, f"_{key}"), key) for key in _PATCHED if key in f]
        for step, key in steps:
            with self.collecting():
                rule = step(rule, f[key][1], key)
        return rule

    def _condition(self, rule: Rule, node: Node, key: str) -> Rule:
        if key == "outside":
            low, high = self.pair(node, "outside")
            return replace(rule, low=low, high=high)
        x = self.number(node, key)
        return replace(rule, low=x) if key == "below" else replace(rule, high=x)

    def _clear(self, rule: Rule, node: Node, key: str) -> Rule:
        low: float | None
        high: float | None
        want = _CLEAR_KEY[rule.condition]
        before = len(self.found)
        c = self.fields(node, "clear", (want,), f"the clear of an {rule.condition}: rule")
        if want not in c and len(self.found) == before:  # not when its key was wrong
            self.fail(node, "clear", f"expected {want}: in the clear of this rule, got nothing")
        if want not in c:
            return rule
        if want == "inside":
            low, high = self.pair(c[want][1], want)
            return replace(rule, clear_low=low, clear_high=high)
        x = self.number(c[want][1], want)
        low, high = (x, None) if want == "above" else (None, x)
        return replace(rule, clear_low=low, clear_high=high)

    def _for(self, rule: Rule, node: Node, key: str) -> Rule:
        count, duration = self.sustained(node)
        return replace(rule, for_readings=count, for_duration=duration)

    def _enabled(self, rule: Rule, node: Node, key: str) -> Rule:
        return replace(rule, enabled=self.flag(node, "enabled"))

    def _area(self, rule: Rule, node: Node, key: str) -> Rule:
        ok = lambda v: is_number(v) and v > 0  # noqa: E731
        return replace(rule, area=self.scalar(node, "area", ok, _EXPECTED["area"]))

    def _extreme(self, rule: Rule, node: Node, key: str) -> Rule:
        low: float | None
        high: float | None
        if rule.condition == "outside":
            low, high = self.pair(node, "extreme")
        else:
            x = self.number(node, "extreme")
            low, high = (x, None) if rule.condition == "below" else (None, x)
        return replace(rule, extreme_low=low, extreme_high=high)

    def _min_for(self, rule: Rule, node: Node, key: str) -> Rule:
        return replace(rule, min_for=self.duration(node, "min_for"))

    def _grace(self, rule: Rule, node: Node, key: str) -> Rule:
        return replace(rule, grace=self.duration(node, "grace"))

    def checked(self, r: Rule, at: Node, clear_at: Node, hint: str = "") -> Rule:
        """Check the limits of a whole rule (also after overrides); fail at ``at``/``clear_at``."""
        low, high = _RANGE[r.vital]
        for x in (r.low, r.high, r.clear_low, r.clear_high):
            if x is not None and not low <= x <= high:
                why = f"{x} is outside the possible {r.vital} range {low:g}..{high:g}"
                self.fail(at, r.condition, why)
        lo, hi = _limits(r)
        if (r.condition != "below" and hi >= high) and (r.condition != "above" and lo <= low):
            never = f"{r.vital} is never outside {low:g}..{high:g}"
        elif r.condition == "above" and hi >= high:
            never = f"{r.vital} is never above {high:g}; give a limit below {high:g}"
        elif r.condition == "below" and lo <= low:
            never = f"{r.vital} is never below {low:g}; give a limit above {low:g}"
        else:
            never = None
        if never:
            self.fail(at, r.condition, f"can never fire: {never} (rule {r.name!r})")
        r = self.sooner(r, at)
        c, clo, chi = r.condition, r.clear_low, r.clear_high
        if c == "above" and chi is not None and chi > hi:
            why = f"below: {chi} is above the limit above: {hi}; it must not be above it"
        elif c == "below" and clo is not None and clo < lo:
            why = f"above: {clo} is below the limit below: {lo}; it must not be below it"
        elif c == "outside" and clo is not None and chi is not None and not lo <= clo < chi <= hi:
            why = f"inside: [{clo}, {chi}] is not within the limits outside: [{lo}, {hi}]"
        else:
            return r
        self.fail(clear_at, "clear", f"{why} (rule {r.name!r}){hint}")

    def sooner(self, r: Rule, at: Node) -> Rule:
        """Check ``area:``/``extreme:``/``min_for:``/``grace:`` of a whole rule; default min_for."""
        fast = r.area is not None or r.extreme_low is not None or r.extreme_high is not None
        if (fast or r.grace is not None) and r.for_duration is None:
            key = "area" if r.area is not None else "extreme" if fast else "grace"
            why = f"{key}: needs a for: duration to shorten or extend (e.g. for: 60s) (rule {r.name!r})"
            self.fail(at, key, why)
        if r.min_for is not None and not fast:
            why = f"min_for: only applies with area: or extreme: (rule {r.name!r})"
            self.fail(at, "min_for", why)
        elo, ehi = r.extreme_low, r.extreme_high
        lo, hi = _limits(r)
        if (elo is not None and elo >= lo) or (ehi is not None and ehi <= hi):
            want = {"below": f"below {r.low}", "above": f"above {r.high}"}.get(
                r.condition, f"outside [{r.low}, {r.high}]"
            )
            why = f"an extreme must lie beyond the limit: give a value {want} (rule {r.name!r})"
            self.fail(at, "extreme", why)
        if fast and r.min_for is None:
            r = replace(r, min_for=DEFAULT_MIN_FOR)
        return r

    def sustained(self, node: Node) -> tuple[int, timedelta | None]:
        self.no_clock(node, "for")
        v = self.value(node) if isinstance(node, ScalarNode) else None
        if isinstance(v, str) and CLOCK.fullmatch(v.strip()):  # "1:30" quoted: a clock time
            mins, _, sec = v.strip().rpartition(":")
            if mins.isdigit() and sec.isdigit() and int(mins) * 60 + int(sec) > 0:
                return 1, timedelta(minutes=int(mins), seconds=int(sec))
        if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
            return v, None
        m = DURATION.fullmatch(v.replace(" ", "")) if isinstance(v, str) else None
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


def _limits(r: Rule) -> tuple[float, float]:
    """``r``'s (low, high) with an unset side unbounded (-inf/inf): ``above:`` sets high
    only, ``below:`` low only, ``outside:`` both."""
    return (-math.inf if r.low is None else r.low, math.inf if r.high is None else r.high)


def _sample(rule: Rule) -> dict[str, Any]:
    """Values of the types a message will be formatted with, to try it at load time."""
    value = 37.5 if rule.vital == "temperature" else 100
    return {"value": value, "threshold": rule.high if rule.low is None else rule.low}
