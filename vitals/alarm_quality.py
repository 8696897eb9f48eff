"""The alarm-quality report: how a rules file would have served a labelled ward.

Given the readings of a recording, the alert events the rules gave
(``vitals.replay``) and the ground truth (a labels file, as ``vitals produce
--labels`` writes it), the report counts what an alarm-management committee asks:

* **episodes alerted / missed**: a labelled deterioration is *alertable* when one
  of its readings (its own vitals, artifact readings excluded) is beyond the
  raise limit of a rule of the file; it is *alerted* when any alert (raised or
  escalated, any rule) starts in ``[start, end + GRACE_AFTER]`` of the episode.
* **delay** from the episode's first reading beyond a limit to its first alert
  (seconds, median and max; an alert before that reading counts as 0 s).
* **non-actionable alerts**: raised events in no episode window, per patient per
  8 hours (the recording's patients and span), in total and by rule.
* **most raises of one rule in 10 minutes** for one patient (flapping).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from vitals.errors import InputFileError, InvalidReading
from vitals.readings import Reading, parse_timestamp
from vitals.rules import AlertEvent, RuleEngine, RuleSet

GRACE_AFTER = timedelta(minutes=2)  # an alert this soon after an episode still belongs to it
FLAP_WINDOW = timedelta(minutes=10)
SHIFT = timedelta(hours=8)


@dataclass(frozen=True)
class Labelled:
    """A labelled interval of one patient (an episode or an artifact), UTC."""

    patient_id: str
    kind: str
    start: datetime
    end: datetime
    vitals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Labels:
    episodes: tuple[Labelled, ...]
    artifacts: tuple[Labelled, ...]


def load_labels(path: str | Path) -> Labels:
    """Read a labels file (``vitals produce --labels``); ``InputFileError`` names what is wrong."""
    src = str(path)
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputFileError(src, None, None, f"cannot be read: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InputFileError(src, None, None, f"is not JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("episodes"), list):
        raise InputFileError(src, None, "episodes", "expected an object with an episodes list")

    def items(key: str) -> tuple[Labelled, ...]:
        out = []
        for i, item in enumerate(doc.get(key) or []):
            try:
                out.append(
                    Labelled(
                        str(item["patient_id"]),
                        str(item["kind"]),
                        parse_timestamp(item["start"]),
                        parse_timestamp(item["end"]),
                        tuple(item.get("vitals") or ()),
                    )
                )
            except (KeyError, TypeError, ValueError, InvalidReading) as e:
                why = f"needs patient_id, kind, start and end (ISO 8601 with a zone): {e}"
                raise InputFileError(src, None, f"{key}[{i}]", why) from None
        return tuple(out)

    return Labels(items("episodes"), items("artifacts"))


@dataclass
class Report:
    """The figures of one rules file on one recording (see the module docstring)."""

    rules: str
    patients: int
    hours: float
    episodes: int = 0
    alertable: int = 0
    alerted: int = 0
    missed: list[Labelled] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)  # seconds, per alerted episode
    raised: int = 0
    escalated: int = 0
    non_actionable: Counter = field(default_factory=Counter)  # rule -> count
    flap: tuple[int, str, str] = (0, "", "")  # raises, rule, patient_id

    @property
    def per_patient_shift(self) -> float:
        """Non-actionable alerts per patient per 8 h."""
        return sum(self.non_actionable.values()) / self.norm

    @property
    def norm(self) -> float:
        return max(self.patients, 1) * max(self.hours, 1e-9) / 8

    def rows(self, rules: list[str] | None = None) -> list[tuple[str, str]]:
        """``(metric, value)`` lines, as the table prints them; non-actionable alerts for
        ``rules`` (default: those with any), most first."""
        d = self.delays
        out = [
            ("patients x hours", f"{self.patients} x {self.hours:.1f}"),
            ("alerts raised (escalated)", f"{self.raised} ({self.escalated})"),
            ("episodes alertable / labelled", f"{self.alertable} / {self.episodes}"),
            ("episodes alerted", f"{self.alerted}"),
            ("episodes missed", f"{len(self.missed)}"),
            ("delay median / max (s)", f"{statistics.median(d):.0f} / {max(d):.0f}" if d else "-"),
            ("alerted within 60 s", f"{sum(x <= 60 for x in d)} / {len(d)}"),
            ("non-actionable / patient / 8 h", f"{self.per_patient_shift:.2f}"),
        ]
        for rule in rules if rules is not None else self.rules_by_count():
            out.append((f"  {rule}", f"{self.non_actionable.get(rule, 0) / self.norm:.2f}"))
        n, rule, pid = self.flap
        out.append(("most raises of one rule in 10 min", f"{n} ({rule}, {pid})" if n else "0"))
        return out

    def rules_by_count(self) -> list[str]:
        """Rules with non-actionable alerts, most first."""
        return [r for r, _ in sorted(self.non_actionable.items(), key=lambda kv: (-kv[1], kv[0]))]

    def as_dict(self) -> dict[str, object]:
        d = self.delays
        return {
            "rules": self.rules,
            "patients": self.patients,
            "hours": round(self.hours, 3),
            "alerts_raised": self.raised,
            "alerts_escalated": self.escalated,
            "episodes": self.episodes,
            "episodes_alertable": self.alertable,
            "episodes_alerted": self.alerted,
            "episodes_missed": [
                {"patient_id": m.patient_id, "kind": m.kind, "start": m.start.isoformat()}
                for m in self.missed
            ],
            "delay_median_s": statistics.median(d) if d else None,
            "delay_max_s": max(d) if d else None,
            "alerted_within_60s": sum(x <= 60 for x in d),
            "non_actionable_per_patient_8h": round(self.per_patient_shift, 3),
            "non_actionable_by_rule_per_patient_8h": {
                r: round(n / self.norm, 3) for r, n in sorted(self.non_actionable.items())
            },
            "most_raises_in_10min": {
                "raises": self.flap[0],
                "rule": self.flap[1],
                "patient_id": self.flap[2],
            },
        }


def assess(
    readings: list[Reading], events: list[AlertEvent], labels: Labels | None, ruleset: RuleSet
) -> Report:
    """The report of ``events`` (from ``ruleset`` over ``readings``) against ``labels``."""
    patients = {r.patient_id for r in readings}
    span = (
        (max(r.timestamp for r in readings) - min(r.timestamp for r in readings))
        if readings
        else timedelta(0)
    )
    rep = Report(ruleset.source, len(patients), span.total_seconds() / 3600)
    starts = [e for e in events if e.kind in ("raised", "escalated")]
    rep.raised = sum(e.kind == "raised" for e in events)
    rep.escalated = sum(e.kind == "escalated" for e in events)
    rep.flap = _most_raises(events)
    episodes = labels.episodes if labels else ()
    by_patient: dict[str, list[Labelled]] = defaultdict(list)
    for ep in episodes:
        by_patient[ep.patient_id].append(ep)
    for e in events:
        if e.kind == "raised" and not any(
            ep.start <= e.timestamp <= ep.end + GRACE_AFTER for ep in by_patient[e.patient_id]
        ):
            rep.non_actionable[e.rule] += 1
    if labels is None:
        return rep
    rep.episodes = len(episodes)
    first = _first_abnormal(readings, labels, ruleset)
    alerts: dict[str, list[datetime]] = defaultdict(list)
    for e in starts:
        alerts[e.patient_id].append(e.timestamp)
    for ep in episodes:
        t0 = first.get(ep)
        if t0 is None:
            continue
        rep.alertable += 1
        hits = [t for t in alerts[ep.patient_id] if ep.start <= t <= ep.end + GRACE_AFTER]
        if not hits:
            rep.missed.append(ep)
            continue
        rep.alerted += 1
        rep.delays.append(max(0.0, (min(hits) - t0).total_seconds()))
    return rep


def _first_abnormal(
    readings: list[Reading], labels: Labels, ruleset: RuleSet
) -> dict[Labelled, datetime]:
    """Per episode, the time of its first reading beyond a rule limit on one of its vitals
    (any vital if the label names none), artifact readings excluded."""
    artifacts: dict[str, list[Labelled]] = defaultdict(list)
    for a in labels.artifacts:
        artifacts[a.patient_id].append(a)
    episodes: dict[str, list[Labelled]] = defaultdict(list)
    for ep in labels.episodes:
        episodes[ep.patient_id].append(ep)
    out: dict[Labelled, datetime] = {}
    engine = RuleEngine(ruleset)
    for r in readings:
        eps = [ep for ep in episodes.get(r.patient_id, ()) if ep not in out]
        eps = [ep for ep in eps if ep.start <= r.timestamp <= ep.end]
        if not eps or any(a.start <= r.timestamp <= a.end for a in artifacts[r.patient_id]):
            continue
        vitals = set(engine.beyond_limits(r))
        for ep in eps:
            if vitals and (not ep.vitals or vitals & set(ep.vitals)):
                out[ep] = r.timestamp
    return out


def _most_raises(events: list[AlertEvent]) -> tuple[int, str, str]:
    """The most raises of one rule for one patient within any FLAP_WINDOW."""
    times: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for e in events:
        if e.kind == "raised":
            times[(e.rule, e.patient_id)].append(e.timestamp)
    best = (0, "", "")
    for (rule, pid), ts in times.items():
        j = 0
        for i, t in enumerate(ts):
            while t - ts[j] > FLAP_WINDOW:
                j += 1
            if i - j + 1 > best[0]:
                best = (i - j + 1, rule, pid)
    return best
