"""The ``Reading`` value: parsing from Kafka JSON and CSV rows, validation, serialisation.

The wire format is the seed's JSON (nested ``blood_pressure``); a flat
``systolic``/``diastolic`` form is accepted too. Unknown extra fields are
ignored. A reading carries any non-empty subset of the vitals, as monitors
send them (heart rate and SpO2 every few seconds, blood pressure per cuff
cycle, temperature rarely): a vital missing, ``null`` or a blank CSV cell is
not measured (``None``), never 0. Systolic and diastolic come together.
``blood_pressure.timestamp`` is the cuff's own measurement time.

Values that mean "no signal" are data, not errors (IEC 60601-1-8 separates
physiological from technical alarm conditions):
    * heart rate 0 is a physiological event (asystole / no pulse) and kept;
    * SpO2 0 is no perfusion signal (probe off, no pulse at the probe): a
      technical condition, kept as the status ``no_signal`` without a value;
    * a device's explicit status per vital (``"status": {"spo2": "probe_off"}``;
      ``probe_off``, ``leads_off``, ``no_signal``, ``invalid``) likewise: the
      vital is then not measured, and any value sent with it is not used;
    * anything negative or beyond physiology stays impossible (dead letter). Whole-number vitals given with a fraction (``90.5`` from a CSV) are
rounded half up once, here (temperature to one decimal: 36.05 → 36.1), so the
stored value, the NEWS2 band and the rules all see the same number.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import msgspec

from vitals.errors import CsvError, InvalidReading
from vitals.news2 import round_half_up

VITALS = ("heart_rate", "spo2", "systolic", "diastolic", "respiratory_rate", "temperature")
CONSCIOUSNESS = ("A", "C", "V", "P", "U")

#: Physiologically possible values. Outside these a value is a device error, not a reading.
LIMITS: dict[str, tuple[float, float]] = {
    "heart_rate": (0, 350),  # 0: asystole or no pulse, a physiological alarm condition
    "spo2": (1, 100),
    "systolic": (20, 320),
    "diastolic": (10, 250),
    "respiratory_rate": (0, 90),
    "temperature": (25.0, 45.0),
}
#: Technical statuses a device may report for a vital (the vital is then not measured).
STATUSES = ("probe_off", "leads_off", "no_signal", "invalid")
#: Vitals a status may name: the reading's vitals, blood pressure as one.
STATUS_VITALS = ("heart_rate", "spo2", "blood_pressure", "respiratory_rate", "temperature")
MAX_PATIENT_ID = 64
_PATIENT_ID = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")  # printable ASCII, single inner spaces
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(hours=24)  # a reading may be at most this far after its Kafka record


@dataclass(frozen=True, slots=True)
class Reading:
    """One message from a bedside device: any non-empty subset of the vitals.

    Units: heart rate bpm, SpO2 %, systolic/diastolic mmHg, respiratory rate
    breaths/min (whole numbers), temperature °C (one decimal); ``None`` means
    not measured. ``timestamp``: the reading's own time (UTC);
    ``bp_timestamp``: the cuff's measurement time when it differs (UTC).
    ``status``: technical statuses by vital (see ``STATUSES``), as sorted pairs.
    """

    patient_id: str
    timestamp: datetime  # timezone-aware, UTC
    heart_rate: int | None = None
    spo2: int | None = None
    systolic: int | None = None
    diastolic: int | None = None
    respiratory_rate: int | None = None
    temperature: float | None = None
    consciousness: str = "A"
    on_oxygen: bool = False
    bp_timestamp: datetime | None = None
    status: tuple[tuple[str, str], ...] = ()

    @property
    def day(self) -> date:
        return self.timestamp.date()

    @property
    def complete(self) -> bool:
        """All six vitals present (the seed's reading)."""
        return None not in (
            self.heart_rate,
            self.spo2,
            self.systolic,
            self.respiratory_rate,
            self.temperature,
        )

    def measured(self) -> tuple[str, ...]:
        """The vitals this reading carries, in ``VITALS`` order."""
        return tuple(v for v in VITALS if getattr(self, v) is not None)

    def to_json(self) -> bytes:
        """The seed's message format (nested ``blood_pressure``), absent vitals left out."""
        doc: dict[str, object] = {
            "patient_id": self.patient_id,
            "timestamp": self.timestamp.isoformat(),
        }
        for field in ("heart_rate", "spo2"):
            if getattr(self, field) is not None:
                doc[field] = getattr(self, field)
        if self.systolic is not None:
            bp: dict[str, object] = {"systolic": self.systolic, "diastolic": self.diastolic}
            if self.bp_timestamp is not None:
                bp["timestamp"] = self.bp_timestamp.isoformat()
            doc["blood_pressure"] = bp
        for field in ("respiratory_rate", "temperature"):
            if getattr(self, field) is not None:
                doc[field] = getattr(self, field)
        doc["consciousness"] = self.consciousness
        doc["on_oxygen"] = self.on_oxygen
        if self.status:
            doc["status"] = dict(self.status)
        return _encode(doc)

    def line(self) -> str:
        """One line the way the seed's consumer printed it (``-`` for a vital not measured)."""

        def v(x: object, fmt: str = "{}") -> str:
            return "-" if x is None else fmt.format(x)

        bp = "-" if self.systolic is None else f"{self.systolic}/{self.diastolic}"
        status = "".join(f" {k}:{s}" for k, s in self.status)
        return (
            f"[{self.timestamp.isoformat()}] {self.patient_id} -> HR:{v(self.heart_rate)} "
            f"SpO2:{v(self.spo2)} BP:{bp} "
            f"RR:{v(self.respiratory_rate)} T:{v(self.temperature, '{:.1f}')}{status}"
        )


_encode = msgspec.json.Encoder().encode


class _BloodPressure(msgspec.Struct):
    systolic: float | None = None
    diastolic: float | None = None
    timestamp: str | None = None


class _Wire(msgspec.Struct):
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


_decode = msgspec.json.Decoder(_Wire).decode
#: Fields of a reading, at its top level or inside ``blood_pressure``.
_FIELDS = frozenset(
    ("patient_id", "timestamp", *VITALS, "blood_pressure", "consciousness", "on_oxygen", "status")
)
_KNOWN_KEYS = tuple(f'"{k}"'.encode() for k in _FIELDS)
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


def _whole(value: float) -> int:
    """Round half up (90.5 -> 91), the one rounding rule for whole-number vitals."""
    return math.floor(value + 0.5)


def _check_range(field: str, value: float) -> None:
    low, high = LIMITS[field]
    if not low <= value <= high:  # also false for NaN
        raise InvalidReading(f"{value!r} is outside the possible range {low:g}..{high:g}", field)


def parse_timestamp(text: str, field: str = "timestamp") -> datetime:
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidReading(
            f"{text[:40]!r} is not an ISO 8601 time (e.g. 2025-10-26T10:30:15+00:00)", field
        ) from None
    if ts.tzinfo is None:
        raise InvalidReading(
            f"{text[:40]!r} has no time zone; add one, e.g. {text[:19]}+00:00", field
        )
    try:
        return ts.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00 is after year 9999 in UTC
        raise InvalidReading(f"{text[:40]!r} is out of the range of dates", field) from None


def build(
    patient_id: str,
    timestamp: datetime,
    values: dict[str, float | None],
    consciousness: str = "A",
    on_oxygen: bool = False,
    *,
    produced_at: datetime | None = None,
    bp_timestamp: datetime | None = None,
    status: dict[str, str] | None = None,
) -> Reading:
    """Validate raw values into a ``Reading`` or raise ``InvalidReading``.

    ``values``: vital -> number or ``None`` (not measured), units as in ``Reading``.
    At least one vital must be measured or carry a technical ``status``.
    """
    if not patient_id or len(patient_id) > MAX_PATIENT_ID or not _PATIENT_ID.fullmatch(patient_id):
        shown = patient_id[:20] + ("…" if len(patient_id) > 20 else "")
        raise InvalidReading(
            f"{shown!r} is not a patient id (1–{MAX_PATIENT_ID} printable characters)",
            "patient_id",
        )
    _check_time(timestamp, produced_at, "timestamp")
    statuses = _statuses(status or {})
    if "spo2" not in statuses and values.get("spo2") == 0:  # no perfusion signal at the probe
        statuses["spo2"] = "no_signal"
    out: dict[str, float | None] = {}
    for field in VITALS:
        value = values.get(field)
        if value is not None and _status_key(field) in statuses:
            value = None  # the device says the value is not valid: it is not used
        if value is not None:
            _check_range(field, value)
        out[field] = value
    sys_, dia = out["systolic"], out["diastolic"]
    if (sys_ is None) != (dia is None):
        missing = "diastolic" if dia is None else "systolic"
        raise InvalidReading(f"{missing} missing; a blood pressure has both", "blood_pressure")
    if sys_ is not None and dia is not None and dia >= sys_:
        raise InvalidReading(f"diastolic {dia:g} is not below systolic {sys_:g}", "blood_pressure")
    if all(v is None for v in out.values()) and not statuses:
        raise InvalidReading(
            "no vital measured; a reading carries at least one of " + ", ".join(VITALS)
        )
    if bp_timestamp is not None:
        if sys_ is None:
            raise InvalidReading("given without a blood pressure", "blood_pressure.timestamp")
        _check_time(bp_timestamp, produced_at, "blood_pressure.timestamp")
    if consciousness not in CONSCIOUSNESS:
        raise InvalidReading(f"{consciousness!r} is not one of A, C, V, P, U", "consciousness")
    temp = out["temperature"]
    return Reading(
        patient_id=patient_id,
        timestamp=timestamp,
        heart_rate=_whole_or_none(out["heart_rate"]),
        spo2=_whole_or_none(out["spo2"]),
        systolic=_whole_or_none(sys_),
        diastolic=_whole_or_none(dia),
        respiratory_rate=_whole_or_none(out["respiratory_rate"]),
        temperature=None if temp is None else float(round_half_up(temp, 1)),
        consciousness=consciousness,
        on_oxygen=on_oxygen,
        bp_timestamp=bp_timestamp,
        status=tuple(sorted(statuses.items())),
    )


def _status_key(field: str) -> str:
    return "blood_pressure" if field in ("systolic", "diastolic") else field


def _statuses(given: dict[str, str]) -> dict[str, str]:
    out = {}
    for vital, status in given.items():
        if vital not in STATUS_VITALS:
            raise InvalidReading(
                f"{vital[:40]!r} is not a vital; one of {', '.join(STATUS_VITALS)}", "status"
            )
        if status not in STATUSES:
            raise InvalidReading(
                f"{str(status)[:40]!r} is not a technical status; one of {', '.join(STATUSES)}",
                f"status.{vital}",
            )
        out[vital] = status
    return out


def _check_time(ts: datetime, produced_at: datetime | None, field: str) -> None:
    if ts < EARLIEST:
        raise InvalidReading(f"{ts.isoformat()} is before {EARLIEST.year}", field)
    if produced_at is not None and ts - MAX_AHEAD > produced_at:  # no overflow near 9999
        raise InvalidReading(
            f"{ts.isoformat()} is more than 24 h after the message was produced "
            f"({produced_at.isoformat()})",
            field,
        )


def _whole_or_none(value: float | None) -> int | None:
    return None if value is None else _whole(value)


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
    if _depth_exceeds(value):
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
    dup = _duplicate_key(value)
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
    values = {
        "heart_rate": wire.heart_rate,
        "spo2": wire.spo2,
        "systolic": bp.systolic if bp and bp.systolic is not None else wire.systolic,
        "diastolic": bp.diastolic if bp and bp.diastolic is not None else wire.diastolic,
        "respiratory_rate": wire.respiratory_rate,
        "temperature": wire.temperature,
    }
    bp_ts = (
        parse_timestamp(bp.timestamp, "blood_pressure.timestamp")
        if bp is not None and bp.timestamp is not None
        else None
    )
    return build(
        wire.patient_id,
        ts,
        values,
        "A" if wire.consciousness is None else wire.consciousness,
        False if wire.on_oxygen is None else wire.on_oxygen,
        produced_at=produced_at,
        bp_timestamp=bp_ts,
        status=wire.status,
    )


def record_time(ms: int | None) -> datetime | None:
    """A Kafka record timestamp (ms, UTC) as a datetime; None when absent or not a real time."""
    if ms is None or ms < 0:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _explain(msg: str) -> str:
    # msgspec: "Expected `float`, got `str` - at `$.heart_rate`" -> "heart_rate: expected a number, got str"
    missing = re.fullmatch(r"Object missing required field `(\w+)`(?: - at `\$\.?(.*)`)?", msg)
    if missing:
        return f"{missing.group(1)}: missing"
    m = re.fullmatch(r"(.*?)(?: - at `\$\.?(.*)`)?", msg)
    what, where = (m.group(1), m.group(2)) if m else (msg, None)
    what = what.replace("`float | null`", "a number").replace("`float`", "a number")
    what = what.replace("Expected", "expected").replace("`str | null`", "a string")
    what = what.replace("`bool | null`", "a boolean")
    what = what.replace("`str`", "a string").replace("`bool`", "a boolean")
    what = what.replace("`object`", "a JSON object").replace("`array`", "an array")
    return f"{where}: {what}" if where else what


# --- CSV ---------------------------------------------------------------------------------

CSV_REQUIRED = ("patient_id", *VITALS)
CSV_OPTIONAL = ("timestamp", "consciousness", "on_oxygen")
_TRUE = {"1", "true", "yes", "y", "o2", "oxygen"}
_FALSE = {"", "0", "false", "no", "n", "air"}


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    reading: Reading | None  # None when the row has no timestamp: stamped when sent
    values: dict[str, object]


#: Separators a spreadsheet writes; the header decides which one a file uses.
CSV_SEPARATORS = (",", ";", "\t")
_SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


def read_csv(path: str | Path) -> Iterator[tuple[int, dict[str, object] | CsvError]]:
    """Yield ``(line, fields)`` for every data row, or ``(line, CsvError)`` for a bad one.

    The header is checked first (missing or unknown columns raise at once).
    ``fields`` holds validated values; ``timestamp`` is a datetime or None.
    Reads the dialects spreadsheets write when the meaning is unambiguous: a
    UTF-8 BOM, Windows line endings, and ``;`` or tab as separator (chosen by
    the header, or by an Excel ``sep=;`` first line); with ``;`` or tab a
    decimal comma is accepted too (``36,8`` is 36.8 °C).
    """
    p = Path(path)
    try:
        fh = p.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        raise CsvError(str(p), None, None, f"cannot open: {e.strerror}") from None
    with fh:
        try:
            first = fh.readline()
            skipped = 0
            if first.strip().lower() in {f"sep={c}" for c in CSV_SEPARATORS}:
                forced: str | None = first.strip()[4]
                first, skipped = fh.readline(), 1
            else:
                forced = None
        except UnicodeDecodeError as e:
            raise CsvError(str(p), 1, None, f"not a readable CSV file: {e}") from None
        separator = forced or _separator(first)
        reader = csv.reader(_lines(first, fh), delimiter=separator)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as e:
            raise CsvError(str(p), 1 + skipped, None, f"not a readable CSV file: {e}") from None
        expected = ",".join(CSV_REQUIRED)
        if header is None or not any(h.strip() for h in header):
            raise CsvError(
                str(p), 1 + skipped, None, f"file is empty; expected a header line: {expected}"
            )
        cols = [h.strip().lower() for h in header]
        missing = [c for c in CSV_REQUIRED if c not in cols]
        if missing:
            if len(cols) == 1 and "patient_id" in cols[0]:
                raise CsvError(
                    str(p),
                    1 + skipped,
                    None,
                    f"the header {first.strip()[:60]!r} is not separated by a comma, semicolon "
                    f"or tab; write {expected}",
                )
            raise CsvError(
                str(p),
                1 + skipped,
                missing[0],
                f"column missing from the header; expected {expected}",
            )
        unknown = [c for c in cols if c not in CSV_REQUIRED + CSV_OPTIONAL]
        if unknown:
            allowed = ", ".join(CSV_REQUIRED + CSV_OPTIONAL)
            raise CsvError(str(p), 1 + skipped, unknown[0], f"unknown column; allowed: {allowed}")
        decimal_comma = separator != ","
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as e:
                line = reader.line_num + skipped
                yield line, CsvError(str(p), line, None, str(e))
                continue
            line = reader.line_num + skipped
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(cols):
                yield (
                    line,
                    CsvError(
                        str(p), line, None, f"has {len(row)} fields, the header has {len(cols)}"
                    ),
                )
                continue
            raw = dict(zip(cols, row, strict=True))
            yield line, _csv_fields(str(p), line, raw, decimal_comma=decimal_comma)


def _separator(header: str) -> str:
    """The separator under which the header names the required columns (comma if none does)."""
    for sep in CSV_SEPARATORS:
        cells = {c.strip().strip('"').lower() for c in header.split(sep)}
        if all(c in cells for c in CSV_REQUIRED):
            return sep
    return ","


def _lines(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _csv_fields(
    path: str, line: int, raw: dict[str, str], *, decimal_comma: bool = False
) -> dict[str, object] | CsvError:
    out: dict[str, object] = {"patient_id": raw["patient_id"].strip()}
    for field in VITALS:
        text = raw[field].strip()
        if not text:  # a blank cell: not measured
            out[field] = None
            continue
        try:
            value = float(text.replace(",", ".", 1) if decimal_comma else text)
        except ValueError:
            return CsvError(path, line, field, f"{text!r} is not a number")
        if not math.isfinite(value):
            return CsvError(path, line, field, f"{text!r} is not a finite number")
        out[field] = value
    ts_text = raw.get("timestamp", "").strip()
    try:
        out["timestamp"] = parse_timestamp(ts_text) if ts_text else None
        out["consciousness"] = raw.get("consciousness", "").strip().upper() or "A"
        o2 = raw.get("on_oxygen", "").strip().lower()
        if o2 not in _TRUE | _FALSE:
            raise InvalidReading(f"{o2!r} is not true/false", "on_oxygen")
        out["on_oxygen"] = o2 in _TRUE
        # validate everything now, as the consumer will, so a bad row fails before anything
        # is sent (a row dated more than 24 h ahead of now would be dead-lettered)
        now = datetime.now(UTC)
        stamp = out["timestamp"]
        to_reading(out, stamp if isinstance(stamp, datetime) else now, produced_at=now)
    except InvalidReading as e:
        return CsvError(path, line, e.field, e.reason)
    return out


def to_reading(
    fields: dict[str, object], timestamp: datetime, *, produced_at: datetime | None = None
) -> Reading:
    """A ``Reading`` from validated CSV ``fields`` at ``timestamp`` (UTC); see ``build``.

    Raises ``InvalidReading`` as ``build`` does; ``produced_at`` (UTC) bounds how
    far ahead the timestamp may be, as the consumer bounds it by the record time.
    """
    values = {f: fields[f] for f in VITALS}
    return build(
        str(fields["patient_id"]),
        timestamp,
        values,  # type: ignore[arg-type]
        str(fields.get("consciousness", "A")),
        bool(fields.get("on_oxygen", False)),
        produced_at=produced_at,
    )
