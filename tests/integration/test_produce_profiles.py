"""`vitals produce --profile`: simulated devices through Kafka into the real consumer."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from tests.helpers import start_consumer, stored_rows, vitals_env, wait_until

pytestmark = pytest.mark.services

VITALS = (sys.executable, "-m", "vitals")
PULSE_OXIMETER = ("--profile", "pulse-oximeter", "--interval", "0.05", "--count", "10")


def test_a_pulse_oximeter_ward_stores_heart_rate_and_spo2_and_an_incomplete_news2(
    topics, keyspace, session
):
    tag = uuid.uuid4().hex[:6].upper()
    patients = [f"OX{tag}-1", f"OX{tag}-2"]
    env = vitals_env(topics, keyspace)
    out = subprocess.run(
        [*VITALS, "produce", "--patients", ",".join(patients), *PULSE_OXIMETER],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("SENT ") == 10
    consumer = start_consumer(topics, keyspace)
    try:
        wait_until(
            lambda: len(stored_rows(session, keyspace, patients)) == 10, 60, "10 rows stored"
        )
    finally:
        assert consumer.stop() == 0, consumer.text()
    rows = stored_rows(session, keyspace, patients)
    for r in rows:
        assert r.heart_rate is not None and r.spo2 is not None
        assert (r.systolic, r.diastolic, r.respiratory_rate, r.temperature) == (None,) * 4
        assert r.news2 is None
        assert set(r.news2_missing) == {"respiratory_rate", "blood_pressure", "temperature"}
    one = session.prepare(
        "SELECT patient_id, heart_rate, systolic, news2, news2_incomplete "
        f"FROM {keyspace}.patient_latest WHERE patient_id = ?"
    )
    latest = [session.execute(one, (p,)).one() for p in patients]
    got = {r.patient_id: r for r in latest if r is not None}
    assert set(got) == set(patients)
    for r in got.values():
        assert r.heart_rate is not None and r.systolic is None and r.news2 is None
        assert r.news2_incomplete == "respiratory_rate,blood_pressure,temperature"


def test_profile_is_refused_in_csv_mode(topics, keyspace):
    out = subprocess.run(
        [*VITALS, "produce", "--mode", "csv", "--csv", "x.csv", "--profile", "monitor"],
        env=vitals_env(topics, keyspace),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "--profile is only used with --mode random." in out.stderr
