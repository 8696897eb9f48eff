"""``news2.score`` is the RCP 2017 chart, read as written, for every value.

The reference below is chart 1 transcribed literally: each value rounded half up as the
chart reads it (whole numbers; temperature to one decimal, ``round_half_up``), then looked
up in its band. ``score`` compares raw values against midpoints instead; on generated
readings (whole and fractional values across and beyond every band, both SpO2 scales, air
and oxygen, every ACVPU level) both give the same points.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitals.news2 import round_half_up, score
from vitals.readings import Reading


def band(value: float, upper_bounds: list[tuple[float, int]], above: int) -> int:
    """Points of the first band whose (inclusive) upper bound holds ``value``."""
    for upper, points in upper_bounds:
        if value <= upper:
            return points
    return above


def reference_parts(r: Reading, scale: int) -> tuple[int, ...]:
    rr = round_half_up(r.respiratory_rate)
    spo2 = round_half_up(r.spo2)
    sys_ = round_half_up(r.systolic)
    pulse = round_half_up(r.heart_rate)
    temp = round_half_up(r.temperature, 1)
    if scale == 1:
        sp = band(spo2, [(91, 3), (93, 2), (95, 1)], 0)
    elif spo2 <= 92 or not r.on_oxygen:
        sp = band(spo2, [(83, 3), (85, 2), (87, 1)], 0)
    else:
        sp = band(spo2, [(94, 1), (96, 2)], 3)
    return (
        band(rr, [(8, 3), (11, 1), (20, 0), (24, 2)], 3),
        sp,
        2 if r.on_oxygen else 0,
        band(sys_, [(90, 3), (100, 2), (110, 1), (219, 0)], 3),
        band(pulse, [(40, 3), (50, 1), (90, 0), (110, 1), (130, 2)], 3),
        0 if r.consciousness in ("A", None) else 3,  # None: never observed (the seed's JSON)
        band(temp, [(35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1)], 2),
    )


def values(low: int, high: int, edges: list[int]) -> st.SearchStrategy:
    near = [e + d for e in edges for d in (-0.5, -0.01, 0, 0.49, 0.5, 1)]
    return st.one_of(
        st.sampled_from(near),
        st.integers(low, high),
        st.integers(low * 2, high * 2).map(lambda h: h / 2),  # x.5: a band's edge
        st.floats(low, high),
    )


@settings(max_examples=500, deadline=None, database=None)
@given(
    rr=values(0, 90, [8, 11, 20, 24]),
    spo2=values(1, 100, [83, 85, 87, 91, 92, 93, 94, 95, 96]),
    systolic=values(40, 320, [90, 100, 110, 219]),
    pulse=values(0, 350, [40, 50, 90, 110, 130]),
    temp=st.one_of(
        st.sampled_from(
            [t + d for t in (35.0, 36.0, 38.0, 39.0) for d in (-0.05, 0, 0.049, 0.05, 0.1)]
        ),
        st.integers(250, 450).map(lambda t: t / 10),
        st.integers(2500, 4500).map(lambda t: t / 100),  # x.x5 and x.x49...: edges
        st.floats(25, 45),
    ),
    oxygen=st.booleans(),
    consciousness=st.sampled_from("ACVPU"),
    scale=st.sampled_from([1, 2]),
)
def test_score_is_the_chart_read_as_written(
    rr, spo2, systolic, pulse, temp, oxygen, consciousness, scale
):
    r = Reading(
        "P1",
        datetime(2025, 1, 1, tzinfo=UTC),
        heart_rate=pulse,
        spo2=spo2,
        systolic=systolic,
        diastolic=30,
        respiratory_rate=rr,
        temperature=temp,
        consciousness=consciousness,
        on_oxygen=oxygen,
    )
    got = score(r, spo2_scale=scale)
    assert got.parts == reference_parts(r, scale)
    assert got.total == sum(got.parts)


@pytest.mark.parametrize("missing", ["heart_rate", "spo2", "systolic", "respiratory_rate"])
def test_a_reading_without_every_parameter_is_not_scored(missing: str):
    full = {"heart_rate": 70, "spo2": 97, "systolic": 120, "respiratory_rate": 14}
    r = Reading("P1", datetime(2025, 1, 1, tzinfo=UTC), temperature=36.8, **full)
    with pytest.raises(ValueError, match="NEWS2 needs every parameter; P1 lacks some"):
        score(Reading(**{**_fields(r), missing: None}))


def _fields(r: Reading) -> dict:
    import dataclasses

    return {f.name: getattr(r, f.name) for f in dataclasses.fields(r)}


EDGES = {
    "respiratory_rate": [8, 11, 20, 24],
    "spo2": [83, 85, 87, 91, 92, 93, 94, 95, 96],
    "systolic": [90, 100, 110, 219],
    "heart_rate": [40, 50, 90, 110, 130],
    "temperature": [35.0, 36.0, 38.0, 39.0],
}


@pytest.mark.parametrize("vital", list(EDGES))
def test_every_band_edge_is_read_as_the_chart_reads_it(vital: str):
    normal = {"heart_rate": 70, "spo2": 97, "systolic": 120, "respiratory_rate": 14}
    normal |= {"temperature": 36.8}
    steps = (-0.05, 0, 0.049, 0.05, 0.1) if vital == "temperature" else (-0.5, 0, 0.49, 0.5, 1)
    for edge in EDGES[vital]:
        for step in steps:
            for oxygen, scale in ((False, 1), (True, 1), (False, 2), (True, 2)):
                r = Reading(
                    "P1",
                    datetime(2025, 1, 1, tzinfo=UTC),
                    **{**normal, vital: edge + step},
                    diastolic=30,
                    on_oxygen=oxygen,
                )
                assert score(r, spo2_scale=scale).parts == reference_parts(r, scale), r
