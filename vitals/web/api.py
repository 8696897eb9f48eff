"""The ``/api/`` routes. Plain ``def`` routes run in the server's thread pool (the Cassandra
driver is synchronous); the live stream is async and costs no thread per client."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from kafka.errors import KafkaError
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from vitals.errors import ConfigError, VitalsError
from vitals.queries import MAX_RANGE
from vitals.web.auth import LOCAL_USER
from vitals.web.models import (
    AckEvent,
    AckRequest,
    ActiveAlerts,
    AlertHistory,
    ApiIndex,
    EndMonitoringRequest,
    Health,
    MonitoringEnded,
    PatientAlert,
    PatientState,
    Placement,
    Problem,
    Readings,
    RegisterRequest,
    Trends,
    WardSummary,
)

log = logging.getLogger(__name__)

DEFAULT_RANGE = timedelta(hours=1)

router = APIRouter(
    prefix="/api",
    responses={
        400: {"model": Problem, "description": "Bad parameters; `detail` says which and why."},
        401: {"model": Problem, "description": "Auth is on and no valid credentials were given."},
        403: {"model": Problem, "description": "Your role may not do this (a viewer only reads)."},
        404: {"model": Problem, "description": "Unknown patient, alert or path."},
        503: {"model": Problem, "description": "Cassandra or Kafka cannot be reached."},
    },
)

PatientId = Annotated[
    str, Path(min_length=1, max_length=64, description="As sent by the monitor, e.g. P001.")
]
Prefix = Annotated[
    str, Query(max_length=64, description="Only patients whose id starts with this (a ward).")
]
WardName = Annotated[
    str,
    Query(
        max_length=64,
        description="Only the patients listed under this ward (GET /api/wards names them).",
    ),
]
Include = Annotated[
    Literal["census", "all"],
    Query(
        description="census: the patients monitored now (README, section 'Census'); all: "
        "also those whose monitoring ended or who fell silent for the census window."
    ),
]
TIME_FORMS = (
    "an ISO 8601 time with a time zone, such as 2026-11-25T23:30:00Z or "
    "2026-11-25T23:30:00%2B01:00 (a '+' must be sent as %2B in a URL)"
)
_SPACE_FOR_PLUS = re.compile(r"\d \d\d(:?\d\d)?$")  # '+01:00' decoded as ' 01:00'


def _parse_time(value: object) -> object:
    """A query's time, or a 400 that says which forms are accepted (before pydantic's
    own messages such as "input is too short" can reach the user)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if _SPACE_FOR_PLUS.search(text):
        fixed = text[: text.rindex(" ")] + "%2B" + text[text.rindex(" ") + 1 :]
        raise PydanticCustomError(
            "time_plus",
            "{value}: a '+' in a URL query arrives as a space; encode it as %2B "
            "({fixed}), or give the time in UTC with Z",
            {"value": repr(value), "fixed": fixed},
        )
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise PydanticCustomError(
            "time_form",
            "{value} is not a time; give " + TIME_FORMS + ". Durations such as 1h are "
            "not accepted here: leave start and end out for the last hour",
            {"value": repr(value)},
        ) from None


Start = Annotated[
    datetime | None,
    BeforeValidator(_parse_time),
    Query(description="ISO 8601 with a time zone, inclusive. Default: `end` minus 1 h."),
]
End = Annotated[
    datetime | None,
    BeforeValidator(_parse_time),
    Query(description="ISO 8601 with a time zone, exclusive. Default: now."),
]


def ctx(request: Request):  # -> vitals.web.app.WebContext (no import cycle)
    return request.app.state.ctx


def time_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    for name, value in (("start", start), ("end", end)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(
                400, f"{name}: {value.isoformat()} has no time zone; add one, e.g. Z or +01:00"
            )
    try:
        end = (end or datetime.now(UTC)).astimezone(UTC)
        start = (start or end - DEFAULT_RANGE).astimezone(UTC)
    except (OverflowError, ValueError) as e:
        raise HTTPException(400, f"start/end: out of range ({e})") from None
    if start >= end:
        raise HTTPException(
            400, f"start ({start.isoformat()}) must be before end ({end.isoformat()})"
        )
    if end - start > MAX_RANGE:
        raise HTTPException(
            400,
            f"range {start.isoformat()} .. {end.isoformat()} is longer than "
            f"{MAX_RANGE.days} days; ask for a shorter one",
        )
    return start, end


@router.get("/", response_model=ApiIndex, summary="Where the API is described, and its routes")
def index() -> ApiIndex:
    routes = [
        f"{method} {r.path}  {r.summary}"
        for r in router.routes
        if isinstance(r, APIRoute) and r.include_in_schema
        for method in sorted(r.methods or ())
    ]
    return ApiIndex(
        openapi="/api/openapi.json",
        docs="README.md, section 'API'; every route and field in /api/openapi.json",
        routes=routes,
    )


@router.get("/health", response_model=Health, summary="Is the server reading Cassandra?")
def health(request: Request) -> Health:
    c = ctx(request)
    return Health(
        status="degraded" if c.board.problem else "ok",
        auth=c.auth.mode,
        user=getattr(request.state, "user", None),
        role=getattr(request.state, "role", "clinician"),
        stale_after_s=c.settings.stale_after,
        last_poll=c.board.last_poll,
        census=len(c.board.order),
        poll_rows=c.board.poll_rows,
        poll_s=round(c.board.poll_s, 3),
        problem=c.board.problem,
    )


@router.get(
    "/patients",
    response_model=list[PatientState],
    summary="The patients monitored now (the census), sickest first, a page at a time",
)
def patients(
    request: Request,
    response: Response,
    prefix: Prefix = "",
    ward: WardName = "",
    include: Include = "census",
    limit: Annotated[int, Query(ge=1, le=5000, description="Patients per page.")] = 500,
    offset: Annotated[
        int, Query(ge=0, description="Patients to skip: the previous page's offset + limit.")
    ] = 0,
) -> list[dict]:
    """A page of the sickest-first list as it stands at the request (it reorders as patients
    change). ``X-Total-Count``: patients in the whole list; ``Link: <…>; rel="next"``: the
    next page, while there is one."""
    states = _states(request, prefix, ward, include)
    response.headers["X-Total-Count"] = str(len(states))
    if offset + limit < len(states):
        q = {"prefix": prefix, "ward": ward, "include": include}
        q = {k: v for k, v in q.items() if v and v != "census"}
        q.update(limit=str(limit), offset=str(offset + limit))
        response.headers["Link"] = f'<{request.url.path}?{urlencode(q)}>; rel="next"'
    return states[offset : offset + limit]


@router.get(
    "/wards",
    response_model=list[WardSummary],
    summary="The census by ward: patients, alerting, unacknowledged, stale",
)
def wards(request: Request, prefix: Prefix = "", include: Include = "census") -> list[dict]:
    """Wards from the patient register; a patient not placed is counted under its id's
    prefix before the digits, or ``unassigned`` (see README, section 'Census')."""
    from vitals.census import ward_list

    return ward_list(_states(request, prefix, "", include))


def _states(request: Request, prefix: str, ward: str, include: str) -> list[dict]:
    c = ctx(request)
    states = c.store.ward(
        now=datetime.now(UTC),
        stale_after=c.settings.stale_after,
        prefix=prefix,
        include_all=include == "all",
    )
    return [s for s in states if s["group"] == ward] if ward else states


@router.get("/patients/{patient_id}", response_model=PatientState, summary="One patient's state")
def patient(request: Request, patient_id: PatientId) -> dict:
    c = ctx(request)
    return c.store.patient(patient_id, now=datetime.now(UTC), stale_after=c.settings.stale_after)


@router.get(
    "/patients/{patient_id}/readings",
    response_model=Readings,
    summary="A patient's readings over a range (any number of UTC days), oldest first",
)
def readings(
    request: Request,
    patient_id: PatientId,
    start: Start = None,
    end: End = None,
    limit: Annotated[
        int, Query(ge=1, le=100_000, description="At most this many, the newest.")
    ] = 50_000,
) -> dict:
    start, end = time_range(start, end)
    store = ctx(request).store
    store.require_patient(patient_id)
    h = store.readings(patient_id, start, end, limit)
    return {
        "patient_id": patient_id,
        "start": start,
        "end": end,
        "count": len(h.rows),
        "truncated": h.truncated,
        "readings": h.rows,
    }


@router.get(
    "/patients/{patient_id}/alerts",
    response_model=AlertHistory,
    summary="A patient's alert events (raised, cleared, acknowledged) over a range",
)
def alert_history(
    request: Request,
    patient_id: PatientId,
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict:
    start, end = time_range(start, end)
    store = ctx(request).store
    store.require_patient(patient_id)
    h = store.alerts(patient_id, start, end, limit)
    return {
        "patient_id": patient_id,
        "start": start,
        "end": end,
        "count": len(h.rows),
        "truncated": h.truncated,
        "events": h.rows,
    }


@router.get("/alerts", response_model=ActiveAlerts, summary="Alerts active now, sickest first")
def active_alerts(request: Request, prefix: Prefix = "", ward: WardName = "") -> dict:
    states = _states(request, prefix, ward, "census")
    alerts = [PatientAlert(patient_id=s["patient_id"], **a) for s in states for a in s["alerts"]]
    return {"alerts": alerts}


@router.get("/trends", response_model=Trends, summary="Recent heart rate and SpO2 per patient")
def trends(
    request: Request,
    prefix: Prefix = "",
    minutes: Annotated[int, Query(ge=1, le=240)] = 15,
    points: Annotated[int, Query(ge=2, le=600)] = 120,
    patient: Annotated[
        list[str] | None,
        Query(description="Only these patients (repeat: ?patient=A&patient=B; at most 500)."),
    ] = None,
) -> dict:
    c = ctx(request)
    now = datetime.now(UTC)
    if patient:
        ids = [p for p in patient[:500] if p.startswith(prefix)]
    else:
        ids = [s["patient_id"] for s in _states(request, prefix, "", "census")]
    return {
        "minutes": minutes,
        "patients": c.store.trends(ids, now=now, minutes=minutes, points=points),
    }


@router.post(
    "/patients/{patient_id}/alerts/{rule}/ack",
    response_model=AckEvent,
    summary="Acknowledge an active alert: stored, and published on the alerts topic",
    responses={409: {"model": Problem, "description": "The alert was raised again since."}},
)
def acknowledge(
    request: Request,
    patient_id: PatientId,
    rule: Annotated[str, Path(min_length=1, max_length=100)],
    body: AckRequest | None = None,
) -> dict:
    c = ctx(request)
    body = body or AckRequest()
    user = getattr(request.state, "user", None)
    by = user if c.auth.enabled else (body.by or LOCAL_USER)
    event = c.store.acknowledge(
        patient_id,
        rule,
        raised_at=body.raised_at,
        by=by,
        comment=body.comment.strip(),
        now=datetime.now(UTC),
    )
    c.board.poll_now()
    payload = {
        **event,
        "timestamp": event["timestamp"].isoformat(),
        "raised_at": event["raised_at"].isoformat(),
    }
    try:
        c.producer().send(
            c.settings.alerts_topic,
            key=patient_id.encode(),
            value=json.dumps(payload).encode(),
        ).get(timeout=c.settings.kafka.request_timeout_s)
    except (KafkaError, VitalsError) as e:
        log.warning("acknowledgement of %s/%s stored but not published: %s", patient_id, rule, e)
        raise HTTPException(
            503,
            f"acknowledgement stored, but not published on {c.settings.alerts_topic}: "
            f"Kafka unavailable ({type(e).__name__}); try again",
        ) from None
    log.info("alert %s of %s acknowledged by %s", rule, patient_id, by)
    return event


@router.post(
    "/patients/{patient_id}/end-monitoring",
    response_model=MonitoringEnded,
    summary="End the monitoring of a patient: no telemetry-lost alarm, its alerts closed",
)
def end_monitoring(
    request: Request, patient_id: PatientId, body: EndMonitoringRequest | None = None
) -> dict:
    """Recorded like an acknowledgement (who, when, why) and published on the alerts topic;
    the consumer that owns the patient closes its active alerts within seconds."""
    from vitals.monitoring import end_monitoring as end
    from vitals.monitoring import event_json

    c = ctx(request)
    body = body or EndMonitoringRequest()
    c.store.require_patient(patient_id)
    user = getattr(request.state, "user", None)
    by = user if c.auth.enabled else (body.by or LOCAL_USER)
    event = end(c.store.session, patient_id, by=by, reason=body.reason.strip())
    c.board.leave(patient_id)  # stored: off every open board now, not after the next poll
    try:
        c.producer().send(
            c.settings.alerts_topic, key=patient_id.encode(), value=event_json(event)
        ).get(timeout=c.settings.kafka.request_timeout_s)
    except (KafkaError, VitalsError) as e:
        log.warning("end of monitoring of %s stored but not published: %s", patient_id, e)
        raise HTTPException(
            503,
            f"end of monitoring stored, but not published on {c.settings.alerts_topic}: "
            f"Kafka unavailable ({type(e).__name__}); try again",
        ) from None
    c.board.poll_now()
    log.info("monitoring of %s ended by %s", patient_id, by)
    return event


@router.put(
    "/patients/{patient_id}/register",
    response_model=Placement,
    summary="Place a patient: ward, bed, display name (only the fields given change)",
)
def register(request: Request, patient_id: PatientId, body: RegisterRequest) -> dict:
    c = ctx(request)
    user = getattr(request.state, "user", None) or LOCAL_USER
    fields = body.model_dump(exclude_unset=True)
    try:
        placed = c.store.register.set(patient_id, **fields, by=user)
    except ConfigError as e:
        raise HTTPException(400, str(e)) from None
    c.board.poll_now()
    log.info("patient %s placed by %s: %s", patient_id, user, placed.label())
    return {**placed.__dict__, "label": placed.label()}


@router.get("/stream", include_in_schema=False)
async def stream(
    request: Request, prefix: str = "", ward: str = "", include: Include = "census"
) -> StreamingResponse:
    """Server-Sent Events of the census (``include=all``: of every patient stored):
    ``snapshot`` then ``update`` events (see ``vitals.web.live``), of the patients whose id
    starts with ``prefix`` and who are listed under ``ward``, if given."""
    board = ctx(request).board
    board = board.everyone() if include == "all" else board
    return StreamingResponse(
        board.events(prefix[:64], ward[:64]),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
