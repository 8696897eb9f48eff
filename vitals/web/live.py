"""The live board: one poller per server, fanned out to every open page as Server-Sent Events.

A thread reads the census (the patients monitored now: ``vitals.census``, through
``data.WardStore.ward``; its cost follows the census, not every patient ever seen) every
``interval`` seconds, or at once after an acknowledgement, and sends each subscriber
the patients whose state changed. Every open page costs one queue, not one query:
50 boards poll Cassandra as often as one.

Events (``text/event-stream``, ``data:`` is JSON):
- ``snapshot``: ``{"server_time", "patients": [PatientState…]}`` (sickest first) on connect
- ``update``: ``{"server_time", "patients": [changed…], "removed": [ids], "order": [ids]}``
- a ``: keep-alive`` comment every 15 s
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from vitals.web.data import WardStore
from vitals.web.models import PatientState

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
QUEUE_MAX = 100  # updates a slow client may lag behind before it is dropped


def _now() -> datetime:
    return datetime.now(UTC)


class Board:
    def __init__(
        self,
        store: WardStore,
        *,
        interval: float = 1.0,
        stale_after: float = 30.0,
        clock: Callable[[], datetime] = _now,
        include_all: bool = False,
    ) -> None:
        self.store = store
        self.include_all = include_all  # every patient stored, not the census (see everyone)
        self._everyone: Board | None = None
        self.interval = interval
        self.stale_after = stale_after
        self.clock = clock
        self.states: dict[str, dict] = {}  # patient_id -> PatientState as JSON-ready dict
        self.order: list[str] = []
        self.last_poll: datetime | None = None
        self.poll_rows = 0  # rows the last poll read (its cost follows the census)
        self.poll_s = 0.0  # seconds the last poll took: read, states, diff
        self._left: dict[str, datetime] = {}  # removed by leave(): patient_id -> when
        self.problem: str | None = None
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vitals-board", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        with self._lock:
            subs = list(self._subscribers)
        for loop, q in subs:
            loop.call_soon_threadsafe(_offer, q, None)
        if self._everyone is not None:
            self._everyone.stop()

    def everyone(self) -> Board:
        """The board of every patient stored, the census and those who left it (``?include=all``
        on the stream), made and started at its first use. It reads whole tables, so its cost
        grows with every patient ever seen: it reads only while a page watches it."""
        with self._lock:
            if self._everyone is None:
                self._everyone = Board(
                    self.store,
                    interval=self.interval,
                    stale_after=self.stale_after,
                    clock=self.clock,
                    include_all=True,
                )
                self._everyone.start()
            return self._everyone

    def poll_now(self) -> None:
        self._wake.set()
        if self._everyone is not None:
            self._everyone.poll_now()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.include_all and not self._subscribers:  # nobody watches everyone: idle
                self._wake.wait(self.interval)
                self._wake.clear()
                continue
            try:
                self.poll()
            except Exception as e:  # Cassandra down: keep the last board, say so, retry
                first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
                if self.problem is None:
                    log.warning("live board: cannot read Cassandra (%s); retrying", first)
                self.problem = f"cannot read Cassandra: {first}"
            self._wake.wait(self.interval)
            self._wake.clear()

    # polling --------------------------------------------------------------------------------

    def poll(self) -> None:
        started = time.perf_counter()
        now = self.clock()
        states = self.store.ward(
            now=now, stale_after=self.stale_after, include_all=self.include_all
        )
        with self._lock:  # a poll that read before a leave() does not bring the patient back
            late = {p for p, at in self._left.items() if now < at}
            self._left = {p: at for p, at in self._left.items() if p in late}
        states = [s for s in states if s["patient_id"] not in late]
        fresh = {
            s["patient_id"]: PatientState.model_validate(s).model_dump(mode="json") for s in states
        }
        order = [s["patient_id"] for s in states]
        changed = [fresh[p] for p in order if self.states.get(p) != fresh[p]]
        removed = [p for p in self.states if p not in fresh]
        with self._lock:
            self.states, self.last_poll, self.problem = fresh, now, None
            self.poll_rows = self.store.rows_read
            self.poll_s = time.perf_counter() - started
            order_changed = order != self.order
            self.order = order
            subs = list(self._subscribers)
        if changed or removed or order_changed:
            event = _event(
                "update",
                {
                    "server_time": now.isoformat(),
                    "patients": changed,
                    "removed": removed,
                    "order": order,
                },
            )
            for loop, q in subs:
                loop.call_soon_threadsafe(_offer, q, event)

    def leave(self, patient_id: str) -> None:
        """Take a patient off this board at once and tell every page (its monitoring was just
        ended): not after the next poll, whose cost grows with the census. A poll that read
        the tables before this call does not bring it back; the polls after it agree (the
        census excludes it). The board of everyone keeps it."""
        with self._lock:
            self._left[patient_id] = self.clock()
            if patient_id not in self.states:
                return
            self.states = {p: s for p, s in self.states.items() if p != patient_id}
            self.order = [p for p in self.order if p != patient_id]
            order, subs = self.order, list(self._subscribers)
        now = self.clock().isoformat()
        event = _event(
            "update", {"server_time": now, "patients": [], "removed": [patient_id], "order": order}
        )
        for loop, q in subs:
            loop.call_soon_threadsafe(_offer, q, event)

    # subscribers ----------------------------------------------------------------------------

    async def events(self, prefix: str = "", ward: str = "") -> AsyncIterator[str]:
        """The event stream of one page: a snapshot, then updates, of the patients whose id
        starts with ``prefix`` and, if ``ward`` is given, who are listed under it (the
        state's ``group``, see ``vitals.census.group_of``)."""
        loop = asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue(QUEUE_MAX)
        with self._lock:
            self._subscribers.add((loop, q))
            self._wake.set()  # an idle board of everyone reads at once
            snapshot = [self.states[p] for p in self.order if _wanted(self.states[p], prefix, ward)]
            now = (self.last_poll or self.clock()).isoformat()
        try:
            yield "retry: 2000\n\n"
            yield _event("snapshot", {"server_time": now, "patients": snapshot})
            while True:
                try:
                    event = await asyncio.wait_for(q.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if event is None:  # server stopping, or this client fell too far behind
                    return
                if prefix or ward:
                    with self._lock:
                        states = self.states
                    event = _filtered(event, prefix, ward, states)
                yield event
        finally:
            with self._lock:
                self._subscribers.discard((loop, q))

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)


def _offer(q: asyncio.Queue, event: str | None) -> None:
    try:
        q.put_nowait(event)
    except asyncio.QueueFull:  # a client that stopped reading: end its stream
        while not q.empty():
            q.get_nowait()
        q.put_nowait(None)


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _wanted(state: dict, prefix: str, ward: str) -> bool:
    return state["patient_id"].startswith(prefix) and (not ward or state.get("group") == ward)


def _filtered(event: str, prefix: str, ward: str, states: dict[str, dict]) -> str:
    """An update for one page's filter. ``order`` is cut to the ids of the prefix and, for a
    ward, to those listed under it in ``states`` (the board's newest); a removed id outside
    the filter is harmless (the page has no tile for it)."""
    name = event.split("\n", 1)[0].removeprefix("event: ")
    data = json.loads(event.split("data: ", 1)[1])
    data["patients"] = [p for p in data["patients"] if _wanted(p, prefix, ward)]
    data["removed"] = [p for p in data["removed"] if p.startswith(prefix)]
    data["order"] = [p for p in data["order"] if p in states and _wanted(states[p], prefix, ward)]
    return _event(name, data)
