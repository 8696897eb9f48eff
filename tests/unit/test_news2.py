"""NEWS2 (RCP 2017): every band boundary on both sides, the rounding rule, the alert levels."""

from datetime import UTC, datetime

import pytest

from vitals.news2 import PARAMETERS, round_half_up, score
from vitals.readings import Reading

NORMAL = {
    "heart_rate": 70,
    "spo2": 98,
    "systolic": 120,
    "diastolic": 70,
    "respiratory_rate": 16,
    "temperature": 37.0,
}


def reading(**changes: object) -> Reading:
    values = {**NORMAL, **changes}
    return Reading(patient_id="P001", timestamp=datetime(2025, 1, 1, tzinfo=UTC), **values)


def points(parameter: str, spo2_scale: int = 1, **changes: object) -> int:
    return score(reading(**changes), spo2_scale=spo2_scale).as_dict()[parameter]


def test_a_normal_reading_scores_zero() -> None:
    n = score(reading())
    assert (n.total, n.parts, n.red, n.alert_severity) == (0, (0,) * 7, False, None)


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3)],
)
def test_respiration_rate_bands(rate: int, expected: int) -> None:
    assert points("respiratory_rate", respiratory_rate=rate) == expected


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "expected"),
    [
        (91, False, 3),
        (92, False, 2),
        (93, False, 2),
        (94, False, 1),
        (95, False, 1),
        (96, False, 0),
        (91, True, 3),
        (96, True, 0),
        (100, True, 0),
    ],
)
def test_spo2_scale_1_bands_ignore_oxygen(spo2: int, on_oxygen: bool, expected: int) -> None:
    assert points("spo2", spo2=spo2, on_oxygen=on_oxygen) == expected


@pytest.mark.parametrize(
    ("spo2", "expected"),
    [(83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0), (93, 0), (97, 0), (100, 0)],
)
def test_spo2_scale_2_bands_on_air(spo2: int, expected: int) -> None:
    assert points("spo2", spo2_scale=2, spo2=spo2, on_oxygen=False) == expected


@pytest.mark.parametrize(
    ("spo2", "expected"),
    [
        (83, 3),
        (84, 2),
        (85, 2),
        (86, 1),
        (87, 1),
        (88, 0),
        (92, 0),
        (93, 1),
        (94, 1),
        (95, 2),
        (96, 2),
        (97, 3),
        (100, 3),
    ],
)
def test_spo2_scale_2_bands_on_oxygen(spo2: int, expected: int) -> None:
    assert points("spo2", spo2_scale=2, spo2=spo2, on_oxygen=True) == expected


@pytest.mark.parametrize(("on_oxygen", "expected"), [(False, 0), (True, 2)])
def test_air_or_oxygen(on_oxygen: bool, expected: int) -> None:
    assert points("on_oxygen", on_oxygen=on_oxygen) == expected


@pytest.mark.parametrize(
    ("systolic", "expected"),
    [(90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
)
def test_systolic_bands(systolic: int, expected: int) -> None:
    assert points("systolic", systolic=systolic, diastolic=50) == expected


@pytest.mark.parametrize(
    ("pulse", "expected"),
    [(40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3)],
)
def test_pulse_bands(pulse: int, expected: int) -> None:
    assert points("heart_rate", heart_rate=pulse) == expected


@pytest.mark.parametrize(("level", "expected"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness(level: str, expected: int) -> None:
    assert points("consciousness", consciousness=level) == expected


@pytest.mark.parametrize(
    ("temperature", "expected"),
    [(35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2)],
)
def test_temperature_bands(temperature: float, expected: int) -> None:
    assert points("temperature", temperature=temperature) == expected


@pytest.mark.parametrize(
    ("parameter", "value", "expected"),
    [
        ("heart_rate", 90.49, 0),  # 90
        ("heart_rate", 90.5, 1),  # 91
        ("heart_rate", 40.5, 1),  # 41
        ("heart_rate", 40.49, 3),  # 40
        ("respiratory_rate", 20.5, 2),  # 21
        ("respiratory_rate", 8.49, 3),  # 8
        ("spo2", 95.5, 0),  # 96
        ("spo2", 95.49, 1),  # 95
        ("systolic", 219.5, 3),  # 220
        ("systolic", 110.49, 1),  # 110
        ("temperature", 36.05, 0),  # 36.1
        ("temperature", 36.049, 1),  # 36.0
        ("temperature", 35.05, 1),  # 35.1
        ("temperature", 35.04, 3),  # 35.0
        ("temperature", 38.05, 1),  # 38.1
        ("temperature", 39.05, 2),  # 39.1
        ("temperature", 39.0499, 1),  # 39.0
    ],
)
def test_a_value_between_bands_is_rounded_half_up_as_written(
    parameter: str, value: float, expected: int
) -> None:
    assert points(parameter, **{parameter: value}) == expected


@pytest.mark.parametrize(
    ("parameter", "decimals", "values"),
    [
        ("heart_rate", 0, [i / 10 for i in range(300, 1400)]),
        ("temperature", 1, [i / 100 for i in range(3400, 4000)]),
    ],
)
def test_banding_a_value_equals_banding_it_rounded_half_up(
    parameter: str, decimals: int, values: list[float]
) -> None:
    for value in values:
        rounded = round_half_up(value, decimals)
        assert points(parameter, **{parameter: value}) == points(
            parameter, **{parameter: rounded}
        ), value


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (90.5, 0, 91),
        (90.0, 0, 90),
        (90.49, 0, 90),
        (91, 0, 91),
        (36.05, 1, 36.1),
        (36.15, 1, 36.2),
        (36.049, 1, 36.0),
        (38.0, 1, 38.0),
    ],
)
def test_round_half_up(value: float, decimals: int, expected: float) -> None:
    result = round_half_up(value, decimals)
    assert result == expected
    assert type(result) is type(expected)


def test_parts_follow_parameters_order() -> None:
    n = score(
        reading(
            respiratory_rate=25,
            spo2=95,
            on_oxygen=True,
            systolic=100,
            heart_rate=111,
            consciousness="V",
            temperature=39.1,
        )
    )
    assert n.parts == (3, 1, 2, 2, 2, 3, 2)
    assert tuple(n.as_dict()) == PARAMETERS
    assert n.total == 15


@pytest.mark.parametrize(
    ("changes", "total", "red", "severity", "risk"),
    [
        ({}, 0, False, None, "low"),
        ({"heart_rate": 111, "respiratory_rate": 21}, 4, False, None, "low"),
        ({"consciousness": "V"}, 3, True, "low", "low-medium"),
        ({"consciousness": "V", "heart_rate": 91}, 4, True, "low", "low-medium"),
        (
            {"heart_rate": 111, "respiratory_rate": 21, "temperature": 38.1},
            5,
            False,
            "medium",
            "medium",
        ),
        ({"consciousness": "V", "heart_rate": 111}, 5, True, "medium", "medium"),
        (
            {"heart_rate": 111, "respiratory_rate": 21, "on_oxygen": True},
            6,
            False,
            "medium",
            "medium",
        ),
        (
            {"heart_rate": 111, "respiratory_rate": 21, "on_oxygen": True, "temperature": 38.1},
            7,
            False,
            "high",
            "high",
        ),
        ({"consciousness": "U", "spo2": 91, "heart_rate": 131}, 9, True, "high", "high"),
    ],
)
def test_clinical_response_levels(
    changes: dict, total: int, red: bool, severity: str | None, risk: str
) -> None:
    n = score(reading(**changes))
    assert (n.total, n.red, n.alert_severity, n.risk) == (total, red, severity, risk)


@pytest.mark.parametrize("scale", [0, 3])
def test_an_unknown_spo2_scale_is_refused(scale: int) -> None:
    with pytest.raises(ValueError, match="spo2_scale must be 1 or 2"):
        score(reading(), spo2_scale=scale)
