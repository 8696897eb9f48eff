"""Alarm audio paused: the ``/api/audio/`` routes and their table.

IEC 60601-1-8 (medical electrical equipment, alarm systems) lets an operator inactivate
the alarm *sound* for a set time ("AUDIO PAUSED") while the alarm signals stay on
screen. A central station does it for its ward: the ward page's "pause audio 2:00"
posts here, every pause and resume is stored (who, when, until when) in
``alarm_audio_pauses`` (cql/005_audio_pauses.cql), and every board of the same ward
reads the current pause. A pause covers the alarms on the board when it began: an alarm
raised (or escalated) later sounds at once (the page decides, see static/alarm.js).

Times are UTC; ``remaining_s`` is seconds from the server's now, so that a page counts
down on its own clock whatever the skew between the two clocks.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from cassandra import InvalidRequest
from cassandra.cluster import Session
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from vitals.web.auth import LOCAL_USER

log = logging.getLogger(__name__)

DEFAULT_PAUSE_S = 120  # "audio paused 2:00", the usual setting of a central station
MAX_PAUSE_S = 600

router = APIRouter(prefix="/api/audio")

Station = Annotated[
    str,
    Query(max_length=64, description="The ward: the patient-id prefix the board shows."),
]


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station: str = Field("", max_length=64, description="The ward (patient-id prefix).")
    seconds: int = Field(DEFAULT_PAUSE_S, ge=1, le=MAX_PAUSE_S, description="How long, s.")
    by: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Who pauses, used only when the server runs without auth "
        "(default 'local'); with auth the authenticated user is recorded.",
    )


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station: str = Field("", max_length=64)
    by: str | None = Field(None, min_length=1, max_length=64)


class AudioPause(BaseModel):
    station: str
    action: Literal["paused", "resumed"]
    paused_at: datetime = Field(description="When the sound was paused (or resumed), UTC.")
    until: datetime = Field(description="When the sound comes back, UTC.")
    by: str
    remaining_s: float = Field(description="Seconds from the server's now until `until`.")


class AudioState(BaseModel):
    station: str
    pause: AudioPause | None = Field(description="The pause in force now, if any.")


class AudioPauses:
    """The ``alarm_audio_pauses`` table. Statements are prepared on first use, so a
    server started before ``vitals init`` created the table says so per request."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._insert = None
        self._latest = None

    def _prepare(self) -> None:
        with self._lock:
            if self._insert is not None:
                return
            try:
                self._latest = self.session.prepare(
                    "SELECT station, paused_at, until, paused_by, action "
                    "FROM alarm_audio_pauses WHERE station = ? LIMIT 1"
                )
                self._insert = self.session.prepare(
                    "INSERT INTO alarm_audio_pauses (station, paused_at, until, paused_by, "
                    "action) VALUES (?, ?, ?, ?, ?)"
                )
            except InvalidRequest as e:
                raise HTTPException(
                    503,
                    "table alarm_audio_pauses is missing from keyspace "
                    f"{self.session.keyspace}: run `vitals init` ({e})",
                ) from None

    def record(self, station: str, action: str, by: str, *, now: datetime, seconds: float) -> dict:
        """Store one pause (``seconds`` > 0) or resume (0); returns it as an AudioPause."""
        self._prepare()
        now = _ms(now)
        until = now + timedelta(seconds=seconds)
        self.session.execute(self._insert, (_key(station), now, until, by, action))
        return _pause(station, now, until, by, action, now)

    def ever_paused(self, station: str) -> bool:
        """Whether ``station`` has any pause (or resume) stored: a resume of a station never
        paused is a mistake (a misspelt ward), not a resume."""
        self._prepare()
        return self.session.execute(self._latest, (_key(station),)).one() is not None

    def current(self, station: str, *, now: datetime) -> dict | None:
        """The pause in force at ``now`` (the newest row, if it is a pause not yet over)."""
        self._prepare()
        row = self.session.execute(self._latest, (_key(station),)).one()
        if row is None:
            return None
        until = row.until.replace(tzinfo=UTC)
        if row.action != "paused" or until <= now:
            return None
        return _pause(
            station, row.paused_at.replace(tzinfo=UTC), until, row.paused_by, row.action, now
        )


def _key(station: str) -> str:
    """The partition key of a station: never empty (Cassandra refuses an empty key)."""
    return f"ward:{station}"


def _ms(ts: datetime) -> datetime:
    """Cassandra keeps milliseconds: round now so the answer equals what is stored."""
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def _pause(
    station: str, at: datetime, until: datetime, by: str, action: str, now: datetime
) -> dict:
    return {
        "station": station,
        "action": action,
        "paused_at": at,
        "until": until,
        "by": by,
        "remaining_s": max(0.0, (until - now).total_seconds()),
    }


def pauses(request: Request) -> AudioPauses:
    state = request.app.state
    if getattr(state, "audio_pauses", None) is None:
        state.audio_pauses = AudioPauses(state.ctx.store.session)
    return state.audio_pauses


def _who(request: Request, given: str | None) -> str:
    ctx = request.app.state.ctx
    if ctx.auth.enabled:
        return getattr(request.state, "user", None) or LOCAL_USER
    return given or LOCAL_USER


@router.get("/pause", response_model=AudioState, summary="Is the alarm sound of a ward paused?")
def current_pause(request: Request, station: Station = "") -> dict:
    return {"station": station, "pause": pauses(request).current(station, now=datetime.now(UTC))}


@router.post(
    "/pause",
    response_model=AudioPause,
    summary="Pause the alarm sound of a ward for a while (IEC 60601-1-8 audio paused)",
)
def pause(request: Request, body: PauseRequest | None = None) -> dict:
    body = body or PauseRequest()
    by = _who(request, body.by)
    event = pauses(request).record(
        body.station, "paused", by, now=datetime.now(UTC), seconds=body.seconds
    )
    log.info("alarm audio of station %r paused for %d s by %s", body.station, body.seconds, by)
    return event


@router.post(
    "/resume",
    response_model=AudioPause,
    summary="End a pause of the alarm sound",
    responses={404: {"description": "The station's alarm audio was never paused."}},
)
def resume(request: Request, body: ResumeRequest | None = None) -> dict:
    """Idempotent for a station that was ever paused (a second resume answers the same);
    404 for one that never was, so a misspelt ward is not answered "resumed"."""
    body = body or ResumeRequest()
    if not pauses(request).ever_paused(body.station):
        raise HTTPException(
            404,
            f"the alarm audio of station {body.station!r} was never paused: nothing to resume "
            "(is the ward spelt as the board shows it?)",
        )
    by = _who(request, body.by)
    event = pauses(request).record(body.station, "resumed", by, now=datetime.now(UTC), seconds=0)
    log.info("alarm audio of station %r resumed by %s", body.station, by)
    return event
