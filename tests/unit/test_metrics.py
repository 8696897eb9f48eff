"""The consumer's /health answer, from what its reporter saw (pure logic)."""

from __future__ import annotations

from kafka.structs import TopicPartition

from vitals.metrics import MemberHealth

TPS = [TopicPartition("patient.vitals", p) for p in range(3)]


def health() -> MemberHealth:
    return MemberHealth(clock=lambda: 100.0)


def test_a_consumer_that_has_not_joined_is_starting():
    code, body = health().status()
    assert code == 503
    assert body["reason"] == "starting: not yet a member of the consumer group"


def test_a_member_with_partitions_and_no_outage_is_ok():
    h = health()
    h.assigned(TPS)
    assert h.status() == (200, {"status": "ok", "partitions": 3, "uptime_s": 0.0})


def test_a_member_without_partitions_is_not_healthy():
    h = health()
    h.assigned(TPS)
    h.revoked(TPS)
    code, body = h.status()
    assert (code, body["reason"]) == (
        503,
        "no partitions: more consumers than partitions in the group",
    )


def test_an_outage_makes_it_unavailable_until_recovered():
    h = health()
    h.assigned(TPS)
    h.outage("Cassandra")
    code, body = h.status()
    assert (code, body["reason"]) == (503, "Cassandra unavailable; holding writes and offsets")
    h.recovered()
    assert h.status()[0] == 200
