"""Loading rules files: YAML nodes (which know their line) to a validated ``RuleSet``.

``load_rules(path)`` validates a whole file up front and raises one ``RulesError``
naming file, line and key of every mistake in it (``N mistakes:`` and one
``file:line: key: reason`` line each): each key of each rule, override and the news2
section is read on its own, so one mistake never hides another: a duplicate rule name is
found from the names as written (whether or not either rule has other mistakes), and an
override is refused for a rule the file does not name, though not again for a rule that is
refused itself. Only checks that need a key read correctly (a rule that can never fire
needs its vital and limit) wait for it.
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
from vitals.rules.yaml_nodes import Fields, did_you_mean, line_of

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
_TEXT_TAG = "tag:yaml.org,2002:str"


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
        named: dict[str, int] = {}  # every rule name as written, also of a refused rule: line
        items: list[Node] = []
        with self.collecting():
            items = self.items(top["rules"][1], "rules", "rules") if "rules" in top else []
        for node in items:  # every rule and every key of it is checked: all in one pass
            with self.collecting():
                self.unique_name(node, named)
            with self.collecting():
                made = self.rule(node)
                if made is not None:
                    rules[made[0].name] = made[0]
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
        with self.collecting():
            if "overrides" in top:
                patients = self.overrides(top["overrides"][1], rules, tuple(named))
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

    def unique_name(self, node: Node, named: dict[str, int]) -> None:
        """Record the ``name:`` of a rule item as written (a text scalar; ``rule`` checks it
        further) in ``named`` with its line; fail at the name if the file gave it before."""
        if not isinstance(node, MappingNode):
            return
        value = next(
            (v for k, v in node.value if isinstance(k, ScalarNode) and k.value == "name"), None
        )
        if not isinstance(value, ScalarNode) or value.tag != _TEXT_TAG or not value.value:
            return
        name = value.value
        if name in named:
            why = f"duplicate rule name {name!r}; the first is at line {named[name]}"
            self.fail(value, "name", why)
        named[name] = line_of(value)

    def overrides(
        self, node: Node, rules: dict[str, Rule], named: tuple[str, ...]
    ) -> dict[str, PatientRules]:
        """Per patient in order of the file: the SpO2 scale and the rule patches given.
        ``rules``: the rules read without mistakes; ``named``: every rule name the file
        gives (an override of a refused rule is not reported again)."""
        scales: dict[str, int] = {}
        patches: dict[str, list[tuple[str, Fields, Node]]] = {}
        start = len(self.found)
        for item in self.items(node, "overrides", "overrides"):
            with self.collecting():  # each override, and each key of it, on its own
                self.override(item, rules, named, scales, patches)
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

    def override(
        self,
        item: Node,
        rules: dict[str, Rule],
        named: tuple[str, ...],
        scales: dict[str, int],
        patches: dict[str, list[tuple[str, Fields, Node]]],
    ) -> None:
        """One ``- patient(s): …`` item into ``scales`` and ``patches``; every mistake of
        it is recorded in ``found``, each key read on its own."""
        f = self.fields(item, "overrides", _OVERRIDE_KEYS, "an override")
        pids: list[str] = []
        with self.collecting():
            if ("patients" in f) == ("patient" in f):
                self.fail(item, "patients", f"an override needs {_EXPECTED['patients']}")
        with self.collecting():
            if "patient" in f:
                pids = [self.patient(f["patient"][1], "patient")]
            elif "patients" in f:
                for n in self.items(f["patients"][1], "patients", "patient ids"):
                    with self.collecting():
                        pids.append(self.patient(n, "patients"))
        with self.collecting():
            if "spo2_scale" not in f and "rules" not in f:
                self.fail(item, None, "this override changes nothing; give spo2_scale: or rules:")
        with self.collecting():
            if "spo2_scale" in f:
                ok = lambda s: s in (1, 2) and not isinstance(s, bool)  # noqa: E731
                what = "1 or 2 (the NEWS2 SpO2 scale)"
                scale = self.scalar(f["spo2_scale"][1], "spo2_scale", ok, what)
                scales.update(dict.fromkeys(pids, scale))
        entries: list[tuple[str, Fields, Node]] = []
        with self.collecting():
            if "rules" in f:
                entries = self.override_rules(f["rules"][1], rules, named)
        for pid in pids:
            patches.setdefault(pid, []).extend(entries)
            scales.setdefault(pid, 1)

    def override_rules(
        self, node: Node, rules: dict[str, Rule], named: tuple[str, ...]
    ) -> list[tuple[str, Fields, Node]]:
        """The ``rules:`` of one override: ``(rule name, its keys, name node)`` each, every
        rule's keys read on its own."""
        if not isinstance(node, MappingNode):
            self.fail(node, "rules", f"expected rule: {{keys}} lines, got {self.shown(node)}")
        entries: list[tuple[str, Fields, Node]] = []
        seen: dict[str, Node] = {}
        for k, v in node.value:
            with self.collecting():
                name = self.override_rule_name(k, seen, named)
                n = len(self.found)
                pf = self.fields(v, name, PATCH_KEYS, f"the override of rule {name!r}")
                if name not in rules:  # refused above: its own mistakes are reported there
                    continue
                patched = self.patch(rules[name], pf, "this override")
                if len(self.found) == n:  # its keys read: check the rule they make
                    self.checked(patched, k, k, _OWN_CLEAR)
                entries.append((name, pf, k))
        return entries

    def override_rule_name(self, k: Node, seen: dict[str, Node], named: tuple[str, ...]) -> str:
        """The rule an override names at key ``k``: text, not news2, not given twice in the
        override, and a rule of the file (``named``, listed when it is not)."""
        name = self.value(k)
        if not isinstance(name, str):
            self.fail(k, str(name), "rule names are text; quote it")
        if name == NEWS2_RULE:
            self.fail(k, NEWS2_RULE, _EXPECTED["news2 override"])
        if name in seen:
            self.fail(
                k, name, f"given twice in this override (first at line {line_of(seen[name])})"
            )
        seen[name] = k
        if name not in named:
            rules_of = (
                f"expected {', '.join(named)}{did_you_mean(name, named)}"
                if named
                else "this file's rules: section defines no rule to override"
            )
            self.fail(k, name, f"unknown rule in this override; {rules_of}")
        return name

    def patient(self, node: Node, key: str) -> str:
        ok = lambda v: isinstance(v, str) and v  # noqa: E731
        return self.scalar(node, key, ok, _EXPECTED["patient"])
