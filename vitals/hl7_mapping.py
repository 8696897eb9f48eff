"""HL7 v2 ORU^R01 (IHE PCD-01) → readings in the wire format, one per observation time.

Pure functions: no network. ``map_message(text, options)`` parses a message with
python-hl7 and returns a ``Mapped``: the readings to publish (patient id, observation
time, the vitals observed at that time in bpm, %, mmHg, breaths/min, °C, and a technical
status per vital that has no valid value) plus counts of what was ignored.

Where each thing comes from (HL7 v2.6 chapter 7, IHE PCD TF-2 PCD-01):
- patient: each OBX belongs to the PATIENT_RESULT group of the PID before it (ORU^R01:
  {PID, {OBR, {OBX}}}), so one message may carry several patients; an OBX before any PID
  is refused (``OBX[n]``, code 100). The id is PID-3 (first repetition, or the one whose CX.5
  identifier type is asked), component 1 unless configured, HL7 escapes (``\\F\\``…)
  replaced; it must follow ``vitals.readings.PATIENT_ID_RULE``, the one patient-id rule
  (else ``PID-3.1``, or ``PID[2]-3.1`` for the second PID of a message, code 102);
- code: OBX-3 identifier + coding system, looked up in the code table (``vitals.hl7_codes``:
  IEEE 11073-10101 MDC codes and vendor codes); unknown codes are ignored and counted;
- value: OBX-5 (type NM), unit OBX-6 (MDC_DIM_* or UCUM; kPa → mmHg, °F → °C);
- time: OBX-14, else OBR-7 of the OBR the OBX follows (in its patient group), else MSH-7;
  the one used must give at least the minute (``vitals.hl7_time``). A time written without
  an offset takes MSH-7's, else ``default_tz``;
- one reading per patient and observation time; two different values of one vital at one
  time from the same code (e.g. in two PID groups of one patient) are refused at the second
  OBX (code 205), the same value repeated is kept once;
- status: OBX-11 ``X`` (cannot be obtained) or an empty OBX-5 → ``"invalid"``; OBX-11 ``D``/``W``
  (deleted / wrong) → ignored and counted; an OBX-8 flag listed under ``technical_flags``
  (e.g. ``LEADS_OFF``) → that status; a status on systolic or diastolic is the blood
  pressure's. A systolic without any diastolic OBX (or the reverse) is refused at that OBX,
  as the consumer refuses the same JSON (``blood_pressure: diastolic missing``).
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
from vitals.hl7_time import HL7TimeError, Stamp, parse_time
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


class MappingError(VitalsError):
    """An HL7 message that cannot be mapped.

    ``where``: the segment, its occurrence and the field (``OBX[3]-5``: 5th field of the 3rd
    OBX); ``code``: the HL7 error condition (table 0357: 100 segment sequence, 101 required
    field missing, 102 data type error, 103 table value not found, 200 unsupported message
    type, 205 duplicate key identifier: two values of one vital at one time, 207 application
    internal error), for the ERR segment of the ``AE``.
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
        pressure = {k: self.values[k] for k in ("systolic", "diastolic") if k in self.values}
        if pressure:  # one without the other is refused by the consumer's decoder, as JSON is
            out["blood_pressure"] = pressure
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
    (``vitals.readings.check_patient_id``) at PID-3, even in a message without readings.
    ``received_at`` (UTC): when the message
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
        vitals = ("systolic", "diastolic") if field_ == "blood_pressure" else (field_,)
        named = [r.sources[v] for v in vitals if v in r.sources]
        sources = named or list(r.sources.values())
        source = sources[0] if sources else None
        if source is None:
            where = None
        else:
            where = f"{source}-14" if field_ == "timestamp" else f"{source}-5"
        raise MappingError(str(e), where, 102) from None


def _map(msg: hl7.Message, options: MappingOptions) -> Mapped:
    msh = msg.segment("MSH")
    control_id = _field(msg, msh, 10)
    msg_type = _field(msg, msh, 9)
    if not msg_type.startswith("ORU^R01"):
        raise MappingError(f"message type {msg_type!r} is not ORU^R01", "MSH-9", 200)
    msh_text = _field(msg, msh, 7)
    if not msh_text:
        raise MappingError("no message time", "MSH-7", 101)
    msh_time = _time(msh_text, "MSH-7", options.default_tz)
    pids = sum(1 for seg in msg if str(seg[0]) == "PID")
    if not pids:
        raise MappingError("no PID segment: the patient is unknown", "PID", 100)
    out = Mapped(control_id, [])
    # (patient, time, vital) -> (rank, value | None, status | None, the OBX it came from)
    found: dict[tuple[str, datetime, str], tuple[int, float | None, str | None, str]] = {}
    zone = msh_time.when.tzinfo  # the sender's zone, for times written without an offset
    group = _Group(None, msh_time, "MSH-7")
    seen: Counter = Counter()
    for seg in msg:
        kind = str(seg[0])
        seen[kind] += 1
        n = seen[kind]
        if kind == "PID":  # a new PATIENT_RESULT group: its OBX belong to this patient
            where = f"PID[{n}]" if pids > 1 else "PID"
            group = _Group(_patient(msg, seg, where, options), msh_time, "MSH-7")
        elif kind == "OBR":
            text = _field(msg, seg, 7)
            where = f"OBR[{n}]-7"
            if text:
                group.fallback, group.fallback_where = _time(text, where, zone), where
        elif kind == "OBX":
            if group.patient is None:
                raise MappingError(
                    "OBX before any PID: it belongs to no patient (ORU^R01 PATIENT_RESULT "
                    "group: PID, then OBR, then its OBX)",
                    f"OBX[{n}]",
                    100,
                )
            _obx(msg, seg, n, group, options.table, zone, found, out)
    readings: dict[tuple[str, datetime], GatewayReading] = {}
    for (patient, when, vital), (_rank, value, status, where) in sorted(
        found.items(), key=lambda kv: kv[0][1]
    ):
        r = readings.setdefault((patient, when), GatewayReading(patient, when.astimezone(UTC)))
        r.sources[vital] = where
        if value is not None:
            r.values[vital] = value
        else:
            r.status[vital] = status or "invalid"
    _pressure_halves_share_a_time(list(readings.values()))
    for r in readings.values():
        _pair_blood_pressure(r)
    out.readings = [r for r in readings.values() if r.values or r.status]
    return out


@dataclass
class _Group:
    """The PATIENT_RESULT group being read: its patient (``None`` before the first PID) and
    the observation time of an OBX without OBX-14 (its OBR-7, else MSH-7)."""

    patient: str | None
    fallback: Stamp
    fallback_where: str


def _time(text: str, where: str, zone) -> Stamp:
    try:
        return parse_time(text, zone)
    except HL7TimeError as e:
        raise MappingError(e.reason, where, 102) from None


def _observed(stamp: Stamp, where: str) -> datetime:
    """``stamp`` as an observation time: it must give at least the minute."""
    if not stamp.precise:
        raise MappingError(
            f"{stamp.text!r} is less precise than the minute; an observation time needs "
            "at least YYYYMMDDHHMM",
            where,
            102,
        )
    return stamp.when


def _obx(msg, seg, n: int, group: _Group, table: CodeTable, zone, found: dict, out: Mapped):
    where = f"OBX[{n}]"
    code, system = _field(msg, seg, 3, 1, at=where), _field(msg, seg, 3, 3, at=where)
    value_text = _field(msg, seg, 5, at=where)
    entry = table.lookup(code, system) if code else None
    if entry is None:
        if value_text:
            out.unknown_codes[f"{code}^{system}"] += 1
        return  # a device-hierarchy row (MDS/VMD/channel) or a code we do not use
    result_status = _field(msg, seg, 11, at=where).upper()
    if result_status in ("D", "W"):
        out.ignored += 1
        return
    when_text = _field(msg, seg, 14, at=where)
    if when_text:
        when = _observed(_time(when_text, f"{where}-14", zone), f"{where}-14")
    else:
        when = _observed(group.fallback, group.fallback_where)
    key = (group.patient, when, entry.vital)
    flag = table.flags.get(_field(msg, seg, 8, at=where).upper().replace(" ", "_"))
    if flag or result_status == "X" or not value_text:
        out.invalid += 1
        _keep(found, key, (entry.rank, None, flag or "invalid", where))
        return
    unit1, unit2 = _field(msg, seg, 6, 1, at=where), _field(msg, seg, 6, 2, at=where)
    value = _value(value_text, unit1, unit2, entry, table, where)
    _keep(found, key, (entry.rank, value, None, where))


def _keep(found: dict, key: tuple, new: tuple) -> None:
    """A valid value beats a status; among equals the lowest rank wins. Two different
    values of one code rank (the same code twice, e.g. in two PID groups of one patient)
    for one vital at one time are a contradiction: ``MappingError`` naming the second OBX
    (HL7 table 0357 code 205, duplicate key), as neither can be trusted over the other; the
    same value repeated is one observation."""
    old = found.get(key)
    if old is not None and new[0] == old[0] and None not in (new[1], old[1]):
        if new[1] != old[1]:
            _patient_id, when, vital = key
            raise MappingError(
                f"{vital} at {when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC is {new[1]:g} here "
                f"but {old[1]:g} in {old[3]}: conflicting values of one vital at one "
                "observation time",
                f"{new[3]}-5",
                205,
            )
        return
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


def _pressure_halves_share_a_time(readings: list[GatewayReading]) -> None:
    """``MappingError`` for a systolic whose diastolic OBX (or the reverse) is there, but
    at another observation time of the same patient: one blood pressure is one measurement,
    so both halves must share OBX-14 (else the consumer would be told "diastolic missing",
    which the sender cannot see in its message)."""
    halves = ("systolic", "diastolic")
    for r in readings:
        have = [v for v in halves if v in r.values or v in r.status]
        if len(have) != 1:
            continue
        (half,) = have
        other = halves[1 - halves.index(half)]
        for o in readings:
            if o.patient_id == r.patient_id and o is not r and other in o.sources:
                first, second = sorted(
                    [(r, half), (o, other)], key=lambda x: _obx_number(x[0].sources[x[1]])
                )
                a, b = first[0].sources[first[1]], second[0].sources[second[1]]
                raise MappingError(
                    f"{first[1]} ({a}) at {first[0].timestamp:%Y-%m-%d %H:%M:%S} UTC and "
                    f"{second[1]} ({b}) at {second[0].timestamp:%Y-%m-%d %H:%M:%S} UTC: "
                    "systolic and diastolic must share an observation time (one blood "
                    "pressure)",
                    f"{b}-14",
                    102,
                )


def _obx_number(where: str) -> int:
    """3 for ``OBX[3]``: the order of OBX segments in the message."""
    return int(where.removeprefix("OBX[").removesuffix("]"))


def _pair_blood_pressure(r: GatewayReading) -> None:
    """Systolic and diastolic travel together: a status on either (``X``, a flag) is the
    status of the blood pressure. One value without the other OBX at all is left as it
    is, for ``_validate`` to refuse as the consumer refuses that JSON."""
    if r.status.keys() & {"systolic", "diastolic"}:
        r.values.pop("systolic", None)
        r.values.pop("diastolic", None)
        statuses = [r.status.pop(k) for k in ("systolic", "diastolic") if k in r.status]
        r.status["blood_pressure"] = statuses[0]


def _patient(msg: hl7.Message, pid, at: str, options: MappingOptions) -> str:
    """The patient id of one PID segment (``at``: ``PID``, or ``PID[2]`` in a message with
    several), unescaped, held to ``PATIENT_ID_RULE``."""
    reps = pid[3] if len(pid) > 3 else []
    chosen = None
    for rep in reps:
        id_type = _component(msg, rep, 5, f"{at}-3.5")
        if options.patient_id_type is None or id_type == options.patient_id_type:
            chosen = rep
            break
    which = f"{at}-3.{options.patient_component}"
    if chosen is None:
        want = f" of type {options.patient_id_type}" if options.patient_id_type else ""
        raise MappingError(f"no patient identifier{want}", f"{at}-3", 101)
    value = _component(msg, chosen, options.patient_component, which)
    if not value:
        raise MappingError("empty patient identifier", which, 101)
    try:
        check_patient_id(value)  # the one patient-id rule (PATIENT_ID_RULE)
    except InvalidReading as e:
        raise MappingError(str(e), which, 102) from None
    return value


def _component(msg: hl7.Message, rep, i: int, where: str) -> str:
    if isinstance(rep, str):
        text = rep if i == 1 else ""
    else:
        text = str(rep[i - 1]) if len(rep) >= i else ""
    return _unescape(msg, text, where)


def _field(msg: hl7.Message, seg, i: int, component: int | None = None, at: str = "") -> str:
    """Field ``i`` (MSH counted as HL7 does) as text, unescaped; one component of its first
    repetition. ``at`` names the segment in errors (``OBX[3]``; default: its name)."""
    try:
        value = seg(i)
    except (IndexError, KeyError):
        return ""
    where = f"{at or seg[0]}-{i}" + (f".{component}" if component else "")
    if component is not None:
        rep = value(1) if not isinstance(value, str) else value
        return _component(msg, rep, component, where).strip()
    return _unescape(msg, str(value), where).strip()


def _unescape(msg: hl7.Message, text: str, where: str) -> str:
    """``text`` with its HL7 escape sequences replaced (HL7 v2.6 2.7.4: ``\\F\\`` ``|``,
    ``\\S\\`` ``^``, ``\\T\\`` ``&``, ``\\R\\`` ``~``, ``\\E\\`` the escape character,
    ``\\Xhh…\\`` bytes), by python-hl7's ``Message.unescape``. Any other sequence (highlighting,
    formatting, character sets, site-defined ``\\Z…\\``) or a lone escape character raises
    ``MappingError``: python-hl7 would drop it, and a patient id read with a part dropped
    could name another patient."""
    esc = msg.esc
    if esc not in text:
        return text
    e = re.escape(esc)
    if not re.fullmatch(rf"(?:[^{e}]|{e}(?:[FSTRE]|X(?:[0-9A-Fa-f]{{2}})+){e})*", text):
        raise MappingError(
            f"'{text}' has an HL7 escape sequence this gateway does not read (only "
            f"{esc}F{esc} {esc}S{esc} {esc}T{esc} {esc}R{esc} {esc}E{esc} {esc}Xhh{esc})",
            where,
            102,
        )
    return msg.unescape(text)
