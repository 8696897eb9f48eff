"""The census: who is being monitored now. One read, shared by every board.

A patient **enters** the census with its first reading, or with a reading newer than the end
of its monitoring, and **leaves** it when

- its monitoring is ended on purpose (``vitals monitoring end``, POST
  /api/patients/{id}/end-monitoring: ``monitoring_ended.ended_at`` is newer than its newest
  reading), or
- no reading of it has arrived for the census window (default ``CENSUS_WINDOW``, 12 h, the
  same time after which a consumer stops watching a silent patient: ``vitals.telemetry``).

A patient who left stays queryable (``vitals query``, the history routes) and is shown again
by the boards asked for everyone (``include_all``: ``vitals watch --all``,
``/api/patients?include=all``).

The read (``Census.read``) costs rows in proportion to the census, not to every patient ever
seen: the newest rows come from ``patient_latest`` through its storage-attached index on
``timestamp`` (``WHERE timestamp >= now - window``, cql/011_census.cql), the ends of
monitoring likewise through ``monitoring_ended.ended_at``, and the active alerts,
acknowledgements and placements of those patients by key (``IN`` lists of ``IN_CHUNK``
ids, read concurrently). Only ``include_all`` reads whole tables.

The shared reading of rows (``utc``, ``SEVERITY_RANK``) lives in ``vitals.queries``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent

from vitals.errors import ConfigError
from vitals.queries import MEASURED, parse_duration, utc
from vitals.register import Placement
from vitals.telemetry import RETIRED_AFTER

#: How long a silent patient stays on the boards (``--census-window``,
#: ``VITALS_CENSUS_WINDOW``): one default with the consumer's telemetry watch.
CENSUS_WINDOW = RETIRED_AFTER
CENSUS_WINDOW_ENV = "VITALS_CENSUS_WINDOW"
#: Patient ids per ``IN`` read of the by-key tables (a few dozen partitions per request).
IN_CHUNK = 100

LATEST_COLUMNS = (
    "patient_id, timestamp, heart_rate, spo2, systolic, diastolic, respiratory_rate, "
    "temperature, consciousness, on_oxygen, news2, news2_incomplete, bp_measured_at, "
    "WRITETIME(bp_measured_at), " + ", ".join(f"WRITETIME({c})" for c in MEASURED.values())
)
ACTIVE_COLUMNS = "patient_id, rule, severity, message, value, raised_at"
ACK_COLUMNS = "patient_id, rule, raised_at, acked_by, acked_at, comment"
_PLACE_COLUMNS = "patient_id, ward, bed, name"


def window_from(text: str | None) -> timedelta:
    """A census window from its text (``12h``, ``90m``, ``2d``; ``VITALS_CENSUS_WINDOW`` when
    ``text`` is None, else ``CENSUS_WINDOW``). Raises ``ConfigError`` for anything else or a
    window shorter than a second."""
    text = os.environ.get(CENSUS_WINDOW_ENV) if text is None else text
    if not text:
        return CENSUS_WINDOW
    window = parse_duration(text)
    if window < timedelta(seconds=1):
        raise ConfigError(f"census window {text!r} is shorter than 1 s; give e.g. 12h or 30m")
    return window


def in_census(
    last_reading: datetime | None,
    ended_at: datetime | None,
    *,
    now: datetime,
    window: timedelta,
) -> bool:
    """Whether a patient is monitored now: a reading within ``window`` before ``now`` (UTC)
    and no end of monitoring after that reading (an end at the reading's very millisecond
    ends it too: it was ended with that reading on screen)."""
    last, ended = utc(last_reading), utc(ended_at)
    if last is None or last < now - window:
        return False
    return ended is None or ended < last


@dataclass
class CensusRows:
    """What the boards are built from: rows of ``patient_latest`` (``latest``),
    ``active_alerts`` (``active``) and ``alert_acks`` (``acks``) as the driver returns them,
    placements by patient id, and how many rows the read fetched (``rows_read``)."""

    latest: list = field(default_factory=list)
    active: list = field(default_factory=list)
    acks: list = field(default_factory=list)
    placements: dict[str, Placement] = field(default_factory=dict)
    rows_read: int = 0


class Census:
    """The census read (prepared statements; construct once per session).

    ``window`` is the census window (default ``CENSUS_WINDOW``). Raises ``ConfigError``
    (run ``vitals init``) on a keyspace without the census indexes; the driver's errors of
    a read propagate (the live board keeps its last state and retries).
    """

    def __init__(self, session: Session, *, window: timedelta = CENSUS_WINDOW) -> None:
        self.session = session
        self.window = window
        p = session.prepare
        try:
            self._latest_since = p(
                f"SELECT {LATEST_COLUMNS} FROM patient_latest WHERE timestamp >= ?"
            )
            self._ended_since = p(
                "SELECT patient_id, ended_at FROM monitoring_ended WHERE ended_at >= ?"
            )
        except InvalidRequest:  # a keyspace made before cql/011_census.cql
            raise ConfigError(
                f"keyspace {session.keyspace!r} lacks the census indexes of this version "
                "(cql/011_census.cql); run `vitals init` (it only adds what is missing)"
            ) from None
        self._latest_all = p(f"SELECT {LATEST_COLUMNS} FROM patient_latest")
        self._active_all = p(f"SELECT {ACTIVE_COLUMNS} FROM active_alerts")
        self._acks_all = p(f"SELECT {ACK_COLUMNS} FROM alert_acks")
        self._active_in = p(f"SELECT {ACTIVE_COLUMNS} FROM active_alerts WHERE patient_id IN ?")
        self._acks_in = p(f"SELECT {ACK_COLUMNS} FROM alert_acks WHERE patient_id IN ?")
        try:
            self._place_all = p(f"SELECT {_PLACE_COLUMNS} FROM patient_register")
            self._place_in = p(
                f"SELECT {_PLACE_COLUMNS} FROM patient_register WHERE patient_id IN ?"
            )
        except InvalidRequest:  # a keyspace made before the register (vitals.register)
            self._place_all = self._place_in = None

    def read(self, *, now: datetime, prefix: str = "", include_all: bool = False) -> CensusRows:
        """The rows of the patients in the census at ``now`` (UTC) whose id starts with
        ``prefix``; with ``include_all``, of every patient stored (whole-table reads)."""
        if include_all:
            return self._everyone(prefix)
        since = now - self.window
        f_latest = self.session.execute_async(self._latest_since, (since,))
        f_ended = self.session.execute_async(self._ended_since, (since,))
        latest = list(f_latest.result())
        ended_rows = list(f_ended.result())
        ended = {r.patient_id: r.ended_at for r in ended_rows}
        kept = [
            r
            for r in latest
            if r.patient_id.startswith(prefix)
            and in_census(r.timestamp, ended.get(r.patient_id), now=now, window=self.window)
        ]
        ids = [r.patient_id for r in kept]
        active, acks, places = self._by_key((self._active_in, self._acks_in, self._place_in), ids)
        return CensusRows(
            latest=kept,
            active=active,
            acks=acks,
            placements=_placements(places),
            rows_read=len(latest) + len(ended_rows) + len(active) + len(acks) + len(places),
        )

    def _everyone(self, prefix: str) -> CensusRows:
        stmts = (self._latest_all, self._active_all, self._acks_all, self._place_all)
        futures = [self.session.execute_async(s) if s is not None else None for s in stmts]
        latest, active, acks, places = (list(f.result()) if f else [] for f in futures)
        mine = [
            [r for r in rows if r.patient_id.startswith(prefix)]
            for rows in (latest, active, acks, places)
        ]
        return CensusRows(
            latest=mine[0],
            active=mine[1],
            acks=mine[2],
            placements=_placements(mine[3]),
            rows_read=sum(len(rows) for rows in (latest, active, acks, places)),
        )

    def _by_key(self, statements: Sequence[object], ids: Sequence[str]) -> list[list]:
        """Per statement (``WHERE patient_id IN ?``), the rows of ``ids``: every chunk of
        ``IN_CHUNK`` ids of every statement read concurrently (at most 32 in flight)."""
        chunks = [list(ids[i : i + IN_CHUNK]) for i in range(0, len(ids), IN_CHUNK)]
        work = [(n, (stmt, (c,))) for n, stmt in enumerate(statements) if stmt for c in chunks]
        out: list[list] = [[] for _ in statements]
        results = execute_concurrent(self.session, [w for _, w in work], concurrency=32)
        for (n, _), (ok, rows) in zip(work, results, strict=True):
            if not ok:
                raise rows
            out[n].extend(rows)
        return out


def _placements(rows: Iterable) -> dict[str, Placement]:
    return {r.patient_id: Placement(r.patient_id, r.ward, r.bed, r.name) for r in rows}


UNASSIGNED = "unassigned"
_ID_PREFIX = re.compile(r"\D+")


def group_of(patient_id: str, ward: str | None) -> str:
    """The ward a patient is listed under on the boards: its ward in the register (``vitals
    patient set``); else its id's characters before the first digit (``ICU-`` of ``ICU-07``,
    ``P`` of ``P0012``); else ``unassigned`` (no placement, no digits to cut at)."""
    if ward:
        return ward
    m = _ID_PREFIX.match(patient_id)
    return m.group(0) if m and m.end() < len(patient_id) else UNASSIGNED


def ward_list(states: Iterable[dict]) -> list[dict]:
    """Per ward (``group`` of each patient state, see ``group_of``): ``{ward, patients,
    alerting, unacknowledged, stale}`` where ``alerting`` counts patients with an active alert
    and ``unacknowledged`` those with one nobody acknowledged yet. Wards with unacknowledged
    alerts first (most first), then by name."""
    wards: dict[str, dict] = {}
    for s in states:
        name = s.get("group") or group_of(s["patient_id"], s.get("ward"))
        w = wards.setdefault(
            name, {"ward": name, "patients": 0, "alerting": 0, "unacknowledged": 0, "stale": 0}
        )
        w["patients"] += 1
        w["alerting"] += bool(s["alerts"])
        w["unacknowledged"] += bool(s["unacknowledged"])
        w["stale"] += bool(s["stale"])
    return sorted(wards.values(), key=lambda w: (-w["unacknowledged"], w["ward"]))
