"""NEWS2 from the freshest valid value of each parameter, for readings that carry some vitals.

Bedside monitors send heart rate and SpO2 every few seconds, blood pressure
once per cuff cycle and temperature a few times a day. NEWS2 (RCP 2017, chart 1)
scores a complete set of observations; so for every reading the score takes,
per parameter, the newest value measured within that parameter's **freshness
window**. If any parameter has no fresh value the score is **incomplete**: it
is never computed as if the missing parameter were normal, it is stored as
such (which parameters are missing), and it raises no NEWS2 alert.

Default windows (``DEFAULT_WINDOWS``), and why:
    * heart rate, SpO2: 5 min — measured continuously; a monitor that has not
      sent one for 5 minutes is not monitoring that parameter any more.
    * respiratory rate: 15 min — continuous by impedance on most monitors, but
      counted by hand on many wards; 15 min spans a manual count's round.
    * systolic blood pressure: 60 min — non-invasive cuff cycles on monitored
      wards run every 15–60 minutes; an older value no longer describes the
      patient's circulation.
    * temperature: 4 h — the shortest routine interval of NEWS2's observation
      frequencies (4–6 hourly for a score of 1–4, RCP 2017, chart 2); it
      changes slowly and is measured rarely.
Consciousness (ACVPU) and supplemental oxygen are observations like the vitals:
a reading that does not carry them (``None``: a monitor's partial reading, an HL7
message, the seed's JSON) takes the patient's freshest observed value within
``OBSERVED_WINDOW`` (4 h, the shortest routine interval of NEWS2's observation
frequencies, RCP 2017 chart 2, as for temperature); with none observed, the score
takes alert and on air, as the seed's messages (which never carry them) always did.
A patient found responding to voice on oxygen stays V on oxygen for the next
heart-rate-only reading instead of dropping 5 points.

A reading that carries all six vitals is scored exactly as before: every value
is its own, 0 s old.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from vitals.readings import Reading
from vitals.readings.model import unfrozen_twin

#: NEWS2 parameters measured by devices, with the reading fields they come from.
PARAMETERS: dict[str, tuple[str, ...]] = {
    "respiratory_rate": ("respiratory_rate",),
    "spo2": ("spo2",),
    "blood_pressure": ("systolic", "diastolic"),
    "heart_rate": ("heart_rate",),
    "temperature": ("temperature",),
}
DEFAULT_WINDOWS: MappingProxyType[str, timedelta] = MappingProxyType(
    {
        "heart_rate": timedelta(minutes=5),
        "spo2": timedelta(minutes=5),
        "respiratory_rate": timedelta(minutes=15),
        "blood_pressure": timedelta(minutes=60),
        "temperature": timedelta(hours=4),
    }
)


@dataclass(frozen=True, slots=True)
class Basis:
    """What a reading's NEWS2 score is based on.

    ``reading``: the reading with every parameter filled from its freshest value
    (``None`` when incomplete); ``ages``: parameter -> age in whole seconds of
    the value used, at the reading's time (0: from this reading); ``missing``:
    parameters with no value within their window (empty when complete).
    """

    reading: Reading | None
    ages: MappingProxyType[str, int]
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def borrowed(self) -> bool:
        """True if some value used is older than the reading (not its own)."""
        return any(self.ages.values())


class Freshest:
    """The newest value and its time (UTC) of each parameter, per patient.

    ``windows``: parameter -> how long a value stays fresh (see module docstring).
    A complete reading is kept whole (O(1), the seed's case costs no more than a
    dict store); values of partial readings newer than it are kept per parameter.
    Not thread-safe: one per consuming thread, like the rule engine that owns it.
    """

    def __init__(self, windows: MappingProxyType[str, timedelta] | None = None) -> None:
        self.windows = windows or DEFAULT_WINDOWS
        self._full: dict[str, Reading] = {}  # newest complete reading (own bp time or none)
        self._parts: dict[str, dict[str, tuple[datetime, tuple]]] = {}  # newer partial values
        # consciousness / on_oxygen -> (observed at, value): the newest observation of each
        self._observed: dict[str, dict[str, tuple[datetime, object]]] = {}

    def update(self, r: Reading) -> Basis:
        """Take the reading's values and return the basis of its NEWS2 score."""
        pid = r.patient_id
        carried = self._observe(r)
        if r.bp_timestamp is None and r.complete:  # the seed's reading: all its own
            full = self._full.get(pid)
            if full is None or r.timestamp >= full.timestamp:
                self._full[pid] = r
                self._parts.pop(pid, None)
            own = replace(r, **carried) if carried else r  # type: ignore[arg-type]
            basis = _Basis(own, _ZERO_AGES, ())
            basis.__class__ = Basis  # see vitals.readings.model.unfrozen_twin
            return basis
        parts = self._parts.setdefault(pid, {})
        for param, fields in PARAMETERS.items():
            first = getattr(r, fields[0])
            if first is not None:
                at = r.bp_timestamp if param == "blood_pressure" and r.bp_timestamp else r.timestamp
                held = self._held(pid, param)
                if held is None or at >= held[0]:
                    parts[param] = (at, tuple(getattr(r, f) for f in fields))
        filled: dict[str, object] = dict(carried)
        ages: dict[str, int] = {}
        missing = []
        for param, fields in PARAMETERS.items():
            held = self._held(pid, param)
            if held is None or r.timestamp - held[0] > self.windows[param]:
                missing.append(param)
                continue
            at, values = held
            ages[param] = max(0, int((r.timestamp - at).total_seconds()))
            filled.update(zip(fields, values, strict=True))
        if missing:
            return Basis(None, MappingProxyType(ages), tuple(missing))
        return Basis(replace(r, **filled), MappingProxyType(ages), ())  # type: ignore[arg-type]

    def _observe(self, r: Reading) -> dict[str, object]:
        """Keep the reading's consciousness / oxygen observations; return the fresh
        observed values of those it lacks (field -> value), to fill them from."""
        c, o = r.consciousness, r.on_oxygen
        known = self._observed.get(r.patient_id)
        if known is None:
            if c is None and o is None:
                return {}  # nothing observed, ever (the seed's messages): nothing to carry
            known = self._observed[r.patient_id] = {}
        carried: dict[str, object] = {}
        for name, value in (("consciousness", c), ("on_oxygen", o)):
            held = known.get(name)
            if value is not None:
                if held is None or r.timestamp >= held[0]:
                    known[name] = (r.timestamp, value)
            elif held is not None and timedelta(0) <= r.timestamp - held[0] <= OBSERVED_WINDOW:
                carried[name] = held[1]
        return carried

    def _held(self, pid: str, param: str) -> tuple[datetime, tuple] | None:
        """``(measured at, values)`` of the newest value of ``param``."""
        part = self._parts.get(pid, {}).get(param)
        full = self._full.get(pid)
        if full is None:
            return part
        if part is not None and part[0] >= full.timestamp:
            return part
        return full.timestamp, tuple(getattr(full, f) for f in PARAMETERS[param])

    def seed(self, patient_id: str, values: dict[str, tuple[datetime, tuple]]) -> None:
        """Start a patient from stored values (``param -> (time, values)``), e.g. after a
        rebalance, so partial readings score at once instead of after every window; the
        ``consciousness`` and ``on_oxygen`` entries (``(observed at, (value,))``) are the
        last observations, carried for ``OBSERVED_WINDOW`` like the reading's own."""
        parts = self._parts.setdefault(patient_id, {})
        for param, held in values.items():
            if param in ("consciousness", "on_oxygen"):  # the last observation, carried
                observed = self._observed.setdefault(patient_id, {})
                seen = observed.get(param)
                if seen is None or held[0] > seen[0]:
                    observed[param] = (held[0], held[1][0])
                continue
            known = self._held(patient_id, param)
            if param in PARAMETERS and (known is None or held[0] > known[0]):
                parts[param] = held

    def forget(self, patient_id: str) -> None:
        self._observed.pop(patient_id, None)
        self._full.pop(patient_id, None)
        self._parts.pop(patient_id, None)


_ZERO_AGES = MappingProxyType({p: 0 for p in PARAMETERS})
_Basis = unfrozen_twin(Basis)  # a Basis per reading at a third of the cost
#: How long an observed consciousness level or oxygen status is carried into NEWS2.
OBSERVED_WINDOW = timedelta(hours=4)


def describe(basis: Basis) -> str:
    """``NEWS2 incomplete: no temperature`` or ``NEWS2 from blood pressure 12 min old``."""
    if basis.missing:
        return "NEWS2 incomplete: no " + ", ".join(p.replace("_", " ") for p in basis.missing)
    old = [(p, a) for p, a in basis.ages.items() if a >= 60]
    if not old:
        return "NEWS2 from this reading"
    return "NEWS2 from " + ", ".join(f"{p.replace('_', ' ')} {a // 60} min old" for p, a in old)


# --- one definition of a value's age, for every view (vitals watch, the pages, the API) ----

#: How far after the viewer's clock a measurement may be dated and still count as "now":
#: a monitor's and a server's NTP-synchronised clocks agree within a second; 30 s leaves
#: room for a monitor that syncs rarely without hiding a wrong date or time zone.
CLOCK_SKEW = timedelta(seconds=30)


def age(measured_at: datetime, *, now: datetime) -> float:
    """Seconds from ``measured_at`` to ``now`` (both aware, UTC); negative when the
    measurement is dated after ``now`` (a device clock ahead of the server's)."""
    return (now - measured_at).total_seconds()


def ahead(measured_at: datetime, *, now: datetime) -> bool:
    """True when ``measured_at`` is later than ``now`` by more than ``CLOCK_SKEW``: the
    device's clock (or its time zone) is wrong, and how old the value is is unknown."""
    return age(measured_at, now=now) < -CLOCK_SKEW.total_seconds()


def stale(measured_at: datetime, *, now: datetime, after: float | timedelta) -> bool:
    """True when a value measured at ``measured_at`` no longer describes the patient at
    ``now``: older than ``after`` (seconds, or a window such as ``DEFAULT_WINDOWS[param]``),
    or dated in the future beyond ``CLOCK_SKEW`` (``ahead``). A value from the future is
    never shown as fresh: its true age is unknown, so it is not current until its clock is
    fixed (the views flag it "clock ahead")."""
    limit = after.total_seconds() if isinstance(after, timedelta) else after
    seconds = age(measured_at, now=now)
    return seconds > limit or seconds < -CLOCK_SKEW.total_seconds()
