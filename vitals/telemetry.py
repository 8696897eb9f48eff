"""Telemetry lost: a technical alarm for a patient whose readings stopped arriving.

A bedside monitor unplugged, a transmitter out of range or a gateway down
sends nothing, so no rule on readings can notice it. Every central station
raises a technical alarm (an INOP in monitor terms) for lost telemetry; this is
that alarm for vitals, kept by the consumer that owns the patient's partition.

Contract (``TelemetryWatch``, pure logic; the consumer feeds it and the clock):
    * ``arrived(patient, at)``: a record of the patient arrived at Kafka at
      ``at`` (the record's CreateTime, UTC). Clears an active alarm only if created
      after the record the silence was measured from (``silent_since``): an old record
      re-read by a replay or by another consumer group ends no silence.
    * ``due(now, caught_up)``: patients whose last record is older than
      ``timeout`` seconds get one ``raised`` event; ``caught_up(patient)`` must
      say that no record of the patient's partition is waiting unread, so a
      consumer catching up on a backlog never raises it falsely.
    * Raised once, cleared once; across owners the consumer ``adopt``s the
      patient at the time it takes over (its grace period starts then: a
      reading's own time says nothing about when it arrived) and with its
      active alarm, if any, which is then not raised again.
    * Event times are the consumer's wall clock (UTC), never a reading's own
      time, so a clear is always later than its raise.

Priority: medium (IEC 60601-1-8 technical alarm condition; central stations show
lost telemetry as a medium-priority INOP: urgent to fix, not a patient event).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from vitals.rules import AlertEvent
from vitals.technical import TELEMETRY_LOST, is_technical

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "RETIRED_AFTER",
    "TELEMETRY_LOST",
    "TelemetryWatch",
    "is_technical",
    "message",
]

SEVERITY = "medium"
#: Default seconds without a record before the alarm: six missed readings of a monitor that
#: sends every 5 s, and longer than a Kafka leader election or a consumer rebalance (~10 s).
DEFAULT_TIMEOUT_S = 30.0
#: A new owner does not take over the watch of a patient whose newest stored reading is
#: older than this (discharged without an explicit end, a recording replayed long ago):
#: the census window of the boards. Its next reading starts the watch again.
RETIRED_AFTER = timedelta(hours=12)


def message(silent_s: float) -> str:
    """The alarm text: says it is technical and what to check."""
    return f"Telemetry lost: no reading for {silent_s:.0f} s; check the monitor (technical)"


@dataclass
class TelemetryWatch:
    """Last arrival and alarm state of the patients one consumer owns.

    ``timeout``: seconds (wall clock) without a record that raise the alarm;
    0 or less disables the watch (``due`` returns nothing).
    """

    timeout: float = DEFAULT_TIMEOUT_S
    _last: dict[str, datetime] = field(default_factory=dict)  # the silence is measured from
    _record: dict[str, datetime] = field(default_factory=dict)  # newest record time seen here
    _active: dict[str, AlertEvent] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.timeout > 0

    def arrived(self, patient_id: str, at: datetime, now: datetime) -> AlertEvent | None:
        """Record an arrival (``at``: record time, UTC); the ``cleared`` event if it was lost."""
        last = self._last.get(patient_id)
        if last is None or at > last:
            self._last[patient_id] = at
        seen = self._record.get(patient_id)
        if seen is None or at > seen:
            self._record[patient_id] = at
        raised = self._active.get(patient_id)
        if raised is None or at <= silent_since(raised):
            return None  # an old record (a replay, another group's re-read) ends no silence
        del self._active[patient_id]
        return raised.cleared(after(now, raised.timestamp), raised.value)

    def due(self, now: datetime, caught_up: Callable[[str], bool]) -> list[AlertEvent]:
        """``raised`` events for patients silent for longer than ``timeout`` seconds."""
        if not self.enabled:
            return []
        limit = now - timedelta(seconds=self.timeout)
        out = []
        for pid, last in self._last.items():
            if last < limit and pid not in self._active and caught_up(pid):
                silent = (now - last).total_seconds()
                e = AlertEvent(
                    pid, TELEMETRY_LOST, SEVERITY, "raised", now, silent, message(silent)
                )
                self._active[pid] = e
                out.append(e)
        return out

    def silent(self, now: datetime) -> list[str]:
        """Patients past the timeout with no alarm yet (candidates for ``due``)."""
        if not self.enabled:
            return []
        limit = now - timedelta(seconds=self.timeout)
        return [p for p, last in self._last.items() if last < limit and p not in self._active]

    def adopt(self, patient_id: str, now: datetime, active: AlertEvent | None) -> None:
        """Take over a patient from a previous owner at ``now`` (UTC), with its active alarm.

        A patient silent since before the take-over raises ``timeout`` seconds after it."""
        if patient_id not in self._last:
            self._last[patient_id] = now
        if active is not None:
            self._active.setdefault(patient_id, active)

    def end(self, patient_id: str, now: datetime, reason: str) -> AlertEvent | None:
        """Stop watching a patient (monitoring ended); the ``cleared`` event if it was lost."""
        self._last.pop(patient_id, None)
        self._record.pop(patient_id, None)
        raised = self._active.pop(patient_id, None)
        if raised is None:
            return None
        cleared = raised.cleared(after(now, raised.timestamp), raised.value)
        return replace(cleared, message=f"{cleared.message} ({reason})")

    def forget(self, patient_id: str) -> tuple:
        """The patient's partition was revoked; returns its state for ``reinstate``."""
        return (
            self._last.pop(patient_id, None),
            self._record.pop(patient_id, None),
            self._active.pop(patient_id, None),
        )

    def reinstate(self, patient_id: str, state: tuple) -> None:
        """Put back what ``forget`` returned: the partition came straight back to this owner
        (an eager rebalance revokes everything, then assigns), so the silence goes on."""
        last, record, active = state
        for store, value in ((self._last, last), (self._record, record), (self._active, active)):
            if value is not None:
                store[patient_id] = value

    def ended_by(self, patient_id: str, ended_at: datetime) -> bool:
        """True if an end of monitoring at ``ended_at`` (UTC) covers the newest record seen
        here (a record created after it means monitoring started again)."""
        seen = self._record.get(patient_id)
        return seen is None or ended_at >= seen

    def last(self, patient_id: str) -> datetime | None:
        """When the patient's newest record arrived (UTC), if watched."""
        return self._last.get(patient_id)

    def active(self, patient_id: str) -> AlertEvent | None:
        return self._active.get(patient_id)

    @property
    def watched(self) -> frozenset[str]:
        return frozenset(self._last)

    @property
    def lost(self) -> frozenset[str]:
        return frozenset(self._active)


def silent_since(raised: AlertEvent) -> datetime:
    """When the silence behind a telemetry-lost raise began: its newest record (or take-over)
    time, raise time minus the silence (``value``, seconds), plus 1 ms because the store keeps
    the raise time to the millisecond. Only a record created after it clears the alarm."""
    return raised.timestamp - timedelta(seconds=raised.value) + timedelta(milliseconds=1)


def after(now: datetime, raised: datetime) -> datetime:
    """``now``, or 1 ms after the raise if the clock says otherwise (a clear follows its raise)."""
    return now if now > raised else raised + timedelta(milliseconds=1)


def utcnow() -> datetime:
    return datetime.now(UTC)
