"""A new owner's reads against the real Cassandra: patients read in groups (``IN``), every
patient's state exactly as stored, and a registration that resumes only an ended monitoring."""

from __future__ import annotations

import uuid
from collections import namedtuple
from datetime import UTC, datetime, timedelta

import pytest
from kafka import TopicPartition

from vitals.config import ConsumerSettings
from vitals.consumer import VitalsConsumer
from vitals.monitoring import end_monitoring
from vitals.readings import Reading
from vitals.rules import AlertEvent
from vitals.rules.loader import load_default_rules
from vitals.store import Writer
from vitals.store.reads import RESTORE_GROUP, RuleState

pytestmark = pytest.mark.services

Record = namedtuple("Record", "topic partition offset timestamp key value")
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def ids(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:6].upper()
    return [f"RS{tag}-{i:03d}" for i in range(n)]


def test_rule_state_of_more_patients_than_one_group_is_each_patients_own(session):
    """2.5 groups of patients: those with active alerts, a latest reading, an ended
    monitoring, or nothing stored each get exactly their own state."""
    w = Writer(session)
    patients = ids(RESTORE_GROUP * 5 // 2)
    events, latest = [], []
    for i, p in enumerate(patients):
        if i % 3 == 0:
            for rule in ("hr_high", "spo2_low"):
                events.append(AlertEvent(p, rule, "high", "raised", T0, 131.0, f"{rule} {p}"))
        if i % 5 == 0:
            at = T0 + timedelta(seconds=i)
            latest.append((Reading(p, at, 80 + i % 40, 97, 120, 75, 16, 37.0), 1))
        if i % 7 == 0:
            end_monitoring(session, p, by="RN Test", reason="discharged", now=T0)
    assert w.execute(w.alert_statements(events) + w.latest_statements(latest))

    state = w.rule_state(reversed(patients))

    assert list(state) == list(reversed(patients))
    for i, p in enumerate(patients):
        s = state[p]
        assert isinstance(s, RuleState)
        expected_active = (
            [(r, "high", f"{r} {p}", 131.0, T0) for r in ("hr_high", "spo2_low")]
            if i % 3 == 0
            else []
        )
        assert sorted(s.active) == expected_active, p
        if i % 5 == 0:
            at = T0 + timedelta(seconds=i)
            assert s.last_seen == at
            assert s.freshest["heart_rate"] == (at, (80 + i % 40,))
            assert s.freshest["blood_pressure"] == (at, (120, 75))
        else:
            assert (s.last_seen, s.freshest) == (None, {}), p
        assert s.ended_at == (T0 if i % 7 == 0 else None), p


def test_monitoring_ended_is_read_for_every_group_of_patients(session):
    w = Writer(session)
    patients = ids(RESTORE_GROUP + 7)
    for p in patients[::10]:
        end_monitoring(session, p, by="RN Test", reason="transfer", now=T0)
    assert w.monitoring_ended(patients) == {p: T0 for p in patients[::10]}
    assert w.monitoring_ended([]) == {}


def test_a_patient_new_to_the_owner_is_registered_and_only_an_ended_monitoring_is_resumed(
    session, topics, kafka_settings
):
    """The registration of a patient first seen resumes its monitoring only if it was ended
    (the delete is written then, and deletes it); one never ended gets no delete at all."""
    ended, never = ids(2)
    end_monitoring(session, ended, by="RN Test", reason="discharged")
    w = Writer(session)
    resumed: list[str] = []
    resume = w.resume

    def spy(patient_id, record_time):
        resumed.append(patient_id)
        return resume(patient_id, record_time)

    w.resume = spy  # type: ignore[method-assign]
    c = VitalsConsumer(
        kafka=kafka_settings,
        settings=ConsumerSettings(
            topic=topics.vitals, alerts_topic=topics.alerts, dlq_topic=topics.dlq
        ),
        writer=w,
        rules=load_default_rules(),
    )
    after_end = datetime.now(UTC) + timedelta(seconds=2)  # created after the end
    records = [
        Record(topics.vitals, 1, k, int(after_end.timestamp() * 1000), p.encode(), r.to_json())
        for k, (p, r) in enumerate(
            (p, Reading(p, after_end, 80, 97, 120, 75, 16, 37.0)) for p in (ended, never)
        )
    ]
    assert c.process({TopicPartition(topics.vitals, 1): records})

    assert w.monitoring_ended([ended, never]) == {}
    assert sorted(w.monitored(topics.vitals, 1)) == sorted([ended, never])
    assert resumed == [ended]


def test_a_new_owner_carries_the_last_observed_consciousness_and_oxygen(session):
    """A patient last observed V and on oxygen: after a rebalance a heart rate alone still
    scores with V and oxygen (RCP NEWS2 2017 scores the patient), as it would have on the
    member that saw the observation; without the stored observation it scores 14, not 19."""
    from vitals.rules import RuleEngine

    (p,) = ids(1)
    w = Writer(session)
    sick = Reading(p, T0, 135, 88, 85, 50, 28, 39.5, "V", True)
    assert w.execute(w.latest_statements([(sick, 19)]))

    state = w.rule_state([p])[p]
    assert state.freshest["consciousness"] == (T0, ("V",))
    assert state.freshest["on_oxygen"] == (T0, (True,))

    engine = RuleEngine(load_default_rules())
    engine.freshest.seed(p, state.freshest)
    n, _ = engine.assess(Reading(p, T0 + timedelta(minutes=2), heart_rate=137))
    assert n is not None and n.total == 19  # not 14: still V, still on oxygen


def test_a_patient_whose_newest_values_are_not_yet_written_is_known_to_queries(session):
    """Within a commit interval a patient's first readings are stored while its
    ``patient_latest`` row is not yet: ``vitals query`` must not call it unknown."""
    from vitals.queries import History
    from vitals.queries.history import UnknownPatient

    new, nobody = ids(2)
    w = Writer(session)
    now = datetime.now(UTC).replace(microsecond=0)
    assert w.execute(w.batches(w.reading_rows([Reading(new, now, heart_rate=80)], [None])))
    h = History(session)

    h.require_patient(new)  # stored in patient_vitals only: known
    assert h.readings(new, now - timedelta(minutes=1), now, limit=10)[0]["heart_rate"] == 80
    with pytest.raises(UnknownPatient):
        h.require_patient(nobody)
