"""The telemetry-lost technical alarm as pure logic: when it raises, clears, and stays quiet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vitals.rules import AlertEvent
from vitals.telemetry import TELEMETRY_LOST, TelemetryWatch, is_technical

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def always(_pid: str) -> bool:
    return True


def test_a_patient_silent_for_longer_than_the_timeout_raises_once():
    w = TelemetryWatch(timeout=30)
    w.arrived("P1", at(0), at(0))
    assert w.due(at(30), always) == []  # exactly the timeout is not yet lost
    (e,) = w.due(at(30.5), always)
    assert (e.patient_id, e.rule, e.kind, e.severity) == ("P1", TELEMETRY_LOST, "raised", "medium")
    assert e.timestamp == at(30.5) and "no reading for 30 s" in e.message
    assert "(technical)" in e.message
    assert w.due(at(90), always) == []  # raised once, not repeated


def test_the_next_arrival_clears_it_once_and_after_its_raise():
    w = TelemetryWatch(timeout=30)
    w.arrived("P1", at(0), at(0))
    w.due(at(31), always)
    cleared = w.arrived("P1", at(40), now=at(40))
    assert cleared is not None and cleared.kind == "cleared" and cleared.raised_at == at(31)
    assert cleared.timestamp == at(40)
    assert w.arrived("P1", at(41), at(41)) is None


def test_a_clear_is_never_stamped_before_its_raise_even_if_clocks_disagree():
    w = TelemetryWatch(timeout=30)
    w.arrived("P1", at(0), at(0))
    w.due(at(31), always)
    cleared = w.arrived("P1", at(20), now=at(25))  # this consumer's clock is behind the raiser's
    assert cleared is not None and cleared.timestamp > at(31)


def test_a_patient_whose_partition_has_unread_records_is_not_lost_while_catching_up():
    w = TelemetryWatch(timeout=30)
    w.arrived("P1", at(0), at(0))
    assert w.due(at(100), lambda pid: False) == []
    assert len(w.due(at(100), always)) == 1


def test_patients_are_independent():
    w = TelemetryWatch(timeout=10)
    w.arrived("P1", at(0), at(0))
    w.arrived("P2", at(8), at(8))
    assert [e.patient_id for e in w.due(at(11), always)] == ["P1"]
    assert [e.patient_id for e in w.due(at(19), always)] == ["P2"]


def test_a_timeout_of_zero_turns_the_watch_off():
    w = TelemetryWatch(timeout=0)
    w.arrived("P1", at(0), at(0))
    assert not w.enabled and w.due(at(10_000), always) == [] and w.silent(at(10_000)) == []


def test_an_adopted_active_alarm_is_not_raised_again_and_clears_on_arrival():
    w = TelemetryWatch(timeout=30)
    active = AlertEvent("P1", TELEMETRY_LOST, "medium", "raised", at(31), 31.0, "Telemetry lost")
    w.adopt("P1", at(0), active)
    assert w.due(at(200), always) == []
    cleared = w.arrived("P1", at(210), at(210))
    assert cleared is not None and cleared.raised_at == at(31)


def test_an_adopted_silent_patient_raises_a_timeout_after_the_take_over():
    w = TelemetryWatch(timeout=30)
    w.adopt("P1", at(100), None)  # whatever its readings' own times were
    assert w.due(at(129), always) == []
    assert [e.patient_id for e in w.due(at(131), always)] == ["P1"]


def test_records_from_a_backlog_do_not_move_the_last_arrival_back():
    w = TelemetryWatch(timeout=30)
    w.adopt("P1", at(100), None)
    w.arrived("P1", at(50), at(101))  # created long ago, read now
    assert w.last("P1") == at(100)


def test_ending_monitoring_clears_an_active_alarm_with_the_reason_and_stops_watching():
    w = TelemetryWatch(timeout=30)
    w.arrived("P1", at(0), at(0))
    w.due(at(31), always)
    cleared = w.end("P1", at(40), "monitoring ended")
    assert cleared is not None and cleared.kind == "cleared"
    assert cleared.message.endswith("(monitoring ended)")
    assert "P1" not in w.watched and w.due(at(500), always) == []


def test_a_forgotten_patient_belongs_to_another_owner_and_raises_nothing_here():
    w = TelemetryWatch(timeout=30)
    w.arrived("P1", at(0), at(0))
    w.forget("P1")
    assert w.due(at(500), always) == []


def test_telemetry_lost_is_a_technical_alarm_and_a_rule_on_readings_is_not():
    assert is_technical(TELEMETRY_LOST)
    assert not is_technical("low_spo2")


def test_a_partition_that_comes_straight_back_keeps_its_silence_and_alarm():
    w = TelemetryWatch(timeout=30)
    w.arrived("P1", at(0), at(0))
    w.due(at(31), always)
    state = w.forget("P1")
    w.reinstate("P1", state)
    w.adopt("P1", at(40), None)  # the restore after the rebalance does not restart the clock
    assert w.last("P1") == at(0) and w.active("P1") is not None
    assert w.due(at(100), always) == []


def test_an_old_record_re_read_after_the_raise_does_not_clear_it():
    w = TelemetryWatch(timeout=30)
    w.arrived("P1", at(0), at(0))
    w.arrived("P1", at(5), at(5))
    w.due(at(40), always)
    assert w.arrived("P1", at(0), now=at(41)) is None  # a replay from the start
    assert w.arrived("P1", at(5), now=at(42)) is None  # the very record it was raised after
    assert w.lost == {"P1"}
    cleared = w.arrived("P1", at(45), now=at(45))
    assert cleared is not None and cleared.kind == "cleared"


def test_an_adopted_alarm_stored_to_the_millisecond_is_not_cleared_by_its_last_record():
    """A new owner (another consumer group replaying from the start) restores the raise from
    Cassandra, which keeps its time to the millisecond."""
    raised = AlertEvent("P1", TELEMETRY_LOST, "medium", "raised", at(35.0004), 35.0004, "lost")
    stored = AlertEvent("P1", TELEMETRY_LOST, "medium", "raised", at(35), 35.0004, "lost")
    for e in (raised, stored):
        w = TelemetryWatch(timeout=30)
        w.adopt("P1", at(60), e)
        assert w.arrived("P1", at(0), now=at(61)) is None
        assert w.lost == {"P1"}
        assert w.arrived("P1", at(0.002), now=at(62)) is not None  # a newer record clears it
