"""The JSON shapes of the API (and of the live events): pydantic models, hence the OpenAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Severity = Literal["high", "medium", "low"]


class Problem(BaseModel):
    detail: str = Field(description="What was wrong and how to fix it.")


class Reading(BaseModel):
    timestamp: datetime
    heart_rate: int | None = None
    spo2: int | None = None
    systolic: int | None = None
    diastolic: int | None = None
    respiratory_rate: int | None = None
    temperature: float | None = None
    news2: int | None = None


class Measured(BaseModel):
    """When a vital (NEWS2 parameter) shown in the newest reading was measured."""

    measured_at: datetime = Field(
        description="When it was measured (UTC); its age is the time now minus this."
    )
    window_s: float = Field(description="Its NEWS2 freshness window, seconds.")
    stale: bool = Field(
        description="Not a current value: older than its window, or dated ahead of the "
        "server's clock by more than 30 s (vitals.freshness.CLOCK_SKEW)."
    )
    clock_ahead: bool = Field(
        False,
        description="Dated ahead of the server's clock by more than 30 s: the device's "
        "clock or time zone is wrong and the value's age is unknown (then stale too).",
    )


class LatestReading(Reading):
    consciousness: str | None = None
    on_oxygen: bool | None = None
    news2_incomplete: list[str] = Field(
        default_factory=list,
        description="NEWS2 parameters with no fresh value at the newest reading (its score is "
        "incomplete and `news2` is null). Empty: complete.",
    )
    measured: dict[str, Measured] = Field(
        default_factory=dict,
        description="Per NEWS2 parameter (heart_rate, spo2, blood_pressure, respiratory_rate, "
        "temperature): when its value shown was measured; absent if never measured.",
    )


class Acknowledgement(BaseModel):
    by: str
    at: datetime | None = None
    comment: str | None = None


class ActiveAlert(BaseModel):
    rule: str
    severity: str | None = None
    message: str | None = None
    value: float | None = None
    raised_at: datetime | None = None
    acknowledged: Acknowledgement | None = Field(
        None, description="Set while this raise is acknowledged; a new raise starts unset."
    )


class PatientState(BaseModel):
    patient_id: str
    latest: LatestReading | None
    alerts: list[ActiveAlert]
    severity: str | None = Field(description="The worst active alert's severity, if any.")
    unacknowledged: int
    stale: bool = Field(
        description="No reading for longer than the server's --stale-after, or the newest "
        "reading is dated ahead of the server's clock (clock_ahead)."
    )
    clock_ahead: bool = Field(
        False,
        description="The newest reading is dated more than 30 s ahead of the server's "
        "clock (a device clock or time zone is wrong).",
    )
    ward: str | None = Field(None, description="From the patient register, if placed.")
    bed: str | None = Field(None, description="From the patient register, if placed.")
    name: str | None = Field(None, description="Display name from the patient register.")
    group: str = Field(
        "",
        description="The ward it is listed under: its ward, else its id's prefix, else unassigned.",
    )


class WardSummary(BaseModel):
    """One ward of the census (GET /api/wards)."""

    ward: str = Field(
        description="Register ward, else the id prefix before the digits, else unassigned."
    )
    patients: int
    alerting: int = Field(description="Patients with an active alert.")
    unacknowledged: int = Field(description="Patients with an active alert nobody acknowledged.")
    stale: int = Field(description="Patients without a reading for longer than --stale-after.")


class RegisterRequest(BaseModel):
    """Fields to set in the patient register; an absent field stays, "" clears it."""

    model_config = ConfigDict(extra="forbid")
    ward: str | None = Field(None, max_length=64, examples=["Ward 7"])
    bed: str | None = Field(None, max_length=64, examples=["7"])
    name: str | None = Field(None, max_length=64, examples=["J. Smith"])


class Placement(BaseModel):
    """A patient's entry in the register after the change."""

    patient_id: str
    ward: str | None
    bed: str | None
    name: str | None
    label: str = Field(description="`Ward 7 · Bed 7 · J. Smith`, as the boards show it.")


class PatientAlert(ActiveAlert):
    patient_id: str


class ActiveAlerts(BaseModel):
    alerts: list[PatientAlert]


class Readings(BaseModel):
    patient_id: str
    start: datetime
    end: datetime
    count: int
    truncated: bool = Field(description="True when `limit` cut off the oldest readings.")
    readings: list[Reading] = Field(description="Oldest first.")


class AlertEvent(BaseModel):
    timestamp: datetime
    rule: str
    kind: str = Field(description="raised | cleared | acknowledged")
    severity: str | None = None
    message: str | None = None
    value: float | None = None
    raised_at: datetime | None = None


class AlertHistory(BaseModel):
    patient_id: str
    start: datetime
    end: datetime
    count: int
    truncated: bool
    events: list[AlertEvent] = Field(description="Oldest first.")


class Trend(BaseModel):
    t: list[int] = Field(description="Reading times, milliseconds since the epoch.")
    heart_rate: list[int | None]
    spo2: list[int | None]


class Trends(BaseModel):
    minutes: int
    patients: dict[str, Trend]


class EndMonitoringRequest(BaseModel):
    """End the monitoring of a patient on purpose (discharge, transfer, monitor removed)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=200, description="Why, e.g. 'discharged' (recorded).")
    by: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Who (only when auth is off; with auth the signed-in user is recorded).",
    )


class MonitoringEnded(BaseModel):
    patient_id: str
    rule: Literal["monitoring"]
    kind: Literal["ended"]
    message: str
    timestamp: str = Field(description="When monitoring ended (UTC, ISO 8601).")
    by: str
    reason: str | None


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    raised_at: AwareDatetime | None = Field(
        None,
        description="The raise being acknowledged (from the active alert); if it was "
        "raised again since, the request fails with 409. Default: the current raise.",
    )
    comment: str = Field("", max_length=500)
    by: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Who acknowledges, used only when the server runs without auth "
        "(default 'local'); with auth the authenticated user is recorded.",
    )


class AckEvent(BaseModel):
    patient_id: str
    rule: str
    kind: Literal["acknowledged"]
    severity: str | None
    message: str
    value: float | None
    timestamp: datetime
    raised_at: datetime
    by: str
    comment: str | None


class ApiIndex(BaseModel):
    """What ``GET /api/`` answers: where the API is described."""

    openapi: str = Field(description="Path of the OpenAPI document.")
    docs: str
    routes: list[str] = Field(description="`METHOD /path  summary`, one per route.")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    auth: str = Field(description="off | users | token | users+token")
    user: str | None = Field(description="Who you are authenticated as (None: auth off).")
    role: str = Field(
        "clinician", description="viewer (read only) | clinician (may also act on alarms)."
    )
    stale_after_s: float
    last_poll: datetime | None = Field(description="When the live board last read Cassandra.")
    census: int = Field(0, description="Patients monitored now (on the live board).")
    poll_rows: int = Field(0, description="Rows the live board's last read fetched.")
    poll_s: float = Field(0.0, description="Seconds the live board's last poll took.")
    problem: str | None = None
