"""HL7 v2 ORU^R01 (IHE PCD-01) → readings in the wire format, one per observation time.

Pure functions: no network. ``map_message(text, options)`` parses a message with
python-hl7 and returns a ``Mapped``: the readings to publish (patient id, observation
time, the vitals observed at that time in bpm, %, mmHg, breaths/min, °C, and a technical
status per vital that has no valid value) plus counts of what was ignored.

Where each thing comes from (HL7 v2.6 chapter 7, IHE PCD TF-2 PCD-01):
- patient: PID-3 (first repetition, or the one whose CX.5 identifier type is asked),
  component 1 unless configured; it must follow ``vitals.readings.PATIENT_ID_RULE``, the one
  patient-id rule (else ``PID-3.1``, code 102);
- code: OBX-3 identifier + coding system, looked up in the code table (``vitals.hl7_codes``:
  IEEE 11073-10101 MDC codes and vendor codes); unknown codes are ignored and counted;
- value: OBX-5 (type NM), unit OBX-6 (MDC_DIM_* or UCUM; kPa → mmHg, °F → °C);
- time: OBX-14, else OBR-7 of the OBR the OBX follows, else MSH-7. A time written without
  a zone takes MSH-7's zone, else ``default_tz``;
- status: OBX-11 ``X`` (cannot be obtained) or an empty OBX-5 → ``"invalid"``; OBX-11 ``D``/``W``
  (deleted / wrong) → ignored and counted; an OBX-8 flag listed under ``technical_flags``
  (e.g. ``LEADS_OFF``) → that status.
- OBX rows of the device hierarchy (MDS/VMD/channel rows, no value and no known code) are
  skipped silently.

Raises ``MappingError`` (a ``VitalsError``) with the segment and field for a message that
cannot be mapped; the gateway answers it with ``AE``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import hl7
import msgspec

from vitals.errors import ConfigError, InvalidReading, VitalsError
from vitals.hl7_codes import UNITS_ACCEPTED, CodeEntry, CodeTable, load_table
from vitals.news2 import round_half_up
from vitals.readings import check_patient_id, decode

__all__ = [
    "MMHG_PER_KPA",
    "UNITS_ACCEPTED",
    "CodeEntry",
    "CodeTable",
    "GatewayReading",
    "Mapped",
    "MappingError",
    "MappingOptions",
    "load_table",
    "map_message",
    "parse",
    "timezone",
]

MMHG_PER_KPA = 760 / 101.325  # 7.50062 mmHg per kPa (standard atmosphere)
_DTM = re.compile(r"\d{4}(?:\d{2}){0,5}(?:\.\d{1,4})?(?:[+-]\d{4})?")  # HL7 DTM


class MappingError(VitalsError):
    """An HL7 message that cannot be mapped.

    ``where``: the segment, its occurrence and the field (``OBX[3]-5``: 5th field of the 3rd
    OBX); ``code``: the HL7 error condition (table 0357: 100 segment sequence, 101 required
    field missing, 102 data type error, 103 table value not found, 200 unsupported message
    type, 207 application internal error), for the ERR segment of the ``AE``.
    """

    def __init__(self, reason: str, where: str | None = None, code: int = 207) -> None:
        self.reason, self.where, self.code = reason, where, code
        super().__init__(f"{where}: {reason}" if where else reason)


@dataclass(frozen=True)
class MappingOptions:
    """How to read a message. ``patient_component``: CX component of PID-3 (1-based);
    ``patient_id_type``: pick the PID-3 repetition whose CX.5 equals it (e.g. ``MR``);
    ``default_tz``: zone of times written without one when MSH-7 has none either."""

    table: CodeTable
    patient_component: int = 1
    patient_id_type: str | None = None
    default_tz: tzinfo = UTC


@dataclass
class GatewayReading:
    """One reading for the wire: the vitals observed at ``timestamp`` (timezone-aware)."""

    patient_id: str
    timestamp: datetime
    values: dict[str, int | float] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    #: vital -> the OBX it came from (``OBX[3]``), to name it when the reading is refused
    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def to_wire(self) -> dict:
        """The seed's JSON shape: nested ``blood_pressure``, ``status`` only when there is one."""
        out: dict = {"patient_id": self.patient_id, "timestamp": self.timestamp.isoformat()}
        for name in ("heart_rate", "spo2"):
            if name in self.values:
                out[name] = self.values[name]
        if "systolic" in self.values:
            out["blood_pressure"] = {
                "systolic": self.values["systolic"],
                "diastolic": self.values["diastolic"],
            }
        for name in ("respiratory_rate", "temperature"):
            if name in self.values:
                out[name] = self.values[name]
        if self.status:
            out["status"] = dict(self.status)
        return out

    def to_json(self) -> bytes:
        return msgspec.json.encode(self.to_wire())


@dataclass
class Mapped:
    """What one message gave: ``readings`` to publish, and what was ignored (counted)."""

    control_id: str
    readings: list[GatewayReading]
    unknown_codes: Counter = field(default_factory=Counter)  # "code^system" → OBX rows
    invalid: int = 0  # OBX rows published as a status instead of a value
    ignored: int = 0  # OBX rows deleted/wrong (OBX-11 D/W) or outranked by another code


def timezone(name: str) -> tzinfo:
    """A zone by IANA name (``Europe/London``) or ``UTC``; ``ConfigError`` if unknown."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/London"
        ) from None


# --- mapping -----------------------------------------------------------------------------


def parse(text: str) -> hl7.Message:
    """python-hl7's parse, with ``MappingError`` for text that is not an HL7 v2 message."""
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    if not text.startswith("MSH"):
        raise MappingError(
            "not an HL7 v2 message: it does not start with an MSH segment", "MSH", 100
        )
    try:
        return hl7.parse(text)
    except Exception as e:  # python-hl7 raises bare ParseException/IndexError on broken text
        raise MappingError(f"cannot parse: {type(e).__name__}: {e}", "MSH", 100) from None


def map_message(
    msg: hl7.Message, options: MappingOptions, *, received_at: datetime | None = None
) -> Mapped:
    """The readings of one ORU^R01 message. Raises ``MappingError`` (see the module doc),
    and only that: python-hl7's own errors on a broken structure become one too.

    Every reading passes the consumer's own validation (``vitals.readings.decode`` of its
    wire JSON: possible ranges, blood-pressure pair, time), so a message the consumer would
    dead-letter is refused here, naming the OBX (``OBX[2]-5: heart_rate: -40.0 is outside
    the possible range 0..350``). The patient id is held to the same rule
    (``vitals.readings.check_patient_id``) at PID-3, even in a message without readings. ``received_at`` (UTC): when the message
    arrived, as the record's Kafka time will say; a reading more than 1 h after it is
    refused too (``None``: that check is skipped)."""
    try:
        mapped = _map(msg, options)
    except MappingError:
        raise
    except (IndexError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise MappingError(
            f"malformed segment or field: {type(e).__name__}: {e}", None, 100
        ) from None
    ms = -1 if received_at is None else int(received_at.timestamp() * 1000)
    for r in mapped.readings:
        _validate(r, ms)
    return mapped


def _validate(r: GatewayReading, received_ms: int) -> None:
    """Raise ``MappingError`` where the consumer would dead-letter ``r`` (``InvalidReading``)."""
    try:
        decode(r.to_json(), received_ms)
    except InvalidReading as e:
        field_ = (e.field or "").split(".")[0]
        vital = "systolic" if field_ == "blood_pressure" else field_
        source = r.sources.get(vital) or next(iter(r.sources.values()), None)
        if source is None:
            where = None
        else:
            where = f"{source}-14" if field_ == "timestamp" else f"{source}-5"
        raise MappingError(str(e), where, 102) from None


def _map(msg: hl7.Message, options: MappingOptions) -> Mapped:
    msh = msg.segment("MSH")
    control_id = _field(msh, 10)
    msg_type = _field(msh, 9)
    if not msg_type.startswith("ORU^R01"):
        raise MappingError(f"message type {msg_type!r} is not ORU^R01", "MSH-9", 200)
    msh_time = _time(_field(msh, 7), "MSH-7", options.default_tz, None)
    if msh_time is None:
        raise MappingError("no message time", "MSH-7", 101)
    zone = msh_time.tzinfo
    patient = _patient(msg, options)
    out = Mapped(control_id, [])
    # (time, vital) -> (rank, value | None, status | None, the OBX it came from)
    found: dict[tuple[datetime, str], tuple[int, float | None, str | None, str]] = {}
    obr_time: datetime | None = None
    seen: Counter = Counter()
    for seg in msg:
        kind = str(seg[0])
        seen[kind] += 1
        if kind == "OBR":
            obr_time = _time(_field(seg, 7), f"OBR[{seen[kind]}]-7", zone, None)
        elif kind == "OBX":
            _obx(seg, seen[kind], options.table, zone, obr_time or msh_time, found, out)
    by_time: dict[datetime, GatewayReading] = {}
    for (when, vital), (_rank, value, status, where) in sorted(
        found.items(), key=lambda kv: kv[0][0]
    ):
        r = by_time.setdefault(when, GatewayReading(patient, when.astimezone(UTC)))
        r.sources[vital] = where
        if value is not None:
            r.values[vital] = value
        else:
            r.status[vital] = status or "invalid"
    for r in by_time.values():
        _pair_blood_pressure(r)
    out.readings = [r for r in by_time.values() if r.values or r.status]
    return out


def _obx(seg, n: int, table: CodeTable, zone, fallback: datetime, found: dict, out: Mapped):
    where = f"OBX[{n}]"
    code, system = _field(seg, 3, 1), _field(seg, 3, 3)
    value_text = _field(seg, 5)
    entry = table.lookup(code, system) if code else None
    if entry is None:
        if value_text:
            out.unknown_codes[f"{code}^{system}"] += 1
        return  # a device-hierarchy row (MDS/VMD/channel) or a code we do not use
    result_status = _field(seg, 11).upper()
    if result_status in ("D", "W"):
        out.ignored += 1
        return
    when = _time(_field(seg, 14), f"{where}-14", zone, None) or fallback
    flag = table.flags.get(_field(seg, 8).upper().replace(" ", "_"))
    if flag or result_status == "X" or not value_text:
        out.invalid += 1
        _keep(found, (when, entry.vital), (entry.rank, None, flag or "invalid", where))
        return
    value = _value(value_text, _field(seg, 6, 1), _field(seg, 6, 2), entry, table, where)
    _keep(found, (when, entry.vital), (entry.rank, value, None, where))


def _keep(found: dict, key: tuple, new: tuple) -> None:
    """A valid value beats a status; among equals the lowest rank wins."""
    old = found.get(key)
    if old is None or (new[1] is not None, -new[0]) > (old[1] is not None, -old[0]):
        found[key] = new


def _value(text: str, unit1: str, unit2: str, entry: CodeEntry, table: CodeTable, where: str):
    try:
        x = float(text)
    except ValueError:
        raise MappingError(f"value {text!r} is not a number", f"{where}-5", 102) from None
    if not math.isfinite(x):
        raise MappingError(f"value {text!r} is not a finite number", f"{where}-5", 102)
    unit = _unit(unit1, unit2, entry.vital, table, where)
    if unit == "kPa":
        x *= MMHG_PER_KPA
    elif unit == "degF":
        x = (x - 32) * 5 / 9
    if entry.vital == "temperature":
        return round_half_up(x, 1)
    return round_half_up(x)


def _unit(unit1: str, unit2: str, vital: str, table: CodeTable, where: str) -> str:
    accepted = UNITS_ACCEPTED[vital]
    if not unit1 and not unit2:
        return accepted[0]
    unit = table.units.get(unit1) or table.units.get(unit2)
    if unit is None:
        raise MappingError(
            f"unit {unit1 or unit2!r} is not in the unit table (add it under 'units' "
            "of the code table, vitals gateway --codes)",
            f"{where}-6",
            103,
        )
    if unit not in accepted:
        raise MappingError(f"unit {unit1 or unit2!r} is not a unit of {vital}", f"{where}-6", 103)
    return unit


def _pair_blood_pressure(r: GatewayReading) -> None:
    """Systolic and diastolic travel together; one without the other is ``invalid``."""
    has = [k in r.values for k in ("systolic", "diastolic")]
    if (any(has) and not all(has)) or r.status.keys() & {"systolic", "diastolic"}:
        r.values.pop("systolic", None)
        r.values.pop("diastolic", None)
        statuses = [r.status.pop(k) for k in ("systolic", "diastolic") if k in r.status]
        r.status["blood_pressure"] = statuses[0] if statuses else "invalid"


def _patient(msg: hl7.Message, options: MappingOptions) -> str:
    try:
        pid = msg.segment("PID")
    except KeyError:
        raise MappingError("no PID segment: the patient is unknown", "PID", 100) from None
    reps = pid[3] if len(pid) > 3 else []
    chosen = None
    for rep in reps:
        id_type = _component(rep, 5)
        if options.patient_id_type is None or id_type == options.patient_id_type:
            chosen = rep
            break
    which = f"PID-3.{options.patient_component}"
    if chosen is None:
        want = f" of type {options.patient_id_type}" if options.patient_id_type else ""
        raise MappingError(f"no patient identifier{want}", "PID-3", 101)
    value = _component(chosen, options.patient_component)
    if not value:
        raise MappingError("empty patient identifier", which, 101)
    try:
        check_patient_id(value)  # the one patient-id rule (PATIENT_ID_RULE)
    except InvalidReading as e:
        raise MappingError(str(e), which, 102) from None
    return value


def _component(rep, i: int) -> str:
    if isinstance(rep, str):
        return rep if i == 1 else ""
    return str(rep[i - 1]) if len(rep) >= i else ""


def _field(seg, i: int, component: int | None = None) -> str:
    """Field ``i`` (MSH counted as HL7 does) as text; one component of its first repetition."""
    try:
        value = seg(i)
    except (IndexError, KeyError):
        return ""
    if component is not None:
        rep = value(1) if not isinstance(value, str) else value
        value = _component(rep, component)
    return str(value).strip()


def _time(text: str, where: str, zone, fallback):
    if not text:
        return fallback
    try:
        if not _DTM.fullmatch(text):
            raise ValueError(text)
        t = hl7.parse_datetime(text)
    except (ValueError, OverflowError):
        raise MappingError(
            f"{text!r} is not an HL7 time (YYYYMMDDHHMMSS[+ZZZZ])", where, 102
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=zone)
    return t
