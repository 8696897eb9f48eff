"""A labelled simulated ward: patients who deteriorate, monitors that produce artifacts,
and the ground truth of both, so alarm quality can be measured (``vitals rules replay``).

Time is the readings' own: ``next_reading(pid, now)`` advances a patient to ``now``, so
the same seed gives the same ward whatever the pace (real time to Kafka, or as fast as
possible into a CSV file).

Physiology
    Every vital is a mean-reverting random walk (Ornstein-Uhlenbeck: correlation time
    ``tau`` seconds, stationary spread ``sd``) around the patient's baseline.
Deteriorations (``EPISODES``)
    Desaturation, sepsis, hypotension, bradycardia: the vitals move from the baseline to a
    peak beyond the default alarm limits over a 2-10 min onset, hold 5-30 min, recover
    over 3-10 min. Each is labelled ``[start, end]``: any alert inside it (or within
    ``GRACE_AFTER`` of its end) is actionable.
Artifacts (``ARTIFACT_RATES``, per patient per hour)
    ``probe_motion``: one or two SpO2 readings of 70-84 %; ``double_count``: one heart
    rate reading of 150-180 bpm; ``lead_off``: no readings at all for 30 s - 3 min. They
    are labelled too; no alert should follow them.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from vitals.readings import LIMITS, VITALS, Reading

MS = timedelta(milliseconds=1)

# vital -> (baseline range, stationary spread sd, correlation time tau in seconds)
PHYSIOLOGY = {
    "heart_rate": ((60, 90), 3.0, 60.0),
    "spo2": ((95, 99), 0.8, 30.0),
    "systolic": ((108, 140), 4.0, 120.0),
    "diastolic": ((62, 84), 3.0, 120.0),
    "respiratory_rate": ((12, 18), 1.0, 60.0),
    "temperature": ((36.3, 37.1), 0.05, 600.0),
}

# kind -> vital -> (peak value range (absolute), None) or offsets from baseline
EPISODES: dict[str, dict[str, tuple[float, float]]] = {
    "desaturation": {"spo2": (82, 89), "heart_rate": (95, 108), "respiratory_rate": (22, 26)},
    "sepsis": {"heart_rate": (114, 135), "temperature": (38.4, 39.6), "respiratory_rate": (22, 28)},
    "hypotension": {"systolic": (72, 86), "diastolic": (40, 52), "heart_rate": (96, 108)},
    "bradycardia": {"heart_rate": (30, 37)},
}
EPISODES_PER_8H = 1.0  # per patient
ARTIFACT_RATES = {"probe_motion": 1.2, "double_count": 1.0, "lead_off": 0.3}  # per hour
GRACE_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class Label:
    """One labelled event of the ground truth (UTC times, as ISO 8601 in the JSON file)."""

    patient_id: str
    kind: str  # an EPISODES kind, or an ARTIFACT_RATES kind
    start: datetime
    end: datetime


@dataclass
class _Episode:
    kind: str
    start: datetime
    onset: float  # seconds
    hold: float
    recovery: float
    peak: dict[str, float]

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.onset + self.hold + self.recovery)

    def weight(self, t: datetime) -> float:
        """0 before, rising to 1 over the onset, 1 while held, back to 0 over the recovery."""
        s = (t - self.start).total_seconds()
        if s <= 0 or s >= self.onset + self.hold + self.recovery:
            return 0.0
        if s < self.onset:
            return s / self.onset
        if s < self.onset + self.hold:
            return 1.0
        return 1 - (s - self.onset - self.hold) / self.recovery


@dataclass
class _Patient:
    pid: str
    baseline: dict[str, float]
    value: dict[str, float]
    episodes: list[_Episode]
    artifacts: list[Label]
    last: datetime | None = None
    cursor: int = 0  # artifacts before it have started
    # artifact -> its first and last reading
    shown_at: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)
    pending: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (artifact, left)


class LabelledWard:
    """Simulated patients over ``[start, start + hours]`` with their labels decided up front.

    ``next_reading(pid, now)`` returns the patient's reading at ``now``, or ``None`` while
    its monitor is off (a lead-off gap). ``labels()`` is the ground truth.
    """

    def __init__(
        self,
        patient_ids: list[str],
        *,
        start: datetime,
        hours: float = 8.0,
        seed: int | None = None,
        artifacts: bool = True,
        episodes_per_hour: float = EPISODES_PER_8H / 8,
    ) -> None:
        self.start, self.hours, self.seed = start.astimezone(UTC), hours, seed
        self.episode_rate = episodes_per_hour / 3600  # per second
        self.rng = rng = random.Random(seed)
        self.patients: dict[str, _Patient] = {}
        for pid in patient_ids:
            base = {v: rng.uniform(*r) for v, (r, _sd, _tau) in PHYSIOLOGY.items()}
            episodes = self._episodes(base)
            arts = self._artifacts(pid) if artifacts else []
            self.patients[pid] = _Patient(pid, base, dict(base), episodes, arts)

    @property
    def patient_ids(self) -> list[str]:
        return list(self.patients)

    def _episodes(self, base: dict[str, float]) -> list[_Episode]:
        rng, span = self.rng, self.hours * 3600
        out: list[_Episode] = []
        if self.episode_rate <= 0:
            return out
        t = rng.expovariate(self.episode_rate)
        while t < span:
            kind = rng.choice(list(EPISODES))
            peak = {v: rng.uniform(*r) - base[v] for v, r in EPISODES[kind].items()}
            e = _Episode(
                kind,
                self.start + timedelta(seconds=t),
                rng.uniform(120, 600),
                rng.uniform(300, 1800),
                rng.uniform(180, 600),
                peak,
            )
            if (e.end - self.start).total_seconds() < span:
                out.append(e)
            t = (e.end - self.start).total_seconds() + rng.expovariate(EPISODES_PER_8H / (8 * 3600))
        return out

    def _artifacts(self, pid: str) -> list[Label]:
        rng, span = self.rng, self.hours * 3600
        out = []
        for kind, per_hour in ARTIFACT_RATES.items():
            t = rng.expovariate(per_hour / 3600)
            while t < span:
                start = self.start + timedelta(seconds=t)
                length = rng.uniform(30, 180) if kind == "lead_off" else 0.0
                out.append(Label(pid, kind, start, start + timedelta(seconds=length)))
                t += length + rng.expovariate(per_hour / 3600)
        return sorted(out, key=lambda a: a.start)

    def next_reading(self, patient_id: str, now: datetime) -> Reading | None:
        """The patient at ``now`` (UTC, after its previous reading), or None (lead off)."""
        p = self.patients[patient_id]
        now = now.astimezone(UTC).replace(microsecond=now.microsecond // 1000 * 1000)
        if p.last is not None and now <= p.last:
            now = p.last + MS
        dt = (now - p.last).total_seconds() if p.last is not None else 0.0
        p.last = now
        rng = self.rng
        target = dict(p.baseline)
        for e in p.episodes:
            w = e.weight(now)
            if w:
                for v, off in e.peak.items():
                    target[v] += off * w
        for v, (_r, sd, tau) in PHYSIOLOGY.items():
            k = math.exp(-dt / tau)
            x = target[v] + (p.value[v] - target[v]) * k
            x += rng.gauss(0, sd * math.sqrt(1 - k * k)) if dt else 0.0
            low, high = LIMITS[v]
            p.value[v] = min(max(x, low), high)
        shown = {
            "heart_rate": round(p.value["heart_rate"]),
            "spo2": min(100, round(p.value["spo2"])),
            "systolic": round(p.value["systolic"]),
            "diastolic": round(min(p.value["diastolic"], p.value["systolic"] - 15)),
            "respiratory_rate": round(p.value["respiratory_rate"]),
            "temperature": round(p.value["temperature"], 1),
        }
        arts = p.artifacts
        while p.cursor < len(arts) and arts[p.cursor].start <= now:
            a = arts[p.cursor]
            if a.kind == "lead_off":
                if now <= a.end:
                    return None  # the monitor sends nothing
            else:  # the artifact starts at this reading
                p.pending[a.kind] = (
                    p.cursor,
                    rng.choice((1, 2)) if a.kind == "probe_motion" else 1,
                )
            p.cursor += 1
        for kind, (i, left) in list(p.pending.items()):
            p.shown_at[i] = (p.shown_at.get(i, (now, now))[0], now)
            if left > 1:
                p.pending[kind] = (i, left - 1)
            else:
                del p.pending[kind]
            if kind == "probe_motion":
                shown["spo2"] = rng.randint(70, 84)
            else:
                shown["heart_rate"] = min(180, max(150, 2 * shown["heart_rate"]))
        return Reading(patient_id=patient_id, timestamp=now, **shown)

    def labels(self) -> dict:
        """The ground truth: ``{"seed", "start", "hours", "patients", "episodes",
        "artifacts"}``, times as ISO 8601 UTC (the ``--labels`` file)."""

        def row(label: Label, **extra: object) -> dict:
            d = asdict(label)
            d["start"], d["end"] = label.start.isoformat(), label.end.isoformat()
            return {**d, **extra}

        episodes = [
            row(Label(p.pid, e.kind, e.start, e.end), vitals=sorted(e.peak))
            for p in self.patients.values()
            for e in p.episodes
        ]
        return {
            "seed": self.seed,
            "start": self.start.isoformat(),
            "hours": self.hours,
            "patients": self.patient_ids,
            "episodes": sorted(episodes, key=lambda e: e["start"]),
            "artifacts": [row(a) for a in self._all_artifacts()],
        }

    def _all_artifacts(self) -> list[Label]:
        """Artifacts that happened (lead off in full; others: up to their last reading)."""
        arts = []
        for p in self.patients.values():
            for i, a in enumerate(p.artifacts[: p.cursor]):
                if a.kind != "lead_off":
                    a = Label(a.patient_id, a.kind, *p.shown_at.get(i, (a.start, a.start)))
                arts.append(a)
        return sorted(arts, key=lambda a: (a.start, a.patient_id))


# --- what a device sends -------------------------------------------------------------------

#: ``vitals produce --profile``: which vitals a simulated bedside device sends, and when.
PROFILES = ("all-six", "monitor", "pulse-oximeter")
#: A multiparameter monitor's non-invasive blood pressure cycle (15-60 min on monitored wards;
#: the shortest, so NEWS2's 60 min window always holds one, see vitals.freshness).
CUFF_CYCLE = timedelta(minutes=15)
#: How often a monitored patient's temperature is taken (NEWS2's most frequent routine
#: observations are 4-hourly, RCP 2017, chart 2; the window of vitals.freshness is 4 h).
TEMPERATURE_EVERY = timedelta(hours=4)


class Source(Protocol):
    """Simulated patients: ``patient_ids`` and ``next_reading(pid, now)`` (None: nothing sent)."""

    @property
    def patient_ids(self) -> list[str]: ...

    def next_reading(self, patient_id: str, now: datetime) -> Reading | None: ...


class DeviceProfile:
    """The vitals a kind of bedside device sends of each simulated reading.

    ``all-six``: every vital every reading (the seed's behaviour). ``monitor``: heart rate,
    SpO2 and respiratory rate every reading; blood pressure once per ``cuff_cycle`` and
    temperature once per ``temperature_every`` (both in the first reading, when monitoring
    starts), each at its reading's time. ``pulse-oximeter``: heart rate and SpO2 only, so
    NEWS2 is incomplete (vitals.freshness). Raises ``ValueError`` for another name.
    """

    def __init__(
        self,
        name: str = "all-six",
        *,
        cuff_cycle: timedelta = CUFF_CYCLE,
        temperature_every: timedelta = TEMPERATURE_EVERY,
    ) -> None:
        if name not in PROFILES:
            raise ValueError(f"unknown device profile {name!r}; choose one of {PROFILES}")
        self.name = name
        self.cuff_cycle, self.temperature_every = cuff_cycle, temperature_every
        self._cuff: dict[str, datetime] = {}  # patient -> last blood pressure sent (UTC)
        self._temp: dict[str, datetime] = {}  # patient -> last temperature sent (UTC)

    def apply(self, r: Reading) -> Reading:
        """``r`` with the vitals this device does not send at ``r.timestamp`` left out."""
        if self.name == "all-six":
            return r
        if self.name == "pulse-oximeter":
            return replace(
                r, systolic=None, diastolic=None, respiratory_rate=None, temperature=None
            )
        drop: dict[str, None] = {}
        if self._due(self._cuff, r, self.cuff_cycle):
            self._cuff[r.patient_id] = r.timestamp
        else:
            drop.update(systolic=None, diastolic=None)
        if self._due(self._temp, r, self.temperature_every):
            self._temp[r.patient_id] = r.timestamp
        else:
            drop["temperature"] = None
        return replace(r, **drop) if drop else r  # type: ignore[arg-type]

    @staticmethod
    def _due(last: dict[str, datetime], r: Reading, every: timedelta) -> bool:
        at = last.get(r.patient_id)
        return at is None or r.timestamp - at >= every


class Profiled:
    """A ``Source`` whose readings pass through a ``DeviceProfile``."""

    def __init__(self, source: Source, profile: DeviceProfile) -> None:
        self.source, self.profile = source, profile

    @property
    def patient_ids(self) -> list[str]:
        return self.source.patient_ids

    def next_reading(self, patient_id: str, now: datetime) -> Reading | None:
        r = self.source.next_reading(patient_id, now)
        return None if r is None else self.profile.apply(r)


def simulate(ward: LabelledWard, *, interval: float, count: int | None = None) -> list[Reading]:
    """Every reading of the ward, every ``interval`` seconds of its span, in time order
    (at most ``count``)."""
    out: list[Reading] = []
    steps = int(ward.hours * 3600 / interval)
    for i in range(steps):
        now = ward.start + timedelta(seconds=i * interval)
        for pid in ward.patient_ids:
            if count is not None and len(out) >= count:
                return out
            r = ward.next_reading(pid, now)
            if r is not None:
                out.append(r)
    return out


CSV_HEADER = ("patient_id", "timestamp", *VITALS)


def write_csv(readings: list[Reading], path: str | Path) -> int:
    """Write readings as a CSV ``vitals produce --mode csv`` and ``vitals rules replay``
    read (timestamps in UTC; a vital not measured is a blank cell); returns the number of
    rows."""
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(CSV_HEADER) + "\n")
        for r in readings:
            ts = r.timestamp.isoformat().replace("+00:00", "Z")
            cells = ("" if v is None else f"{v:g}" for v in (getattr(r, c) for c in VITALS))
            fh.write(f"{r.patient_id},{ts},{','.join(cells)}\n")  # blank: not measured
    return len(readings)


def write_labels(ward: LabelledWard, path: str | Path) -> None:
    Path(path).write_text(json.dumps(ward.labels(), indent=1) + "\n", encoding="utf-8")
