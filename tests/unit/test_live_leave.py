"""The live board takes a patient off at once when its monitoring ends (pure logic: a fake
store stands in for the census read, a fake clock for time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vitals.web.live import Board

T0 = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)


def state(pid: str) -> dict:
    return {
        "patient_id": pid,
        "latest": None,
        "alerts": [],
        "severity": None,
        "unacknowledged": 0,
        "stale": True,
        "group": "P",
    }


class FakeStore:
    rows_read = 0

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    def ward(self, **_: object) -> list[dict]:
        return [state(p) for p in self.ids]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_a_patient_leaves_at_once_and_a_poll_that_read_before_does_not_bring_it_back():
    clock = Clock()
    store = FakeStore(["P1", "P2"])
    board = Board(store, clock=clock)  # type: ignore[arg-type]
    board.poll()
    assert board.order == ["P1", "P2"]

    clock.now = T0 + timedelta(seconds=1)
    board.leave("P1")
    assert board.order == ["P2"] and "P1" not in board.states

    clock.now = T0 + timedelta(milliseconds=500)  # a poll whose read began before the end
    board.poll()
    assert board.order == ["P2"]

    clock.now = T0 + timedelta(seconds=2)  # a later poll still lists it: a new reading came
    board.poll()
    assert board.order == ["P1", "P2"]


def test_leaving_a_patient_not_on_the_board_changes_nothing():
    board = Board(FakeStore(["P2"]), clock=Clock())  # type: ignore[arg-type]
    board.poll()
    board.leave("P9")
    assert board.order == ["P2"]
