"""A reading that says two things about one value is refused as ambiguous (README,
"Validation"), never resolved by keeping one of them silently."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from vitals.cli import cli
from vitals.errors import CsvError, InvalidReading
from vitals.readings import decode, read_csv

PRODUCED_MS = 1_761_474_615_000  # 2025-10-26T10:30:15Z
BASE = {"patient_id": "P1", "timestamp": "2025-10-26T10:30:00+00:00", "heart_rate": 80}


@pytest.mark.parametrize(
    "flat",
    [{"systolic": 130, "diastolic": 70}, {"systolic": 120, "diastolic": 80}, {"systolic": 130}],
)
def test_a_blood_pressure_both_nested_and_flat_is_refused(flat: dict) -> None:
    doc = {**BASE, "blood_pressure": {"systolic": 120, "diastolic": 80}, **flat}
    with pytest.raises(InvalidReading) as e:
        decode(json.dumps(doc).encode(), PRODUCED_MS)
    assert str(e.value) == (
        "blood_pressure: given both nested and as systolic/diastolic at the top level; "
        "which value is meant is ambiguous"
    )


def test_a_cuff_time_nested_beside_flat_pressures_is_one_blood_pressure() -> None:
    doc = {**BASE, "blood_pressure": {"timestamp": BASE["timestamp"]}, "systolic": 120}
    r = decode(json.dumps({**doc, "diastolic": 80}).encode(), PRODUCED_MS)
    assert (r.systolic, r.diastolic, r.bp_timestamp is not None) == (120, 80, True)


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text(
        "patient_id,heart_rate,spo2,systolic,diastolic,respiratory_rate,temperature,heart_rate\n"
        "P1,80,97,120,80,16,36.8,140\n"
    )
    with pytest.raises(CsvError) as e:
        list(read_csv(f))
    assert str(e.value) == (
        f"{f}:1: heart_rate: column given twice (columns 2 and 8); which one is meant is ambiguous"
    )


def test_produce_refuses_such_a_csv_before_sending_anything(tmp_path: Path) -> None:
    f = tmp_path / "dup.csv"
    f.write_text(
        "patient_id,heart_rate,spo2,systolic,diastolic,respiratory_rate,temperature,heart_rate\n"
        "P1,80,97,120,80,16,36.8,140\n"
    )
    res = CliRunner().invoke(cli, ["produce", "--mode", "csv", "--csv", str(f)])
    assert res.exit_code == 2
    assert f"Error: {f}:1: heart_rate: column given twice (columns 2 and 8)" in res.output
