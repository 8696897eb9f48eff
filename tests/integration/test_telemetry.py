"""Telemetry lost against the real servers: a silent patient raises the technical alarm.

Consumers run with ``--telemetry-timeout`` of a few seconds; every event is read
back from the alerts topic and from Cassandra, where the boards read it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.helpers import (
    KAFKA,
    committed_and_end,
    start_consumer,
    stored_rows,
    vitals_env,
    wait_until,
)

pytestmark = pytest.mark.services

TIMEOUT = 3.0  # seconds without a record before telemetry lost (the product default is 30)


def send(topic: str, pid: str, n: int = 1) -> datetime:
    """``n`` valid readings of ``pid`` (own times in the past); returns when the last was sent."""
    p = KafkaProducer(bootstrap_servers=KAFKA, acks="all")
    base = datetime.now(UTC) - timedelta(minutes=5)
    for i in range(n):
        doc = {
            "patient_id": pid,
            "timestamp": (
                base + timedelta(seconds=i, microseconds=uuid.uuid4().int % 999)
            ).isoformat(),
            "heart_rate": 80,
            "spo2": 97,
            "blood_pressure": {"systolic": 120, "diastolic": 80},
            "respiratory_rate": 15,
            "temperature": 36.7,
        }
        p.send(topic, key=pid.encode(), value=json.dumps(doc).encode()).get(timeout=30)
    sent = datetime.now(UTC)
    p.close()
    return sent


class Alerts:
    """Everything published on an alerts topic, read as it arrives."""

    def __init__(self, topic: str) -> None:
        self.c = KafkaConsumer(topic, bootstrap_servers=KAFKA, auto_offset_reset="earliest")
        self.events: list[dict] = []

    def read(self) -> list[dict]:
        for batch in self.c.poll(timeout_ms=200).values():
            self.events += [json.loads(r.value) for r in batch]
        return self.events

    def of(self, pid: str, rule: str = "telemetry_lost", kind: str | None = None) -> list[dict]:
        return [
            e
            for e in self.read()
            if e["patient_id"] == pid and e["rule"] == rule and (kind is None or e["kind"] == kind)
        ]

    def close(self) -> None:
        self.c.close()


def env(topics, keyspace: str, timeout: float = TIMEOUT) -> dict[str, str]:
    return {**vitals_env(topics, keyspace), "VITALS_TELEMETRY_TIMEOUT": str(timeout)}


def test_a_silent_patient_raises_telemetry_lost_in_time_and_a_reading_clears_it(
    topics, keyspace, session
):
    pid = f"TEL-{uuid.uuid4().hex[:6]}"
    last_sent = send(topics.vitals, pid, n=3)
    alerts = Alerts(topics.alerts)
    c = start_consumer(topics, keyspace, env=env(topics, keyspace))
    try:
        (raised,) = wait_until(lambda: alerts.of(pid, kind="raised"), 30, "telemetry lost raised")
        raised_at = datetime.fromisoformat(raised["timestamp"])
        # within the timeout plus one poll (250 ms) and one watch interval (500 ms), with slack
        assert timedelta(seconds=TIMEOUT) < raised_at - last_sent < timedelta(seconds=TIMEOUT + 2)
        assert raised["severity"] == "medium" and "(technical)" in raised["message"]
        assert c.proc.poll() is None
        wait_until(lambda: active_rules(session, keyspace, pid), 30, "the active alarm stored")
        assert active_rules(session, keyspace, pid) == ["telemetry_lost"]

        send(topics.vitals, pid)
        (cleared,) = wait_until(
            lambda: alerts.of(pid, kind="cleared"), 30, "telemetry lost cleared"
        )
        assert cleared["raised_at"] == raised["timestamp"]
        wait_until(lambda: not active_rules(session, keyspace, pid), 30, "the active alarm deleted")
        assert len(alerts.of(pid)) == 2  # raised once, cleared once
    finally:
        c.stop()
        alerts.close()
    history = session.execute(
        f"SELECT kind FROM {keyspace}.patient_alerts WHERE patient_id = %s AND rule = 'telemetry_lost' "
        "ALLOW FILTERING",
        (pid,),
    ).all()
    assert sorted(r.kind for r in history) == ["cleared", "raised"]
    assert len(stored_rows(session, keyspace, [pid])) == 4


def test_ending_monitoring_of_a_patient_prevents_telemetry_lost(topics, keyspace):
    ended, watched = (f"END-{uuid.uuid4().hex[:6]}", f"WAT-{uuid.uuid4().hex[:6]}")
    send(topics.vitals, ended, n=2)
    send(topics.vitals, watched, n=2)
    # both patients known (stored) by a consumer that would not yet call them silent
    first = start_consumer(topics, keyspace, env=env(topics, keyspace, timeout=600))
    try:
        wait_until(
            lambda: committed_and_end(topics.vitals, topics.group) == (4, 4),
            60,
            "the four readings stored and committed",
        )
    finally:
        first.stop()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "vitals",
            "monitoring",
            "end",
            ended,
            "--by",
            "RN Test",
            "--reason",
            "discharged",
        ],
        env=vitals_env(topics, keyspace),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "Monitoring ended by RN Test: discharged at" in out.stdout
    alerts = Alerts(topics.alerts)
    c = start_consumer(topics, keyspace, env=env(topics, keyspace, timeout=2))
    try:
        wait_until(lambda: alerts.of(watched, kind="raised"), 30, "the watched patient lost")
        # the ended patient's last record is older than the watched one's: it would have raised
        assert alerts.of(ended) == []
        (event,) = alerts.of(ended, rule="monitoring")
        assert (event["kind"], event["by"], event["reason"]) == ("ended", "RN Test", "discharged")
    finally:
        c.stop()
        alerts.close()


def test_a_consumer_restarted_while_a_patient_is_silent_raises_telemetry_lost_once(
    topics, keyspace, session
):
    pid = f"RST-{uuid.uuid4().hex[:6]}"
    send(topics.vitals, pid, n=2)
    alerts = Alerts(topics.alerts)
    first = start_consumer(topics, keyspace, env=env(topics, keyspace, timeout=600))
    wait_until(
        lambda: committed_and_end(topics.vitals, topics.group) == (2, 2),
        30,
        "the readings committed",
    )
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)

    # a new owner adopts the silent patient from the partition's register and raises once
    second = start_consumer(topics, keyspace, env=env(topics, keyspace))
    wait_until(lambda: alerts.of(pid, kind="raised"), 30, "telemetry lost raised by the new owner")
    wait_until(lambda: active_rules(session, keyspace, pid) == ["telemetry_lost"], 30, "stored")
    second.proc.send_signal(signal.SIGKILL)
    second.proc.wait(10)

    # and the one after it restores the active alarm instead of raising it again
    third = start_consumer(topics, keyspace, env=env(topics, keyspace))
    try:
        third.wait_for("Partitions assigned")
        deadline = time.monotonic() + 3 * TIMEOUT  # long past the timeout: it would have raised
        while time.monotonic() < deadline:  # each check polls the alerts topic for 200 ms
            assert len(alerts.of(pid, kind="raised")) == 1
        send(topics.vitals, pid)
        wait_until(lambda: alerts.of(pid, kind="cleared"), 30, "telemetry lost cleared")
    finally:
        assert [e["kind"] for e in alerts.of(pid)] == ["raised", "cleared"]
        third.stop()
        alerts.close()


def test_another_group_replaying_old_records_does_not_clear_telemetry_lost(
    topics, keyspace, session
):
    """A second consumer group reads the topic from the start: the silent patient's old
    records end no silence, so its alarm stays active (only a newer reading clears it)."""
    pid = f"TL1-{uuid.uuid4().hex[:6]}"
    send(topics.vitals, pid, n=2)
    alerts = Alerts(topics.alerts)
    first = start_consumer(topics, keyspace, env=env(topics, keyspace))
    try:
        wait_until(lambda: alerts.of(pid, kind="raised"), 30, "telemetry lost raised")
        wait_until(lambda: active_rules(session, keyspace, pid) == ["telemetry_lost"], 30, "stored")
    finally:
        first.stop()
    other = f"other-{uuid.uuid4().hex[:6]}"
    replay = start_consumer(
        topics, keyspace, "--group", other, env=env(topics, keyspace, timeout=600)
    )
    try:
        wait_until(
            lambda: committed_and_end(topics.vitals, other) == (2, 2), 30, "the replay committed"
        )
        assert alerts.of(pid, kind="cleared") == []
        assert active_rules(session, keyspace, pid) == ["telemetry_lost"]
        send(topics.vitals, pid)  # a new reading does clear it
        wait_until(lambda: alerts.of(pid, kind="cleared"), 30, "telemetry lost cleared")
    finally:
        replay.stop()
        alerts.close()


def active_rules(session, keyspace: str, pid: str) -> list[str]:
    rows = session.execute(
        f"SELECT rule FROM {keyspace}.active_alerts WHERE patient_id = %s", (pid,)
    ).all()
    return [r.rule for r in rows]


def test_a_new_owner_does_not_watch_a_patient_silent_for_longer_than_the_census_window(
    topics, keyspace, session
):
    """Readings 13 h old (a recording replayed, or a patient long gone without an explicit
    end): a restarted consumer raises nothing for them, while a recent patient still raises."""
    old, recent = f"OLD-{uuid.uuid4().hex[:6]}", f"NEW-{uuid.uuid4().hex[:6]}"
    p = KafkaProducer(bootstrap_servers=KAFKA, acks="all")
    for pid, hours in ((old, 13), (recent, 0)):
        doc = {
            "patient_id": pid,
            "timestamp": (datetime.now(UTC) - timedelta(hours=hours, minutes=1)).isoformat(),
            "heart_rate": 80,
            "spo2": 97,
        }
        p.send(topics.vitals, key=pid.encode(), value=json.dumps(doc).encode()).get(timeout=30)
    p.close()
    alerts = Alerts(topics.alerts)
    first = start_consumer(topics, keyspace, env=env(topics, keyspace, timeout=600))
    wait_until(
        lambda: committed_and_end(topics.vitals, topics.group) == (2, 2), 30, "both committed"
    )
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    second = start_consumer(topics, keyspace, env=env(topics, keyspace, timeout=2))
    try:
        wait_until(lambda: alerts.of(recent, kind="raised"), 30, "the recent patient lost")
        deadline = time.monotonic() + 3  # past the old patient's timeout too
        while time.monotonic() < deadline:  # each check polls the alerts topic for 200 ms
            assert alerts.of(old) == []
    finally:
        second.stop()
        alerts.close()


def test_ending_monitoring_through_the_api_closes_the_patients_alerts_without_telemetry_lost(
    kafka_settings, cassandra_settings, topics, keyspace, session
):
    import httpx

    from vitals.web.app import WebSettings, create_app
    from vitals.web.server import BackgroundServer

    pid = f"API-{uuid.uuid4().hex[:6]}"
    p = KafkaProducer(bootstrap_servers=KAFKA, acks="all")
    doc = {
        "patient_id": pid,
        "timestamp": datetime.now(UTC).isoformat(),
        "heart_rate": 80,
        "spo2": 85,
    }
    p.send(topics.vitals, key=pid.encode(), value=json.dumps(doc).encode()).get(timeout=30)
    p.close()
    alerts = Alerts(topics.alerts)
    c = start_consumer(topics, keyspace, env=env(topics, keyspace, timeout=2))
    settings = WebSettings(
        cassandra=cassandra_settings, kafka=kafka_settings, alerts_topic=topics.alerts
    )
    try:
        with (
            BackgroundServer(create_app(settings)) as url,
            httpx.Client(base_url=url, timeout=30) as web,
        ):
            wait_until(
                lambda: alerts.of(pid, rule="low_spo2", kind="raised"), 30, "low_spo2 raised"
            )
            assert web.post("/api/patients/NOBODY-x/end-monitoring", json={}).status_code == 404
            r = web.post(
                f"/api/patients/{pid}/end-monitoring", json={"reason": "discharged", "by": "RN Api"}
            )
            assert r.status_code == 200, r.text
            assert (r.json()["kind"], r.json()["by"]) == ("ended", "RN Api")
            (cleared,) = wait_until(
                lambda: alerts.of(pid, rule="low_spo2", kind="cleared"), 30, "low_spo2 closed"
            )
            assert cleared["message"].endswith("(monitoring ended)")
            wait_until(lambda: not active_rules(session, keyspace, pid), 30, "no active alert")
            assert alerts.of(pid) == []  # and telemetry lost was never raised
            assert web.get(f"/patients/{pid}").status_code == 200
            assert web.get("/patients/NOBODY-x").status_code == 404
    finally:
        c.stop()
        alerts.close()
