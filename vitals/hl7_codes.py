"""The HL7 code table: OBX-3 codes → vitals, OBX-6 units → unit keys, OBX-8 flags → statuses.

``load_table(path)`` reads the shipped ``vitals/hl7_codes.yaml`` (IEEE 11073-10101 MDC codes
as used by IHE PCD-01 and the IHE PCD Rosetta Terminology Mapping), plus a vendor's own file
(``vitals gateway --codes FILE``) whose entries are added to it and replace any with the same
code and system. Every entry is checked at load time: a bad one raises ``ConfigError`` naming
the file, the entry and the field; a key the table does not know (``observation:``, or a rules
file given by mistake) raises ``InputFileError`` naming FILE:LINE, the key and the known keys. ``vitals.hl7_mapping`` uses the table to map a message.
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

    Raises ``ConfigError`` naming the file, the entry and the field for a bad entry.
    """
    shipped = resources.files("vitals").joinpath("hl7_codes.yaml").read_text("utf-8")
    table = _parse_table(yaml.safe_load(shipped), "vitals/hl7_codes.yaml", None)
    if path is None:
        return table
    try:
        text = Path(path).read_text("utf-8")
        doc = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the HL7 code table: {e}") from None
    _check_keys(root, str(path))
    return _parse_table(doc, str(path), table)


#: The keys of a code table, and of one entry under ``observations``.
TABLE_KEYS = ("observations", "units", "technical_flags")
ENTRY_KEYS = ("code", "system", "name", "vital", "rank")


def _check_keys(root: yaml.Node | None, path: str) -> None:
    """``InputFileError`` (FILE:LINE, exit 2) for the first key that is not one of
    ``TABLE_KEYS`` at the top or ``ENTRY_KEYS`` in an observation, so a misspelt key
    (``observation:``) or another kind of file (a rules file) is refused at start instead of
    its codes being silently left out."""
    if not isinstance(root, yaml.MappingNode):
        return  # not a mapping: _parse_table says what is expected
    for k, v in root.value:
        _known(k, TABLE_KEYS, "an HL7 code table", path)
        if k.value == "observations" and isinstance(v, yaml.SequenceNode):
            for item in v.value:
                if isinstance(item, yaml.MappingNode):
                    for ek, _ in item.value:
                        _known(ek, ENTRY_KEYS, "an observation of an HL7 code table", path)


def _known(key: yaml.Node, allowed: tuple[str, ...], what: str, path: str) -> None:
    if key.value not in allowed:
        name = str(key.value)
        raise InputFileError(
            path,
            key.start_mark.line + 1,
            name,
            f"unknown key in {what}; expected {', '.join(allowed)}{did_you_mean(name, allowed)}",
        )


def _parse_table(doc: object, where: str, base: CodeTable | None) -> CodeTable:
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a mapping with 'observations' and 'units'")
    codes = dict(base.codes) if base else {}
    for i, e in enumerate(doc.get("observations") or [], 1):
        entry = _entry(e, f"{where}: observations[{i}]")
        codes[(entry.code, entry.system)] = entry
    units = dict(base.units) if base else {}
    units.update({str(k): str(v) for k, v in (doc.get("units") or {}).items()})
    known = {u for us in UNITS_ACCEPTED.values() for u in us}
    for k, v in units.items():
        if v not in known:
            raise ConfigError(f"{where}: units[{k}]: {v!r} is not one of {sorted(known)}")
    flags = dict(base.flags) if base else {}
    flags.update({str(k).upper(): str(v) for k, v in (doc.get("technical_flags") or {}).items()})
    for k, v in flags.items():
        if v not in STATUSES:
            raise ConfigError(f"{where}: technical_flags[{k}]: {v!r} is not one of {STATUSES}")
    return CodeTable(codes, units, flags)


def _entry(e: object, where: str) -> CodeEntry:
    if not isinstance(e, dict) or "code" not in e or "vital" not in e:
        raise ConfigError(f"{where}: expected {{code: ..., system: ..., vital: ..., rank: ...}}")
    if e["vital"] not in VITALS:
        raise ConfigError(f"{where}: vital: {e['vital']!r} is not one of {', '.join(VITALS)}")
    rank = e.get("rank", 1)
    if not isinstance(rank, int):
        raise ConfigError(f"{where}: rank: {rank!r} is not a whole number")
    system = str(e.get("system") or "").upper()
    return CodeEntry(str(e["code"]), system, e["vital"], rank, str(e.get("name") or ""))
