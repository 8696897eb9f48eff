"""The ``Reading`` value: its fields and units, validation with reasons, the seed's JSON out.

``build`` is the one gate every input format passes (Kafka JSON in ``wire``,
CSV rows in ``csv_file``, HL7 in ``vitals.hl7_mapping``): it checks the patient
id, times, ranges and statuses, and rounds whole-number vitals half up once.
See the package docstring for what "not measured" and "no signal" mean.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, make_dataclass
from datetime import UTC, date, datetime, timedelta

import msgspec

from vitals.errors import InvalidReading
from vitals.news2 import round_half_up

VITALS = ("heart_rate", "spo2", "systolic", "diastolic", "respiratory_rate", "temperature")
CONSCIOUSNESS = ("A", "C", "V", "P", "U")
#: An ACVPU letter as sent, either case, -> its level (RCP NEWS2 2017, chart 1: Alert, new
#: Confusion, Voice, Pain, Unresponsive). The one reading of it, for JSON, CSV and HL7 alike.
_ACVPU = {c: c for c in CONSCIOUSNESS} | {c.lower(): c for c in CONSCIOUSNESS}

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
#: Patient ids: 1–64 printable ASCII characters, single inner spaces, no ``/`` or ``\`` and
#: not ``.`` or ``..``. The id is one path segment of the web's URLs (``/patients/{id}``,
#: ``/api/patients/{id}/alerts/{rule}/ack``): a ``/`` (or a ``\``, which browsers read as
#: one) would split it and a dot segment is resolved away, so such a patient could be stored
#: and listed but never opened or acknowledged.
MAX_PATIENT_ID = 64
PATIENT_ID_RULE = (
    f"1–{MAX_PATIENT_ID} printable ASCII characters, single inner spaces, "
    "no '/' or '\\', not '.' or '..'"
)
_ID_CHAR = r"[\x21-\x2e\x30-\x5b\x5d-\x7e]"  # printable ASCII but space, / and \
_PATIENT_ID = re.compile(rf"(?!\.\.?$){_ID_CHAR}+(?: {_ID_CHAR}+)*")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: A reading may be at most this far after its Kafka record's time. Its time is the write
#: time of its ``patient_latest`` cells (``USING TIMESTAMP``), so one dated hours ahead would
#: hide every correctly dated reading of the patient until then (last write wins); a bedside
#: clock or time zone that far off is a device fault to fix, so it is dead-lettered, not shown.
MAX_AHEAD = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Reading:
    """One message from a bedside device: any non-empty subset of the vitals.

    Units: heart rate bpm, SpO2 %, systolic/diastolic mmHg, respiratory rate
    breaths/min (whole numbers), temperature °C (one decimal); ``None`` means
    not measured. ``timestamp``: the reading's own time (UTC);
    ``bp_timestamp``: the cuff's measurement time when it differs (UTC).
    ``status``: technical statuses by vital (see ``STATUSES``), as sorted pairs.
    ``consciousness`` (ACVPU, one of ``CONSCIOUSNESS``) and ``on_oxygen`` (supplemental
    oxygen) are observations too: ``None`` when the message does not carry them (the seed's
    JSON and HL7 never do), never assumed alert or on air here (``vitals.freshness`` carries
    the freshest observed value into NEWS2).
    """

    patient_id: str
    timestamp: datetime  # timezone-aware, UTC
    heart_rate: int | None = None
    spo2: int | None = None
    systolic: int | None = None
    diastolic: int | None = None
    respiratory_rate: int | None = None
    temperature: float | None = None
    consciousness: str | None = None
    on_oxygen: bool | None = None
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
        if self.consciousness is not None:
            doc["consciousness"] = self.consciousness
        if self.on_oxygen is not None:
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


def parse_consciousness(value: str) -> str:
    """The ACVPU level (one of ``CONSCIOUSNESS``) of a letter sent in either case (``"c"``
    -> ``"C"``); raises ``InvalidReading`` (field ``consciousness``) for anything else."""
    level = _ACVPU.get(value)
    if level is None:
        raise InvalidReading(f"{value!r} is not one of A, C, V, P, U", "consciousness")
    return level


def check_patient_id(patient_id: str) -> None:
    """Raise ``InvalidReading`` (field ``patient_id``) unless ``patient_id`` follows
    ``PATIENT_ID_RULE``: the one patient-id rule of readings and of every request that names
    a patient. The message shows at most the id's first 20 characters."""
    if not patient_id or len(patient_id) > MAX_PATIENT_ID or not _PATIENT_ID.fullmatch(patient_id):
        shown = patient_id[:20] + ("…" if len(patient_id) > 20 else "")
        raise InvalidReading(f"{shown!r} is not a patient id ({PATIENT_ID_RULE})", "patient_id")


def build(
    patient_id: str,
    timestamp: datetime,
    values: dict[str, float | None],
    consciousness: str | None = None,
    on_oxygen: bool | None = None,
    *,
    produced_at: datetime | None = None,
    bp_timestamp: datetime | None = None,
    status: dict[str, str] | None = None,
) -> Reading:
    """Validate raw values into a ``Reading`` or raise ``InvalidReading``.

    ``values``: vital -> number or ``None`` (not measured), units as in ``Reading``;
    ``consciousness``/``on_oxygen`` likewise ``None`` when not observed. At least one
    vital must be measured or carry a technical ``status``.
    """
    get = values.get
    return validated(
        patient_id,
        timestamp,
        get("heart_rate"),
        get("spo2"),
        get("systolic"),
        get("diastolic"),
        get("respiratory_rate"),
        get("temperature"),
        consciousness,
        on_oxygen,
        produced_at,
        bp_timestamp,
        status,
    )


def validated(
    patient_id: str,
    timestamp: datetime,
    heart_rate: float | None,
    spo2: float | None,
    systolic: float | None,
    diastolic: float | None,
    respiratory_rate: float | None,
    temperature: float | None,
    consciousness: str | None,
    on_oxygen: bool | None,
    produced_at: datetime | None,
    bp_timestamp: datetime | None,
    status: dict[str, str] | None,
) -> Reading:
    """``build`` with the vitals as arguments (the decoder's path: no dict per reading).

    Checks in this order, the first failure raising ``InvalidReading``: patient id,
    time, statuses, each vital's range in ``VITALS`` order, blood pressure pairing,
    something measured, the cuff's time, consciousness.
    """
    if patient_id not in _VALID_IDS:  # a ward's ids recur every few seconds: check each once
        check_patient_id(patient_id)
        if len(_VALID_IDS) >= _VALID_IDS_MAX:
            _VALID_IDS.clear()
        _VALID_IDS.add(patient_id)
    _check_time(timestamp, produced_at, "timestamp")
    statuses = _statuses(status) if status else None
    if spo2 == 0 and (statuses is None or "spo2" not in statuses):  # no perfusion signal
        if statuses is None:
            statuses = {}
        statuses["spo2"] = "no_signal"
    if statuses:  # the device says these values are not valid: they are not used
        if "heart_rate" in statuses:
            heart_rate = None
        if "spo2" in statuses:
            spo2 = None
        if "blood_pressure" in statuses:
            systolic = diastolic = None
        if "respiratory_rate" in statuses:
            respiratory_rate = None
        if "temperature" in statuses:
            temperature = None
    if heart_rate is not None and not _HR[0] <= heart_rate <= _HR[1]:  # also true for NaN
        _check_range("heart_rate", heart_rate)
    if spo2 is not None and not _SPO2[0] <= spo2 <= _SPO2[1]:
        _check_range("spo2", spo2)
    if systolic is not None and not _SYS[0] <= systolic <= _SYS[1]:
        _check_range("systolic", systolic)
    if diastolic is not None and not _DIA[0] <= diastolic <= _DIA[1]:
        _check_range("diastolic", diastolic)
    if respiratory_rate is not None and not _RR[0] <= respiratory_rate <= _RR[1]:
        _check_range("respiratory_rate", respiratory_rate)
    if temperature is not None and not _TEMP[0] <= temperature <= _TEMP[1]:
        _check_range("temperature", temperature)
    if systolic is None:
        if diastolic is not None:
            raise InvalidReading("systolic missing; a blood pressure has both", "blood_pressure")
        if not statuses and (
            heart_rate is None and spo2 is None and respiratory_rate is None and temperature is None
        ):
            raise InvalidReading(
                "no vital measured; a reading carries at least one of " + ", ".join(VITALS)
            )
    elif diastolic is None:
        raise InvalidReading("diastolic missing; a blood pressure has both", "blood_pressure")
    elif diastolic >= systolic:
        raise InvalidReading(
            f"diastolic {diastolic:g} is not below systolic {systolic:g}", "blood_pressure"
        )
    if bp_timestamp is not None:
        if systolic is None:
            raise InvalidReading("given without a blood pressure", "blood_pressure.timestamp")
        _check_time(bp_timestamp, produced_at, "blood_pressure.timestamp")
    if consciousness is not None:
        consciousness = parse_consciousness(consciousness)
    # whole-number vitals rounded half up (90.5 -> 91): floor(v + 0.5), the one rounding rule
    r = _Unfrozen(
        patient_id,
        timestamp,
        None if heart_rate is None else _floor(heart_rate + 0.5),
        None if spo2 is None else _floor(spo2 + 0.5),
        None if systolic is None else _floor(systolic + 0.5),
        None if diastolic is None else _floor(diastolic + 0.5),
        None if respiratory_rate is None else _floor(respiratory_rate + 0.5),
        None if temperature is None else _tenths(temperature),
        consciousness,
        on_oxygen,
        bp_timestamp,
        tuple(sorted(statuses.items())) if statuses else (),
    )
    r.__class__ = Reading  # see unfrozen_twin
    return r


def unfrozen_twin(cls: type) -> type:
    """A plain slotted class with the fields of the frozen slotted dataclass ``cls``.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (the
    documented cost of ``frozen=True``: ~1.8 µs for a ``Reading``, built once per message);
    the twin's assigns them (~0.3 µs), and its instance then becomes a ``cls`` by assigning
    ``__class__`` (CPython allows it as both have the same slots): the same frozen value,
    equal to and hashing like one built by ``cls(...)``. Fields are passed positionally.
    """
    return make_dataclass(
        cls.__name__,
        [(f.name, f.type) for f in fields(cls)],
        slots=True,
        eq=False,
        repr=False,
        match_args=False,
    )


_Unfrozen = unfrozen_twin(Reading)


def _tenths(temperature: float) -> float:
    """A temperature in range (°C) rounded half up to one decimal (``round_half_up``).

    Within 25-45 °C a float that ``round(t, 1)`` leaves unchanged is written with at most
    one decimal (no exponent), which ``round_half_up`` returns as is: the usual case, at a
    third of the cost."""
    if round(temperature, 1) == temperature:
        return float(temperature)
    return float(round_half_up(temperature, 1))


_HR, _SPO2, _SYS, _DIA, _RR, _TEMP = (LIMITS[v] for v in VITALS)
_floor = math.floor
#: Patient ids already found valid (``check_patient_id``); cleared when this many.
_VALID_IDS: set[str] = set()
_VALID_IDS_MAX = 100_000


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
            f"{ts.isoformat()} is more than 1 h after the message was produced "
            f"({produced_at.isoformat()})",
            field,
        )
