"""``GET /api/fhir/Observation``: a patient's readings as a FHIR R4 ``searchset`` Bundle.

Search parameters (FHIR R4 Observation search, http://hl7.org/fhir/R4/observation.html#search):
``patient`` (``P001`` or ``Patient/P001``, required), ``date`` (repeatable, prefixes ``ge``
``gt`` ``le`` ``lt`` or none = that instant / that day; an ISO 8601 time with a zone or a
date in UTC; at most 31 days; default: the last 31 days), ``code`` (LOINC/SNOMED tokens, see
``vitals.fhir``), ``_count`` (Observations per page, 1–1000, default 100).

Newest readings first; a reading's Observations are never split across pages. The ``next``
link repeats the search with ``date=lt<time of the last reading on this page>``, so pages
stay exact while new readings arrive. Behind the same authentication as every other path
(``vitals.web.app.AuthMiddleware``). Errors are OperationOutcome resources, also for a
parameter missing or of the wrong type (``validation_outcome``, e.g. ``_count=0``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from vitals.errors import ConfigError
from vitals.fhir import bundle, kinds_for_codes, observations
from vitals.queries import MAX_RANGE
from vitals.web.data import NotFound
from vitals.web.models import Problem

FHIR_JSON = "application/fhir+json"
MS = timedelta(milliseconds=1)
_OUTCOME = {"schema": {"type": "object", "required": ["resourceType", "issue"]}}

router = APIRouter(
    prefix="/api/fhir",
    tags=["FHIR"],
    responses={
        400: {
            "description": "Bad search parameters: an OperationOutcome says which and why.",
            "content": {FHIR_JSON: _OUTCOME},
        },
        401: {"model": Problem, "description": "Auth is on and no valid credentials were given."},
        404: {
            "description": "Unknown patient (OperationOutcome).",
            "content": {FHIR_JSON: _OUTCOME},
        },
        503: {"model": Problem, "description": "Cassandra cannot be reached."},
    },
)


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


class BadSearch(ValueError):
    pass


@router.get(
    "/Observation",
    summary="FHIR R4 searchset Bundle of vital-signs Observations (LOINC, UCUM), newest first",
    response_class=FhirResponse,
    responses={
        200: {
            "description": "A searchset Bundle.",
            "content": {FHIR_JSON: {"schema": {"type": "object"}}},
        }
    },
)
def search_observations(
    request: Request,
    patient: Annotated[str, Query(min_length=1, max_length=72, description="P001 or Patient/P001")],
    date_: Annotated[
        list[str] | None,
        Query(alias="date", description="ge/gt/le/lt + ISO 8601 time with zone, repeatable"),
    ] = None,
    code: Annotated[
        list[str] | None, Query(description="e.g. 8867-4 or http://loinc.org|8867-4")
    ] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=1000)] = 100,
) -> FhirResponse:
    patient_id = patient.removeprefix("Patient/")
    try:
        start, end = date_range(date_ or [], now=datetime.now(UTC))
        kinds = kinds_for_codes(code) if code else None
    except (BadSearch, ConfigError) as e:
        return _outcome(400, "invalid", str(e))
    store = request.app.state.ctx.store
    try:
        store.require_patient(patient_id)
    except NotFound as e:
        return _outcome(404, "not-found", str(e))
    entries, cursor = _page(store, patient_id, start, end, kinds, count)
    base = f"{str(request.base_url).rstrip('/')}/api/fhir/"
    next_url = None
    if cursor is not None:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "date"]
        params += [("date", f"ge{_text(start)}"), ("date", f"lt{_text(cursor)}")]
        next_url = f"{base}Observation?{urlencode(params)}"
    body = bundle(entries, self_url=str(request.url), next_url=next_url)
    return FhirResponse(body)


def _page(store, patient_id: str, start: datetime, end: datetime, kinds, count: int):
    """Up to ``count`` Observations, newest reading first; the cursor for the next page
    (time of the last reading included) or None when the range is exhausted."""
    entries: list[dict] = []
    upper = end
    while True:
        history = store.readings(patient_id, start, upper, count)
        for row in reversed(history.rows):  # newest first
            obs = observations(patient_id, row, kinds)
            if entries and len(entries) + len(obs) > count:
                return entries, upper
            entries += obs
            upper = row["timestamp"]
        if not history.truncated:
            return entries, None


def date_range(values: list[str], *, now: datetime) -> tuple[datetime, datetime]:
    """FHIR ``date`` search values → ``[start, end)`` in UTC; ``BadSearch`` saying why not."""
    start: datetime | None = None
    end: datetime | None = None
    for value in values:
        prefix, text = (
            (value[:2], value[2:]) if value[:2] in ("ge", "gt", "le", "lt", "eq") else ("eq", value)
        )
        low, high = _instant_or_day(text)
        if prefix in ("ge", "eq"):
            start = max(start, low) if start else low
        if prefix == "gt":
            start = max(start, high) if start else high
        if prefix in ("lt",):
            end = min(end, low) if end else low
        if prefix in ("le", "eq"):
            end = min(end, high) if end else high
    end = end or now
    start = start or end - MAX_RANGE
    if start >= end:
        raise BadSearch(f"date: the range {_text(start)} .. {_text(end)} is empty")
    if end - start > MAX_RANGE:
        raise BadSearch(f"date: at most {MAX_RANGE.days} days per search; narrow it with ge/lt")
    return start, end


def _instant_or_day(text: str) -> tuple[datetime, datetime]:
    """``(first, after last)`` instant the value covers: a day → that UTC day, a time → 1 ms."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            low = datetime(d.year, d.month, d.day, tzinfo=UTC)
            return low, low + timedelta(days=1)
        t = datetime.fromisoformat(text.replace(" ", "+"))  # '+' arrives as ' ' if unencoded
    except ValueError:
        raise BadSearch(
            f"date: {text!r} is not a date (2026-11-29) or a time with a zone "
            "(2026-11-29T08:00:00Z); prefixes: ge, gt, le, lt"
        ) from None
    if t.tzinfo is None:
        raise BadSearch(f"date: {text!r} has no time zone; add Z or an offset such as +01:00")
    t = t.astimezone(UTC)
    return t, t + MS


def _text(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def validation_outcome(errors: list[dict]) -> FhirResponse:
    """400 OperationOutcome for search parameters FastAPI refused before the search ran
    (``RequestValidationError.errors()``): one issue per parameter, ``required`` when it is
    missing, else ``invalid`` (FHIR R4 IssueType), diagnostics naming the parameter."""
    issues = []
    for err in errors:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "query") or "request"
        missing = err.get("type") == "missing"
        text = f"{where}: required; e.g. patient=P001" if missing else f"{where}: {err.get('msg')}"
        issue = {"severity": "error", "code": "required" if missing else "invalid"}
        issues.append({**issue, "diagnostics": text, "expression": [where]})
    body = {"resourceType": "OperationOutcome", "issue": issues or [_INVALID]}
    return FhirResponse(body, status_code=400)


_INVALID = {"severity": "error", "code": "invalid", "diagnostics": "invalid request"}


def _outcome(status: int, code: str, text: str) -> FhirResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }
    return FhirResponse(body, status_code=status)
