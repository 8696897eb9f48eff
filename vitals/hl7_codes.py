"""The HL7 code table: OBX-3 codes → vitals, OBX-6 units → unit keys, OBX-8 flags → statuses.

``load_table(path)`` reads the shipped ``vitals/hl7_codes.yaml`` (IEEE 11073-10101 MDC codes
as used by IHE PCD-01 and the IHE PCD Rosetta Terminology Mapping), plus a vendor's own file
(``vitals gateway --codes FILE``) whose entries are added to it and replace any with the same
code and system. Every entry is checked at load time, and every mistake of the file is
reported at once (``InputFileError``: FILE:LINE, the field and the value, or ``N mistakes:``
one a line): a key the table does not know (``observation:``, or a rules file given by
mistake), an unknown vital, status or unit, a unit mapped to another quantity, and a shipped
code given another vital without ``override: true``. ``vitals.hl7_mapping`` uses the table
to map a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from vitals.errors import ConfigError, InputFileError
from vitals.readings import STATUSES, VITALS
from vitals.rules.yaml_nodes import did_you_mean

#: The unit each vital is published in, and the units a device may send it in.
UNITS_ACCEPTED: dict[str, tuple[str, ...]] = {
    "heart_rate": ("bpm", "per_min"),
    "spo2": ("percent",),
    "systolic": ("mmHg", "kPa"),
    "diastolic": ("mmHg", "kPa"),
    "respiratory_rate": ("per_min",),
    "temperature": ("Cel", "degF"),
}


@dataclass(frozen=True)
class CodeEntry:
    """One OBX-3 code: ``code`` (OBX-3.1) in coding ``system`` (OBX-3.3, upper case; empty:
    any system) carries ``vital``; among codes for one vital at one time the lowest ``rank``
    with a valid value wins; ``name``: OBX-3.2 as the standard spells it (documentation)."""

    code: str
    system: str
    vital: str
    rank: int
    name: str = ""


@dataclass(frozen=True)
class CodeTable:
    """OBX-3 codes → vitals, OBX-6 units → unit keys, OBX-8 flags → technical statuses."""

    codes: dict[tuple[str, str], CodeEntry]
    units: dict[str, str]
    flags: dict[str, str]

    def lookup(self, code: str, system: str) -> CodeEntry | None:
        """The entry for ``code`` in ``system``; a code whose system is left empty matches any."""
        return self.codes.get((code, system.upper())) or self.codes.get((code, ""))


def load_table(path: str | Path | None = None) -> CodeTable:
    """The shipped table (``vitals/hl7_codes.yaml``), plus the entries of ``path`` if given.

    Every mistake of the file is found in one pass (as ``vitals rules check`` does): one
    raises ``InputFileError`` naming FILE:LINE, the field and the value; several raise one
    ``InputFileError`` listing ``N mistakes:`` one a line. Mistakes: an unknown key, a vital
    or status not known, a rank that is not a whole number, a unit that is not a unit key, a
    unit string of the shipped table mapped to a unit of another quantity (``bpm: mmHg``),
    and an entry giving a code of the shipped table another vital without ``override: true``
    (a typo in a site file must not turn ECG heart rates into SpO2).
    """
    shipped = resources.files("vitals").joinpath("hl7_codes.yaml").read_text("utf-8")
    table = _load(shipped, "vitals/hl7_codes.yaml", None)
    if path is None:
        return table
    try:
        text = Path(path).read_text("utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the HL7 code table: {e.strerror or e}") from None
    return _load(text, str(path), table)


#: The keys of a code table, and of one entry under ``observations``.
TABLE_KEYS = ("observations", "units", "technical_flags")
ENTRY_KEYS = ("code", "system", "name", "vital", "rank", "override")


def _quantity(unit: str) -> frozenset[str]:
    """The vitals a unit key can measure (``per_min``: heart rate and respiratory rate)."""
    return frozenset(v for v, units in UNITS_ACCEPTED.items() if unit in units)


def _load(text: str, path: str, base: CodeTable | None) -> CodeTable:
    """The table of YAML ``text`` (``base``'s entries, then its own); every mistake at once."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: cannot read the HL7 code table: {e}") from None
    reader = _Reader(path, base)
    table = reader.table(root)
    if len(reader.found) == 1:
        raise reader.found[0]
    if reader.found:
        found = sorted(reader.found, key=lambda e: e.line or 0)
        lines = "\n".join(f"  {e}" for e in found)
        raise InputFileError(path, None, None, f"{len(found)} mistakes:\n{lines}")
    return table


class _Reader:
    """Reads one code table's YAML nodes, collecting every mistake (``found``) with its line."""

    def __init__(self, path: str, base: CodeTable | None) -> None:
        self.path, self.base = path, base
        self.found: list[InputFileError] = []

    def mistake(self, node: yaml.Node, field: str | None, reason: str) -> None:
        self.found.append(InputFileError(self.path, node.start_mark.line + 1, field, reason))

    def table(self, root: yaml.Node | None) -> CodeTable:
        codes = dict(self.base.codes) if self.base else {}
        units = dict(self.base.units) if self.base else {}
        flags = dict(self.base.flags) if self.base else {}
        if not isinstance(root, yaml.MappingNode):
            raise ConfigError(
                f"{self.path}: expected a mapping with 'observations' and 'units'"
            ) from None
        for k, v in root.value:
            if k.value not in TABLE_KEYS:
                self.unknown(k, TABLE_KEYS, "an HL7 code table")
            elif k.value == "observations":
                for i, item in enumerate(_items(v), 1):
                    entry = self.entry(item, f"observations[{i}]")
                    if entry is not None:
                        codes[(entry.code, entry.system)] = entry
            elif k.value == "units":
                for uk, uv in _pairs(self, v, "units"):
                    unit = self.unit(uk, uv)
                    if unit is not None:
                        units[str(uk.value)] = unit
            else:
                for fk, fv in _pairs(self, v, "technical_flags"):
                    if fv.value not in STATUSES:
                        self.mistake(
                            fv,
                            f"technical_flags[{fk.value}]",
                            f"{fv.value!r} is not one of {', '.join(STATUSES)}"
                            + did_you_mean(str(fv.value), STATUSES),
                        )
                    else:
                        flags[str(fk.value).upper()] = str(fv.value)
        return CodeTable(codes, units, flags)

    def unknown(self, key: yaml.Node, allowed: tuple[str, ...], what: str) -> None:
        name = str(key.value)
        self.mistake(
            key,
            name,
            f"unknown key in {what}; expected {', '.join(allowed)}{did_you_mean(name, allowed)}",
        )

    def unit(self, key: yaml.Node, value: yaml.Node) -> str | None:
        """The unit key ``value`` names for the OBX-6 text ``key``, or None (a mistake)."""
        name, unit = str(key.value), str(value.value)
        known = [u for us in UNITS_ACCEPTED.values() for u in us]
        known = list(dict.fromkeys(known))
        if unit not in known:
            self.mistake(
                value,
                f"units[{name}]",
                f"{unit!r} is not one of {', '.join(known)}{did_you_mean(unit, known)}",
            )
            return None
        before = self.base.units.get(name) if self.base else None
        named = next((u for u in known if u.lower() == name.lower()), None)
        was = before or named
        if was is not None and not (_quantity(was) & _quantity(unit)):
            of = ", ".join(sorted(_quantity(was)))
            self.mistake(
                value,
                f"units[{name}]",
                f"{unit!r} is not a unit of {of}, which {name!r} measures (it is {was!r}); "
                "a unit is mapped only to a unit of the same quantity",
            )
            return None
        return unit

    def entry(self, node: yaml.Node, where: str) -> CodeEntry | None:
        """One observation entry, or None when it has a mistake (each one recorded)."""
        if not isinstance(node, yaml.MappingNode):
            self.mistake(node, where, "expected {code: ..., system: ..., vital: ..., rank: ...}")
            return None
        fields: dict[str, yaml.Node] = {}
        ok = True
        for k, v in node.value:
            if k.value not in ENTRY_KEYS:
                self.unknown(k, ENTRY_KEYS, "an observation of an HL7 code table")
                ok = False
            else:
                fields[str(k.value)] = v
        for required in ("code", "vital"):
            if required not in fields:
                self.mistake(node, f"{where}.{required}", "missing")
                ok = False
        vital_node = fields.get("vital")
        vital = str(_py(vital_node)) if vital_node is not None else ""
        if vital_node is not None and vital not in VITALS:
            self.mistake(
                vital_node,
                f"{where}.vital",
                f"{vital!r} is not one of {', '.join(VITALS)}{did_you_mean(vital, VITALS)}",
            )
            ok = False
        rank = 1
        if "rank" in fields:
            parsed = _py(fields["rank"])
            if not isinstance(parsed, int) or isinstance(parsed, bool):
                self.mistake(fields["rank"], f"{where}.rank", f"{parsed!r} is not a whole number")
                ok = False
            else:
                rank = parsed
        override = False
        if "override" in fields:
            parsed = _py(fields["override"])
            if not isinstance(parsed, bool):
                self.mistake(
                    fields["override"], f"{where}.override", f"{parsed!r} is not true or false"
                )
                ok = False
            override = parsed is True
        if not ok:
            return None
        code = str(_py(fields["code"]))
        system = str(_py(fields["system"]) or "" if "system" in fields else "").upper()
        name = str(_py(fields["name"]) or "") if "name" in fields else ""
        shipped = self.remapped(code, system, vital)
        if shipped is not None and not override:
            self.mistake(
                vital_node,  # type: ignore[arg-type]
                f"{where}.vital",
                f"code {code}^{shipped.system or '*'} ({shipped.name or 'shipped'}) is "
                f"{shipped.vital} in the shipped table, not {vital}; add 'override: true' to "
                "this entry if the site really means it",
            )
            return None
        return CodeEntry(code, system, vital, rank, name)

    def remapped(self, code: str, system: str, vital: str) -> CodeEntry | None:
        """The shipped entry for ``code`` in ``system`` (any system when ``system`` is empty)
        that carries another vital than ``vital``, or None."""
        if self.base is None:
            return None
        for (c, s), e in self.base.codes.items():
            if c == code and (s == system or not system or not s) and e.vital != vital:
                return e
        return None


def _py(node: yaml.Node) -> object:
    """The Python value of one YAML node (``rank: 2`` → 2, ``system: null`` → None)."""
    return yaml.safe_load(yaml.serialize(node))


def _items(node: yaml.Node) -> list[yaml.Node]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _pairs(reader: _Reader, node: yaml.Node, where: str) -> list[tuple[yaml.Node, yaml.Node]]:
    """The key/value nodes of a mapping of scalars; anything else is a mistake."""
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return []
    if not isinstance(node, yaml.MappingNode):
        reader.mistake(node, where, "expected a mapping of text to text")
        return []
    out = []
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode):
            out.append((k, v))
        else:
            reader.mistake(k, where, "expected text: text")
    return out
