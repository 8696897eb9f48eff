"""Consciousness (ACVPU, RCP NEWS2 2017 chart 1) is read one way by every format: a letter
in either case, anything else refused with the same reason."""

import json
from pathlib import Path

import pytest

from vitals.errors import CsvError, InvalidReading
from vitals.readings import decode, parse_consciousness, read_csv

PRODUCED_MS = 1_761_474_615_000  # 2025-10-26T10:30:15Z
HEADER = "patient_id,timestamp,heart_rate,spo2,systolic,diastolic,respiratory_rate,temperature,"


def from_json(value: str) -> str | None:
    doc = {"patient_id": "P1", "timestamp": "2025-10-26T10:30:00+00:00", "heart_rate": 80}
    return decode(json.dumps({**doc, "consciousness": value}).encode(), PRODUCED_MS).consciousness


def from_csv(tmp_path: Path, value: str) -> object:
    f = tmp_path / "r.csv"
    f.write_text(HEADER + "consciousness\n" + f"P1,2025-10-26T10:30:00+00:00,80,,,,,,{value}\n")
    ((_, fields),) = list(read_csv(f))
    if isinstance(fields, CsvError):
        return fields.reason
    return fields["consciousness"]


@pytest.mark.parametrize(("sent", "level"), [("A", "A"), ("a", "A"), ("c", "C"), ("V", "V")])
def test_a_letter_in_either_case_is_its_level_in_json_and_csv(
    tmp_path: Path, sent: str, level: str
) -> None:
    assert from_json(sent) == level
    assert parse_consciousness(str(from_csv(tmp_path, sent))) == level


@pytest.mark.parametrize("sent", ["x", "alert", "AV"])
def test_anything_else_is_refused_with_the_same_reason_in_json_and_csv(
    tmp_path: Path, sent: str
) -> None:
    with pytest.raises(InvalidReading) as e:
        from_json(sent)
    assert e.value.reason == f"{sent!r} is not one of A, C, V, P, U"
    assert from_csv(tmp_path, sent) == e.value.reason
