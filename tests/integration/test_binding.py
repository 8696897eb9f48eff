"""The consumer's fast row binding produces exactly the bytes the driver would."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from cassandra.query import UNSET_VALUE

from vitals.binding import RowEncoder
from vitals.store import Writer

pytestmark = pytest.mark.services

ROWS = [
    (
        "P001",
        date(2025, 10, 26),
        datetime(2025, 10, 26, 10, 30, 15, 123000, tzinfo=UTC),
        95,
        98,
        120,
        80,
        16,
        36.8,
        "A",
        False,
        0,
        None,
        None,
        None,
        None,
    ),
    (
        "Ünïcødé 'quoted'; DROP",
        date(1969, 12, 31),
        datetime(2000, 1, 1, tzinfo=UTC),
        1,
        1,
        20,
        10,
        0,
        25.0,
        "U",
        True,
        20,
        {"blood_pressure": 600, "temperature": 3600},
        None,
        datetime(2000, 1, 1, tzinfo=UTC),
        {"spo2": "probe_off"},
    ),
    (
        "P002",
        date(2038, 1, 19),
        datetime(2025, 1, 1, 0, 0, 0, 999999, tzinfo=UTC),
        350,
        100,
        320,
        250,
        90,
        45.0,
        "C",
        True,
        7,
        None,
        {"temperature", "blood_pressure"},
        None,
        {},
    ),
    (
        "P003",
        date(2025, 1, 1),
        datetime(2025, 1, 1, 12, 0, 0, 1, tzinfo=UTC),
        60,
        97,
        110,
        70,
        12,
        36.05,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    ),
    (  # a pulse oximeter's reading: the vitals it does not measure are left unset
        "P004",
        date(2025, 1, 1),
        datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC),
        72,
        96,
        None,
        None,
        None,
        None,
        "A",
        False,
        None,
        None,
        {"respiratory_rate", "blood_pressure", "temperature"},
        None,
        None,
    ),
]


def unset(row: tuple) -> list:
    """The row as the consumer binds it: ``None`` (not measured) as unset, never null."""
    return [UNSET_VALUE if v is None else v for v in row]


@pytest.mark.parametrize("row", ROWS, ids=range(len(ROWS)))
def test_reading_rows_serialise_as_the_driver_does(session, row):
    prepared = Writer(session)._reading
    assert RowEncoder(prepared).encode(row) == prepared.bind(unset(row)).values


def test_latest_rows_with_a_write_timestamp_serialise_as_the_driver_does(session):
    prepared = Writer(session)._latest
    ts = datetime(2025, 10, 26, 23, 59, 59, 999000, tzinfo=UTC)
    row = (
        "P001",
        ts,
        95,
        None,
        120,
        80,
        16,
        36.8,
        "A",
        False,
        3,
        {},
        "",
        None,
        {},
        1_761_523_199_999_000,
    )
    assert RowEncoder(prepared).encode(row) == prepared.bind(unset(row)).values


def test_a_batch_holds_every_row_with_the_first_rows_routing_key(session):
    w = Writer(session)
    rows = [(*ROWS[0][:2], ROWS[0][2] + timedelta(seconds=i), *ROWS[0][3:]) for i in range(5)]
    batch = w._reading_codec.batch(rows)
    assert len(batch._statements_and_parameters) == 5
    assert batch.routing_key == w._reading.bind(unset(rows[0])).routing_key
    assert batch.keyspace == w._reading.bind(unset(rows[0])).keyspace == session.keyspace
    assert [v for _p, _q, v in batch._statements_and_parameters] == [
        w._reading.bind(unset(r)).values for r in rows
    ]


def test_alert_rows_serialise_as_the_driver_does(session):
    w = Writer(session)
    at = datetime(2025, 10, 26, 10, 30, 15, 123000, tzinfo=UTC)
    history = ("P001", at.date(), at, "spo2_low", "cleared", "high", "SpO2 88 %", 88.0, None)
    active = ("P001", "spo2_low", "high", "SpO2 88 %", 88.0, at, 1_761_474_615_123_000)
    clear = (1_761_474_615_123_000, "P001", "spo2_low")
    for codec, row in ((w._alert_codec, history), (w._set_active_codec, active)):
        assert codec.encode(row) == codec.prepared.bind(unset(row)).values
    assert w._clear_active_codec.encode(clear) == w._clear_active.bind(clear).values


def test_an_alarm_storm_is_batched_and_every_event_stored(session):
    """Many events in one poll become a few batches, yet every history row is stored and
    the active alerts are those raised and not cleared (write times, not batch order)."""
    from vitals.rules import AlertEvent

    w = Writer(session, batch_rows=30)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    events = []
    for i in range(40):
        pid, at = f"STORM{i % 4}", t0 + timedelta(seconds=i)
        events.append(AlertEvent(pid, f"r{i}", "high", "raised", at, float(i), f"m{i}"))
        if i % 2:  # every other alert clears a second later
            cleared = at + timedelta(seconds=1)
            events.append(
                AlertEvent(pid, f"r{i}", "high", "cleared", cleared, float(i), "ok", raised_at=at)
            )
    statements = w.alert_statements(events)
    assert len(statements) <= 6  # 120 rows: 4 batches of 30 on one node (not 120 statements)
    assert w.execute(statements)
    history = active = 0
    for p in range(4):
        pid = f"STORM{p}"
        history += session.execute(
            "SELECT COUNT(*) FROM patient_alerts WHERE patient_id = %s AND day = %s",
            (pid, t0.date()),
        ).one()[0]
        rules = {
            r.rule
            for r in session.execute("SELECT rule FROM active_alerts WHERE patient_id = %s", (pid,))
        }
        assert rules == {f"r{i}" for i in range(p, 40, 4) if i % 2 == 0}
        active += len(rules)
    assert history == 60 and active == 20


def test_registrations_of_new_patients_are_batched_and_all_stored(session):
    """A poll that first sees many patients registers each on its partition and resumes its
    monitoring: 2 statements per patient, sent as a few batches."""
    w = Writer(session, batch_rows=30)
    now = datetime.now(UTC)
    topic = f"reg-{now.timestamp():.0f}"
    statements = []
    for i in range(50):
        statements += [w.register(topic, 3, f"NEW{i}", now), w.resume(f"NEW{i}", now)]
    batched = w.batched(statements)
    assert len(batched) <= 10  # 2 on the partition's replicas + ≤ 4 for the resumes, 1 node
    assert w.execute(batched)
    assert sorted(w.monitored(topic, 3)) == sorted(f"NEW{i}" for i in range(50))


def test_routing_keys_are_the_drivers_without_binding(session):
    """Composite (patient, day), single text keys, and a key that is not the first column."""
    w = Writer(session)
    at = datetime(2025, 10, 26, 10, 30, 15, 123000, tzinfo=UTC)
    history = ("P001-é", at.date(), at, "spo2_low", "cleared", "high", "SpO2 88 %", 88.0, None)
    latest = ROWS[0][:1] + (at,) + (None,) * 13 + (1,)
    clear = (1_761_474_615_123_000, "P001", "spo2_low")
    for prepared, row in [
        (w._reading, ROWS[0]),
        (w._alert, history),
        (w._latest, latest),
        (w._clear_active, clear),
    ]:
        expected = prepared.bind(unset(row)).routing_key
        assert RowEncoder(prepared).routing_key(row) == expected
    assert (
        RowEncoder(w._reading).routing_key(ROWS[0][:2])
        == w._reading.bind(unset(ROWS[0])).routing_key
    )
