"""What a simulated bedside device sends (``vitals produce --profile``): pure logic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vitals.readings import Reading
from vitals.simulation import DeviceProfile, LabelledWard, Profiled, simulate, write_csv

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def full(pid: str, minutes: float) -> Reading:
    return Reading(pid, T0 + timedelta(minutes=minutes), 80, 97, 120, 80, 16, 36.8)


def test_all_six_sends_every_vital_unchanged():
    r = full("P1", 0)
    assert DeviceProfile("all-six").apply(r) is r


def test_pulse_oximeter_sends_heart_rate_and_spo2_only():
    got = DeviceProfile("pulse-oximeter").apply(full("P1", 0))
    assert got.measured() == ("heart_rate", "spo2")
    assert (got.heart_rate, got.spo2, got.timestamp) == (80, 97, T0)


def test_monitor_sends_blood_pressure_per_cuff_cycle_and_temperature_every_4_hours():
    device = DeviceProfile("monitor")
    sent = [device.apply(full(pid, m)) for m in range(0, 8 * 60 + 1) for pid in ("P1", "P2")]
    for pid in ("P1", "P2"):
        mine = [r for r in sent if r.patient_id == pid]
        assert all({"heart_rate", "spo2", "respiratory_rate"} <= set(r.measured()) for r in mine)
        cuff = [(r.timestamp - T0) / timedelta(minutes=1) for r in mine if r.systolic is not None]
        assert cuff == list(range(0, 8 * 60 + 1, 15))
        assert all(r.diastolic is not None for r in mine if r.systolic is not None)
        temp = [(r.timestamp - T0) / timedelta(hours=1) for r in mine if r.temperature]
        assert temp == [0, 4, 8]


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="pulse-oximeter"):
        DeviceProfile("holter")


def test_profiled_ward_and_its_csv_leave_vitals_not_measured_blank(tmp_path):
    ward = LabelledWard(["P1"], start=T0, hours=0.1, seed=3, artifacts=False)
    oximeter = Profiled(ward, DeviceProfile("pulse-oximeter"))
    r = oximeter.next_reading("P1", T0)
    assert r is not None and r.measured() == ("heart_rate", "spo2")
    fresh = LabelledWard(["P1"], start=T0, hours=0.1, seed=3, artifacts=False)
    monitor = DeviceProfile("monitor")
    readings = [monitor.apply(x) for x in simulate(fresh, interval=60)]
    path = tmp_path / "ward.csv"
    write_csv(readings, path)
    header, first, second, *_ = (line.split(",") for line in path.read_text().splitlines())
    assert header[4:] == ["systolic", "diastolic", "respiratory_rate", "temperature"]
    assert "" not in first  # monitoring starts with every vital
    # a minute later: no cuff result, no temperature (blank cells, not 0)
    assert (second[4], second[5], second[7]) == ("", "", "") and second[6] != ""
