"""The consumer's fast row binding produces exactly the bytes the driver would."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

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
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=range(len(ROWS)))
def test_reading_rows_serialise_as_the_driver_does(session, row):
    prepared = Writer(session)._reading
    assert RowEncoder(prepared).encode(row) == prepared.bind(row).values


def test_latest_rows_with_a_write_timestamp_serialise_as_the_driver_does(session):
    prepared = Writer(session)._latest
    ts = datetime(2025, 10, 26, 23, 59, 59, 999000, tzinfo=UTC)
    row = ("P001", ts, 95, 98, 120, 80, 16, 36.8, "A", False, 3, 1_761_523_199_999_000)
    assert RowEncoder(prepared).encode(row) == prepared.bind(row).values


def test_a_batch_holds_every_row_with_the_first_rows_routing_key(session):
    w = Writer(session)
    rows = [(*ROWS[0][:2], ROWS[0][2] + timedelta(seconds=i), *ROWS[0][3:]) for i in range(5)]
    batch = w._reading_codec.batch(rows)
    assert len(batch._statements_and_parameters) == 5
    assert batch.routing_key == w._reading.bind(rows[0]).routing_key
    assert [v for _p, _q, v in batch._statements_and_parameters] == [
        w._reading.bind(r).values for r in rows
    ]
