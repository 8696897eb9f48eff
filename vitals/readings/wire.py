"""Kafka message values (the seed's JSON) decoded into a ``Reading``: total over all bytes.

The wire format is the seed's JSON (nested ``blood_pressure``, whose
``timestamp`` is the cuff's own time); a flat ``systolic``/``diastolic`` form is
accepted too. Nesting deeper than ``MAX_DEPTH`` and a reading field given twice are
refused before validation (a blood pressure both nested and flat too), and so is a top-level field that is not one of
``WIRE_FIELDS`` (a misspelt vital, ``"sp02": 82``, would otherwise vanish: the reason
names it and the nearest known name). ``device`` is the one metadata object allowed
(any JSON value, not read), as the README documents.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import msgspec

from vitals.errors import InvalidReading, did_you_mean
from vitals.readings.model import VITALS, Reading, parse_timestamp, validated


# gc=False: decoded from JSON, these never form reference cycles (msgspec's docs), so the
# collector need not track one per message.
class _BloodPressure(msgspec.Struct, gc=False):
    systolic: float | None = None
    diastolic: float | None = None
    timestamp: str | None = None


class _Wire(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    patient_id: str
    heart_rate: float | None = None
    spo2: float | None = None
    respiratory_rate: float | None = None
    temperature: float | None = None
    timestamp: str | None = None
    blood_pressure: _BloodPressure | None = None
    systolic: float | None = None
    diastolic: float | None = None
    consciousness: str | None = None
    on_oxygen: bool | None = None
    status: dict[str, str] | None = None
    device: msgspec.Raw = msgspec.Raw()  # the device's own metadata: allowed, not read


_decode = msgspec.json.Decoder(_Wire).decode
#: Fields of a reading, at its top level or inside ``blood_pressure``.
_FIELDS = frozenset(
    ("patient_id", "timestamp", *VITALS, "blood_pressure", "consciousness", "on_oxygen", "status")
)
_KNOWN_KEYS = tuple(f'"{k}"'.encode() for k in _FIELDS)
#: Every top-level field a message may carry (``device``: metadata, not read).
WIRE_FIELDS = (
    "patient_id",
    "timestamp",
    *VITALS,
    "blood_pressure",
    "consciousness",
    "on_oxygen",
    "status",
    "device",
)
MAX_DEPTH = 64  # JSON nesting beyond this is refused before any parser recurses into it


class _Object(list):  # type: ignore[type-arg]
    """The key/value pairs of one JSON object, in order, duplicates kept."""


def _duplicate_key(value: bytes) -> str | None:
    """A reading field given twice at the reading's own level (JSON parsers keep the last).

    Only the top level and ``blood_pressure`` hold a reading's fields: a field's
    name inside a string value or as a key of some other nested object is not a
    duplicate. Cheap when no field name occurs twice in the bytes (the usual case).
    """
    if b"\\u" not in value and not any(value.count(key) > 1 for key in _KNOWN_KEYS):
        return None
    try:
        root = json.loads(value, object_pairs_hook=_Object)
    except (ValueError, RecursionError):  # msgspec read it, so this cannot happen; stay total
        return None
    if not isinstance(root, _Object):
        return None
    levels = [("", root)]
    levels += [
        ("blood_pressure.", v) for k, v in root if k == "blood_pressure" and isinstance(v, _Object)
    ]
    for prefix, level in levels:
        seen: set[str] = set()
        for key, _ in level:
            if key in _FIELDS and key in seen:
                return prefix + key
            seen.add(key)
    return None


def _depth_exceeds(value: bytes, limit: int = MAX_DEPTH) -> bool:
    """True if brackets outside strings nest deeper than ``limit`` (a linear scan, no recursion)."""
    if value.count(b"[") + value.count(b"{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in value:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def decode(value: bytes | None, record_timestamp_ms: int) -> Reading:
    """Decode one Kafka message value into a ``Reading``; total over all inputs.

    ``value`` is the record's bytes (``None`` for a tombstone);
    ``record_timestamp_ms`` its Kafka timestamp in ms since the epoch, UTC
    (negative when it has none). A reading without its own ``timestamp`` takes
    the record's timestamp (set once when produced), so replaying an offset
    rewrites the same row.

    Raises ``InvalidReading`` (with the field and a reason fit for the
    dead-letter header) for any byte string that is not a valid reading, and
    never any other exception: one malformed frame must not stop a consumer.
    """
    try:
        return _decode_checked(value, record_timestamp_ms)
    except InvalidReading:
        raise
    except Exception as e:  # a kind of input nobody foresaw: still a bad record, not a crash
        raise InvalidReading(f"unreadable message ({type(e).__name__}: {str(e)[:200]})") from e


def _decode_checked(value: bytes | None, record_timestamp_ms: int) -> Reading:
    if not value:
        raise InvalidReading("empty message (null or zero bytes); expected a JSON object")
    if value.count(b"{") + value.count(b"[") > MAX_DEPTH and _depth_exceeds(value):
        raise InvalidReading(f"JSON nested more than {MAX_DEPTH} levels deep; a reading is flat")
    try:
        wire = _decode(value)
    except msgspec.ValidationError as e:
        raise InvalidReading(_explain(str(e))) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as u:
            raise InvalidReading(f"not valid UTF-8 (byte {u.start}); expected JSON text") from None
        raise InvalidReading(f"not valid JSON: {e}") from None
    if b"\\" in value or value.count(b'"') != 2 * _strings(wire):
        dup = _duplicate_key(value)  # some string is not one field's name or value: look
        if dup is not None:
            raise InvalidReading("given more than once; which value is meant is ambiguous", dup)
    produced_at = record_time(record_timestamp_ms)
    if wire.timestamp is not None:
        ts = parse_timestamp(wire.timestamp)
    elif produced_at is not None:
        ts = produced_at
    else:
        raise InvalidReading("missing, and the Kafka record has no timestamp either", "timestamp")
    bp = wire.blood_pressure
    if bp is None:
        systolic, diastolic, bp_ts = wire.systolic, wire.diastolic, None
    else:
        if (bp.systolic is not None and wire.systolic is not None) or (
            bp.diastolic is not None and wire.diastolic is not None
        ):
            raise InvalidReading(
                "given both nested and as systolic/diastolic at the top level; which value is "
                "meant is ambiguous",
                "blood_pressure",
            )
        systolic = wire.systolic if bp.systolic is None else bp.systolic
        diastolic = wire.diastolic if bp.diastolic is None else bp.diastolic
        bp_ts = (
            None
            if bp.timestamp is None
            else parse_timestamp(bp.timestamp, "blood_pressure.timestamp")
        )
    return validated(
        wire.patient_id,
        ts,
        wire.heart_rate,
        wire.spo2,
        systolic,
        diastolic,
        wire.respiratory_rate,
        wire.temperature,
        wire.consciousness,  # None: not observed (never assumed alert or on air here)
        wire.on_oxygen,
        produced_at,
        bp_ts,
        wire.status,
    )


def _strings(w: _Wire) -> int:
    """How many JSON strings a message decoded as ``w`` holds when nothing in it but the
    fields ``w`` carries: each one key, plus its value where that is a string.

    A message without backslashes (so without escaped quotes) has exactly twice as many
    ``"`` as strings. If that is twice this count, every string is the key or value of a
    field ``w`` carries, once: no field is given twice (no ``null``, unknown or nested
    extra either), and the exact look (``_duplicate_key``) is not needed.
    """
    n = 2  # patient_id and its value
    if w.timestamp is not None:
        n += 2
    if w.heart_rate is not None:
        n += 1
    if w.spo2 is not None:
        n += 1
    if w.respiratory_rate is not None:
        n += 1
    if w.temperature is not None:
        n += 1
    if w.systolic is not None:
        n += 1
    if w.diastolic is not None:
        n += 1
    if w.consciousness is not None:
        n += 2
    if w.on_oxygen is not None:
        n += 1
    bp = w.blood_pressure
    if bp is not None:
        n += 1
        if bp.systolic is not None:
            n += 1
        if bp.diastolic is not None:
            n += 1
        if bp.timestamp is not None:
            n += 2
    if w.status is not None:
        n += 1 + 2 * len(w.status)
    return n


def record_time(ms: int | None) -> datetime | None:
    """A Kafka record timestamp (ms, UTC) as a datetime; None when absent or not a real time."""
    if ms is None or ms < 0:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def unknown_field_hint(name: str, known: tuple[str, ...]) -> str:
    """`` (did you mean 'temperature'?)`` for a misspelt field or column ``name``: a known
    name it begins (``temp``), else the closest (``sp02`` -> ``spo2``), else ``""``."""
    word = name.strip().lower()
    prefixed = [k for k in known if len(word) >= 3 and k.startswith(word)]
    if len(prefixed) == 1:
        return f" (did you mean {prefixed[0]!r}?)"
    return did_you_mean(word, known, cutoff=0.7)


def _unknown_field(name: str) -> str:
    """The reason a message with the top-level field ``name`` is refused."""
    return (
        f"{name[:40]}: unknown field{unknown_field_hint(name, WIRE_FIELDS)}; a reading "
        f"carries only {', '.join(WIRE_FIELDS)}"
    )


def _explain(msg: str) -> str:
    # msgspec: "Expected `float`, got `str` - at `$.heart_rate`" -> "heart_rate: expected a number, got str"
    missing = re.fullmatch(r"Object missing required field `(\w+)`(?: - at `\$\.?(.*)`)?", msg)
    if missing:
        return f"{missing.group(1)}: missing"
    unknown = re.fullmatch(r"Object contains unknown field `(.*)`", msg, re.S)
    if unknown:
        return _unknown_field(unknown.group(1))
    m = re.fullmatch(r"(.*?)(?: - at `\$\.?(.*)`)?", msg)
    what, where = (m.group(1), m.group(2)) if m else (msg, None)
    what = what.replace("`float | null`", "a number").replace("`float`", "a number")
    what = what.replace("Expected", "expected").replace("`str | null`", "a string")
    what = what.replace("`bool | null`", "a boolean")
    what = what.replace("`str`", "a string").replace("`bool`", "a boolean")
    what = what.replace("`object`", "a JSON object").replace("`array`", "an array")
    return f"{where}: {what}" if where else what
