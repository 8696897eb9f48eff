"""Loading rules files: YAML nodes (which know their line) to a validated ``RuleSet``.

``load_rules(path)`` validates a whole file up front and raises one ``RulesError``
naming file, line and key of every mistake in it (``N mistakes:`` and one
``file:line: key: reason`` line each): each key of each rule, override and the news2
section is read on its own, so one mistake never hides another. Only checks that need a
key read correctly (a rule that can never fire needs its vital and limit) wait for it.
This module reads the file: its sections, the overrides per patient and the error report;
one rule's keys are ``vitals.rules.rule_reader``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from types import MappingProxyType

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from vitals.errors import RulesError
from vitals.rules.model import NEWS2_MESSAGE, NEWS2_RULE, PatientRules, Rule, RuleSet, on_scale2
from vitals.rules.rule_reader import PATCH_KEYS, RuleReader
from vitals.rules.yaml_nodes import Fields

_TOP_KEYS = ("rules", "overrides", "news2")
_OVERRIDE_KEYS = ("patients", "patient", "spo2_scale", "rules")
_NEWS2_KEYS = ("alerts", "message", "window")
_NEWS2_PLACEHOLDERS = ("value", "response", "severity", "patient_id", "rule")
_EXPECTED = {  # what a key of an override expects, for error messages
    "patients": "exactly one of patients: [P001, P002] or patient: P001",
    "patient": "a patient id as text (quote ids YAML reads as numbers or booleans: '1001')",
    "news2 override": "the built-in NEWS2 rule has no limits to override; give the patient "
    "spo2_scale: 2, or turn NEWS2 alerts off with news2: {alerts: false}",
}
_OWN_CLEAR = "; give this override a clear: of its own"


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
    res = resources.files("vitals").joinpath("default_rules.yaml")
    return parse_rules(res.read_text(encoding="utf-8"), str(res))


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Validate rules given as YAML text; ``source`` names them in error messages."""
    return _Loader(source).ruleset(text)


class _Loader(RuleReader):
    """The rules file's vocabulary over ``RuleReader``: rules, overrides, the news2 section."""

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
        items: list[Node] = []
        with self.collecting():
            items = self.items(top["rules"][1], "rules", "rules") if "rules" in top else []
        for node in items:  # every rule and every key of it is checked: all in one pass
            with self.collecting():
                made = self.rule(node)
                if made is not None:
                    rule, name_node = made
                    if rule.name in rules:
                        first = rules[rule.name].line
                        why = f"duplicate rule name {rule.name!r}; the first is at line {first}"
                        self.fail(name_node, "name", why)
                    rules[rule.name] = rule
        alerts, message, window = True, NEWS2_MESSAGE, None
        f: Fields = {}
        with self.collecting():
            if "news2" in top:
                f = self.fields(top["news2"][1], "news2", _NEWS2_KEYS, "the news2 section")
        with self.collecting():
            if "alerts" in f:
                alerts = self.flag(f["alerts"][1], "alerts")
        with self.collecting():
            if "message" in f:
                sample = {"value": 7, "response": "r"}
                message = self.message(f["message"][1], _NEWS2_PLACEHOLDERS, sample)
        with self.collecting():
            if "window" in f:
                window = self.duration(f["window"][1], "window")
        patients: dict[str, PatientRules] = {}
        broken = len(self.found)
        with self.collecting():
            if "overrides" in top:
                patients = self.overrides(top["overrides"][1], rules)
        if broken:  # an override of a rule refused above is not a mistake of its own
            self.found[broken:] = [e for e in self.found[broken:] if "unknown rule" not in e.reason]
        errors = self.found
        if len(errors) == 1:
            raise errors[0]
        if errors:
            lines = "\n".join(f"  {e}" for e in sorted(errors, key=lambda e: e.line or 0))
            raise RulesError(self.source, None, None, f"{len(errors)} mistakes:\n{lines}")
        return RuleSet(
            self.source,
            tuple(rules.values()),
            alerts,
            message,
            MappingProxyType(patients),
            news2_window=window,
        )

    def overrides(self, node: Node, rules: dict[str, Rule]) -> dict[str, PatientRules]:
        """Per patient in order of the file: the SpO2 scale and the rule patches given."""
        scales: dict[str, int] = {}
        patches: dict[str, list[tuple[str, Fields, Node]]] = {}
        start = len(self.found)
        for item in self.items(node, "overrides", "overrides"):
            with self.collecting():  # each override on its own: all mistakes in one pass
                f = self.fields(item, "overrides", _OVERRIDE_KEYS, "an override")
                if ("patients" in f) == ("patient" in f):
                    self.fail(item, "patients", f"an override needs {_EXPECTED['patients']}")
                if "patient" in f:
                    pids = [self.patient(f["patient"][1], "patient")]
                else:
                    ids = self.items(f["patients"][1], "patients", "patient ids")
                    pids = [self.patient(n, "patients") for n in ids]
                if "spo2_scale" not in f and "rules" not in f:
                    self.fail(
                        item, None, "this override changes nothing; give spo2_scale: or rules:"
                    )
                if "spo2_scale" in f:
                    v = f["spo2_scale"][1]
                    ok = lambda s: s in (1, 2) and not isinstance(s, bool)  # noqa: E731
                    scale = self.scalar(v, "spo2_scale", ok, "1 or 2 (the NEWS2 SpO2 scale)")
                    scales.update(dict.fromkeys(pids, scale))
                entries: list[tuple[str, Fields, Node]] = []
                if "rules" in f:
                    node = f["rules"][1]
                    for k, _ in node.value if isinstance(node, MappingNode) else ():
                        if self.value(k) == NEWS2_RULE:
                            self.fail(k, NEWS2_RULE, _EXPECTED["news2 override"])
                    rf = self.fields(node, "rules", tuple(rules), "this override", noun="rule")
                    for name, (k, v) in rf.items():
                        n = len(self.found)
                        pf = self.fields(v, name, PATCH_KEYS, f"the override of rule {name!r}")
                        patched = self.patch(rules[name], pf, "this override")
                        if len(self.found) == n:  # its keys read: check the rule they make
                            self.checked(patched, k, k, _OWN_CLEAR)
                        entries.append((name, pf, k))
                for pid in pids:
                    patches.setdefault(pid, []).extend(entries)
                    scales.setdefault(pid, 1)
        if len(self.found) > start:  # refused: the effective rules would repeat them
            return {}
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
                notes: list[str] = []
                if scale == 2:
                    given = {name for name, pf, _ in entries if "below" in pf}
                    for name, r in effective.items():
                        effective[name] = on_scale2(r, name in given, notes)
                groups[key] = PatientRules(scale, tuple(effective.values()), tuple(notes))
            out[pid] = groups[key]
        return out

    def patient(self, node: Node, key: str) -> str:
        ok = lambda v: isinstance(v, str) and v  # noqa: E731
        return self.scalar(node, key, ok, _EXPECTED["patient"])
