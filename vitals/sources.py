"""Where readings come from: simulated bedside monitors and CSV replay.

The simulator gives each patient a baseline and lets every vital wander as a
mean-reverting random walk around it (so consecutive readings are correlated),
with occasional deterioration episodes (desaturation, tachycardia with fever,
hypotension) that ramp in and out so alerts happen naturally.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vitals.errors import ConfigError, CsvError
from vitals.readings import LIMITS, Reading, read_csv, to_reading

MS = timedelta(milliseconds=1)

# baseline range, random-walk step, mean reversion per reading
_PROFILE = {
    "heart_rate": ((62, 88), 1.5, 0.08),
    "spo2": ((95, 99), 0.4, 0.15),
    "systolic": ((108, 132), 2.0, 0.08),
    "diastolic": ((64, 82), 1.5, 0.08),
    "respiratory_rate": ((13, 18), 0.5, 0.1),
    "temperature": ((36.4, 37.1), 0.03, 0.05),
}

# name -> offsets from baseline at the episode's peak
EPISODES = {
    "desaturation": {"spo2": -10, "heart_rate": 12, "respiratory_rate": 8},
    "tachycardia with fever": {"heart_rate": 40, "temperature": 2.0, "respiratory_rate": 6},
    "hypotension": {"systolic": -38, "diastolic": -22, "heart_rate": 25},
}


@dataclass
class _Patient:
    patient_id: str
    baseline: dict[str, float]
    value: dict[str, float]
    episode: dict[str, float] | None = None
    episode_len: int = 0
    episode_pos: int = 0
    last_ts: datetime | None = None


@dataclass
class Ward:
    """Simulated patients; ``next_reading(pid, now)`` advances one patient by one reading."""

    patient_ids: list[str]
    seed: int | None = None
    episode_chance: float = 0.004  # per reading: roughly one episode per ~4 min at 1 Hz
    rng: random.Random = field(init=False)
    patients: dict[str, _Patient] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.patients = {}
        for pid in self.patient_ids:
            base = {v: self.rng.uniform(*rng_) for v, (rng_, _s, _k) in _PROFILE.items()}
            self.patients[pid] = _Patient(pid, base, dict(base))

    def next_reading(self, patient_id: str, now: datetime) -> Reading:
        p = self.patients[patient_id]
        rng = self.rng
        if p.episode is None and rng.random() < self.episode_chance:
            p.episode = EPISODES[rng.choice(list(EPISODES))]
            p.episode_len, p.episode_pos = rng.randint(40, 160), 0
        ramp = 0.0
        if p.episode is not None:
            # rises over the first third, holds, falls over the last third
            third = p.episode_len / 3
            pos = p.episode_pos
            ramp = min(1.0, pos / third, (p.episode_len - pos) / third)
            p.episode_pos += 1
            if p.episode_pos >= p.episode_len:
                p.episode = None
        for v, (_rng, step, revert) in _PROFILE.items():
            target = p.baseline[v] + (p.episode or {}).get(v, 0.0) * ramp
            x = p.value[v]
            x += (target - x) * revert + rng.gauss(0, step)
            low, high = LIMITS[v]
            p.value[v] = min(max(x, low), high)
        # one patient's readings are strictly increasing at millisecond precision
        # (Cassandra's timestamp resolution), so no two share a row
        ts = now.astimezone(UTC).replace(microsecond=now.microsecond // 1000 * 1000)
        if p.last_ts is not None and ts <= p.last_ts:
            ts = p.last_ts + MS
        p.last_ts = ts
        val = p.value
        diastolic = min(val["diastolic"], val["systolic"] - 15)
        return Reading(
            patient_id=patient_id,
            timestamp=ts,
            heart_rate=round(val["heart_rate"]),
            spo2=min(100, round(val["spo2"])),
            systolic=round(val["systolic"]),
            diastolic=round(diastolic),
            respiratory_rate=round(val["respiratory_rate"]),
            temperature=round(val["temperature"], 1),
        )


def patient_ids(patients: str | None, count: int | None) -> list[str]:
    """The ids of ``--patients`` (comma-separated), else P001..P``count`` (default 4).

    Raises ``ConfigError`` if ``patients`` is given but names no patient (``""``, ``",,"``).
    """
    if patients is not None:
        ids = [p.strip() for p in patients.split(",") if p.strip()]
        if not ids:
            raise ConfigError(
                f"--patients {patients!r} names no patient; give comma-separated ids such "
                "as P001,P002, or leave it out to simulate P001..P004"
            )
        return ids
    n = count or 4
    width = max(3, len(str(n)))
    return [f"P{i:0{width}d}" for i in range(1, n + 1)]


@dataclass(frozen=True)
class CsvPlan:
    """A validated CSV replay: rows ready to send, bad rows skipped (with their errors)."""

    rows: list[tuple[int, dict[str, object]]]
    skipped: list[CsvError]

    @property
    def timed(self) -> bool:
        return bool(self.rows) and all(f["timestamp"] is not None for _l, f in self.rows)


#: The most bad rows one error lists (a file of bad rows is usually one mistake repeated).
MAX_LISTED = 20


def plan_csv(path: str | Path, *, skip_bad_rows: bool) -> CsvPlan:
    """Read and validate the whole file before anything is sent.

    Without ``skip_bad_rows``, any bad row raises ``CsvError``: the row itself when it is
    the only one, else one error listing every bad row (the first ``MAX_LISTED``)."""
    rows: list[tuple[int, dict[str, object]]] = []
    skipped: list[CsvError] = []
    for line, item in read_csv(path):
        if isinstance(item, CsvError):
            skipped.append(item)
        else:
            rows.append((line, item))
    if skipped and not skip_bad_rows:
        if len(skipped) == 1:
            raise skipped[0]
        raise CsvError(
            str(path),
            None,
            None,
            f"{len(skipped)} bad rows, nothing sent (--skip-bad-rows sends the others):\n"
            f"{_listed(skipped)}",
        )
    if not rows and not skipped:
        raise CsvError(str(path), None, None, "has a header but no data rows")
    if not rows:
        raise CsvError(
            str(path),
            None,
            None,
            f"every row is bad ({len(skipped)}), nothing sent:\n{_listed(skipped)}",
        )
    return CsvPlan(rows, skipped)


def _listed(errors: list[CsvError]) -> str:
    """The first ``MAX_LISTED`` errors, one indented line each, and how many more."""
    listed = "\n".join(f"  {e}" for e in errors[:MAX_LISTED])
    more = f"\n  … and {len(errors) - MAX_LISTED} more" if len(errors) > MAX_LISTED else ""
    return listed + more


def csv_readings(
    plan: CsvPlan, *, now: datetime | None = None
) -> Iterator[tuple[float | None, Reading]]:
    """Yield ``(seconds since the first row or None, reading)``.

    Rows with a ``timestamp`` keep it (the gap drives pacing); rows without one are
    stamped with ``now`` at the time they are yielded (strictly increasing per patient).
    """
    first: datetime | None = None
    last: dict[str, datetime] = {}
    for _line, fields in plan.rows:
        ts = fields["timestamp"]
        if isinstance(ts, datetime):
            first = first or ts
            yield (ts - first).total_seconds(), to_reading(fields, ts)
        else:
            t = now or datetime.now(UTC)
            t = t.replace(microsecond=t.microsecond // 1000 * 1000)
            pid = str(fields["patient_id"])
            if pid in last and t <= last[pid]:
                t = last[pid] + MS
            last[pid] = t
            yield None, to_reading(fields, t)
