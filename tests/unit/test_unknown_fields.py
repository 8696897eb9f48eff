"""A misspelt vital is refused, naming it and the nearest known name, instead of vanishing:
``"sp02": 82`` stored as a heart rate alone would hide a desaturation."""

import json
from pathlib import Path

import pytest

from vitals.errors import CsvError, InvalidReading
from vitals.readings import decode, read_csv

PRODUCED_MS = 1_761_474_615_000  # 2025-10-26T10:30:15Z
TYPO = {"patient_id": "TYPO1", "timestamp": "2025-10-26T10:30:00+00:00", "heart_rate": 80}


def refused(doc: dict) -> str:
    with pytest.raises(InvalidReading) as e:
        decode(json.dumps(doc).encode(), PRODUCED_MS)
    return str(e.value)


@pytest.mark.parametrize(
    ("field", "nearest"),
    [
        ("sp02", "spo2"),
        ("resp_rate", "respiratory_rate"),
        ("temp", "temperature"),
        ("heartrate", "heart_rate"),
        ("systolc", "systolic"),
    ],
)
def test_a_misspelt_field_is_refused_naming_the_nearest_known_name(
    field: str, nearest: str
) -> None:
    reason = refused({**TYPO, field: 82})
    assert reason.startswith(f"{field}: unknown field (did you mean {nearest!r}?); ")
    assert "a reading carries only patient_id, timestamp, heart_rate, spo2" in reason


def test_an_unknown_field_with_no_near_name_is_refused_without_a_guess() -> None:
    assert refused({**TYPO, "last_alarm": {"x": 1}}).startswith("last_alarm: unknown field; ")


def test_the_documented_device_metadata_object_is_allowed_and_not_read() -> None:
    doc = {**TYPO, "device": {"serial": "MX-0042", "heart_rate": 3, "timestamp": "x"}}
    r = decode(json.dumps(doc).encode(), PRODUCED_MS)
    assert r.heart_rate == 80


def test_every_field_of_the_seeds_message_and_the_documented_extensions_is_accepted() -> None:
    doc = {
        **TYPO,
        "spo2": 97,
        "blood_pressure": {"systolic": 120, "diastolic": 80},
        "respiratory_rate": 16,
        "temperature": 36.8,
        "consciousness": "A",
        "on_oxygen": False,
        "status": {},
        "device": None,
    }
    assert decode(json.dumps(doc).encode(), PRODUCED_MS).complete


def test_a_misspelt_csv_column_is_refused_with_file_line_and_nearest_name(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text(
        "patient_id,heart_rate,spo2,systolic,diastolic,respiratory_rate,temperature,consciousnes\n"
        "P1,80,97,120,80,16,36.8,A\n"
    )
    with pytest.raises(CsvError) as e:
        list(read_csv(f))
    assert str(e.value).startswith(
        f"{f}:1: consciousnes: unknown column (did you mean 'consciousness'?); allowed: "
    )
