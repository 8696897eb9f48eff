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
    assert [v for _p, _q, v in batch._statements_and_parameters] == [
        w._reading.bind(unset(r)).values for r in rows
    ]
