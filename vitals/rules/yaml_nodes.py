"""Typed values read from composed YAML nodes, failing with ``RulesError`` at file:line.

PyYAML's composed nodes know the line they came from; ``NodeReader`` turns one
into a number, text, flag, list, ``[low, high]`` pair, mapping of known keys or
duration, and raises ``RulesError(source, line, key, reason)`` naming what was
expected and what was given (``expected a number, got 'high'``). It knows no
rule: the vocabulary of a rules file lives in ``vitals.rules.loader``.

A reader reports every mistake of a file in one pass: ``collecting()`` records the
``RulesError`` a block raises in ``found`` and goes on, and ``fields`` records each bad
key (unknown, duplicated, not text) and reads the others; the loader raises them together.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vitals.errors import RulesError, did_you_mean

#: ``30s``, ``2m``, ``1h``, ``1m30s`` (hours, minutes, seconds, each optional).
DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
#: What YAML 1.1 reads as a base-60 number (``1:30`` is 90).
CLOCK = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
DURATION_EXPECTED = "a duration such as 10s, 2m, 1h, 1m30s"

Fields = dict[str, tuple[Node, Node]]  # key -> (key node, value node)


class NodeReader:
    """Reads composed YAML nodes (which know their line) and fails with ``RulesError``.

    ``source`` names the file in every error. Each reader takes the node and the
    key it was given under (for the message) and returns the typed value.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.constructor = SafeConstructor()
        self.found: list[RulesError] = []  # mistakes recorded so far, in the order found

    def fail(self, node: Node | None, key: str | None, reason: str) -> NoReturn:
        raise RulesError(self.source, node and node.start_mark.line + 1, key, reason)

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Run the block; a ``RulesError`` it raises is recorded in ``found`` and reading
        goes on, so a mistake never hides the independent ones after it."""
        try:
            yield
        except RulesError as e:
            self.found.append(e)

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
        return self.scalar(node, key, is_number, "a number")

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
    ) -> Fields:
        if not isinstance(node, MappingNode):
            self.fail(node, key, f"expected {what} ('key: value' lines), got {self.shown(node)}")
        out: Fields = {}
        for k, v in node.value:  # a bad key is recorded (``found``) and left out
            with self.collecting():
                out.update(self._field(k, v, out, allowed, what, noun))
        return out

    def _field(
        self, k: Node, v: Node, seen: Fields, allowed: tuple[str, ...], what: str, noun: str
    ) -> Fields:
        name = self.value(k)
        if not isinstance(name, str):
            self.fail(k, str(name), f"keys must be text; {what} takes {', '.join(allowed)}")
        if name in seen:
            first = seen[name][0].start_mark.line + 1
            self.fail(k, name, f"given twice in {what} (first at line {first})")
        if name not in allowed:
            hint = did_you_mean(name, allowed)
            why = f"unknown {noun} in {what}; expected {', '.join(allowed)}{hint}"
            self.fail(k, name, why)
        return {name: (k, v)}

    # durations ---------------------------------------------------------------------------

    def duration(self, node: Node, key: str) -> timedelta:
        """A duration such as ``30s``, ``2m``, ``1h``, ``1m30s`` (never a count)."""
        self.no_clock(node, key)
        v = self.value(node) if isinstance(node, ScalarNode) else None
        m = DURATION.fullmatch(v.replace(" ", "")) if isinstance(v, str) else None
        h, mi, s = (int(g or 0) for g in m.groups()) if m else (0, 0, 0)
        if not h and not mi and not s:
            self.fail(node, key, f"expected {DURATION_EXPECTED}, got {self.shown(node)}")
        return timedelta(hours=h, minutes=mi, seconds=s)

    def no_clock(self, node: Node, key: str) -> None:
        """Refuse ``1:30`` unquoted: YAML 1.1 reads it as the number 90 (base 60)."""
        if isinstance(node, ScalarNode) and node.style is None and CLOCK.fullmatch(node.value):
            m, _, sec = node.value.rpartition(":")
            hint = f"{int(m) * 60 + int(sec)}s" if m.isdigit() and sec.isdigit() else "90s"
            why = (
                f"{node.value} is read by YAML as the number {self.value(node)!r}, not a time; "
                f'write a duration such as {key}: {hint}, or quote it: {key}: "{node.value}"'
            )
            self.fail(node, key, why)


def line_of(node: Node) -> int:
    """The 1-based line of the file where ``node`` starts."""
    return node.start_mark.line + 1


def is_number(v: Any) -> bool:
    """A YAML int or float that is not a boolean and not NaN."""
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v
