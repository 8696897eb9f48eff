"""Alerts end to end: a scripted patient raises and clears exactly the expected alerts,
in Cassandra and on the alerts topic, also across a consumer restart and a rules reload."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer

from tests.helpers import (
    KAFKA,
    committed_and_end,
    read_topic,
    start_consumer,
    vitals_env,
    wait_until,
)

pytestmark = pytest.mark.services

T0 = datetime(2025, 10, 26, 23, 59, 57, tzinfo=UTC)  # the episode crosses midnight UTC
# heart rate per reading; every other vital normal (NEWS2 stays below alert level)
SCRIPT = [80, 115, 118, 112, 107, 106, 100, 95]
#          ok  raise ----- active (hysteresis: clears only below 105) ---- cleared at 100


def reading(pid: str, i: int, hr: int) -> bytes:
    return json.dumps(
        {
            "patient_id": pid,
            "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
            "heart_rate": hr,
            "spo2": 97,
            "blood_pressure": {"systolic": 122, "diastolic": 78},
            "respiratory_rate": 15,
            "temperature": 36.8,
        }
    ).encode()


def send(topic: str, pid: str, items: list[tuple[int, int]]) -> None:
    p = KafkaProducer(bootstrap_servers=KAFKA)
    for i, hr in items:
        p.send(topic, key=pid.encode(), value=reading(pid, i, hr))
    p.flush()
    p.close()


def alert_rows(session, keyspace: str, pid: str) -> list[tuple[str, str, datetime, float]]:
    rows = []
    for day in ("2025-10-26", "2025-10-27"):
        rows += [
            (r.rule, r.kind, r.timestamp, r.value)
            for r in session.execute(
                f"SELECT * FROM {keyspace}.patient_alerts WHERE patient_id = %s AND day = %s",
                (pid, datetime.fromisoformat(day).date()),
            )
        ]
    return sorted(rows, key=lambda r: r[2])


EXPECTED = [
    ("high_heart_rate", "raised", datetime(2025, 10, 26, 23, 59, 58), 115.0),
    ("high_heart_rate", "cleared", datetime(2025, 10, 27, 0, 0, 3), 100.0),
]


def check_alerts(session, keyspace, topics, pid):
    assert alert_rows(session, keyspace, pid) == EXPECTED
    published = [json.loads(r.value) for r in read_topic(topics.alerts, 2)]
    assert [(a["rule"], a["kind"], a["value"]) for a in published] == [
        ("high_heart_rate", "raised", 115.0),
        ("high_heart_rate", "cleared", 100.0),
    ]
    assert published[0]["message"] == "High heart rate: 115"
    assert all(r.key == pid.encode() for r in read_topic(topics.alerts, 2))
    assert (
        list(
            session.execute(f"SELECT * FROM {keyspace}.active_alerts WHERE patient_id = %s", (pid,))
        )
        == []
    )


def test_a_scripted_patient_raises_once_and_clears_once(topics, keyspace, session):
    pid = f"A-{uuid.uuid4().hex[:6]}"
    c = start_consumer(topics, keyspace)
    send(topics.vitals, pid, list(enumerate(SCRIPT)))
    wait_until(
        lambda: committed_and_end(topics.vitals, topics.group)[0] == len(SCRIPT), 30, "all commits"
    )
    c.stop()
    check_alerts(session, keyspace, topics, pid)


def test_a_restart_in_the_middle_neither_repeats_nor_forgets_the_alert(topics, keyspace, session):
    pid = f"B-{uuid.uuid4().hex[:6]}"
    first, rest = list(enumerate(SCRIPT))[:4], list(enumerate(SCRIPT))[4:]
    c = start_consumer(topics, keyspace)
    send(topics.vitals, pid, first)
    wait_until(lambda: committed_and_end(topics.vitals, topics.group)[0] == 4, 30, "4 commits")
    assert c.stop(signal.SIGTERM) == 0
    active = list(
        session.execute(f"SELECT rule FROM {keyspace}.active_alerts WHERE patient_id = %s", (pid,))
    )
    assert [r.rule for r in active] == ["high_heart_rate"]

    c = start_consumer(topics, keyspace)  # a new owner: must restore the active alert
    send(topics.vitals, pid, rest)
    wait_until(
        lambda: committed_and_end(topics.vitals, topics.group)[0] == len(SCRIPT), 30, "all commits"
    )
    c.stop()
    check_alerts(session, keyspace, topics, pid)


def test_sighup_reloads_rules_and_an_invalid_file_keeps_the_old_ones(
    topics, keyspace, session, tmp_path
):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: hr\n    vital: heart_rate\n    above: 150\n    severity: high\n"
        "    message: 'HR {value}'\nnews2: {alerts: false}\n"
    )
    pid = f"C-{uuid.uuid4().hex[:6]}"
    c = start_consumer(topics, keyspace, "--rules", str(rules))
    send(topics.vitals, pid, [(0, 120)])
    wait_until(lambda: committed_and_end(topics.vitals, topics.group)[0] == 1, 30, "1 commit")
    assert alert_rows(session, keyspace, pid) == []

    rules.write_text(rules.read_text().replace("above: 150", "above: 100"))
    c.send(signal.SIGHUP)
    c.wait_for("rules reloaded")
    send(topics.vitals, pid, [(1, 120)])
    wait_until(lambda: alert_rows(session, keyspace, pid), 30, "an alert under the new rules")

    rules.write_text(rules.read_text().replace("vital: heart_rate", "vital: heart_rat"))
    c.send(signal.SIGHUP)
    c.wait_for("rules NOT reloaded")
    assert "heart_rat" in c.text()
    send(topics.vitals, pid, [(2, 90)])  # old (reloaded) rules still apply: 90 clears hr
    wait_until(lambda: len(alert_rows(session, keyspace, pid)) == 2, 30, "the clear")
    assert c.stop() == 0
    assert [r[1] for r in alert_rows(session, keyspace, pid)] == ["raised", "cleared"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "{f}: the file is empty"),
        (
            "rules:\n  - name: x\n    vital: heart_rat\n    above: 1\n    severity: low\n"
            "    message: m\n",
            "{f}:3: vital: unknown vital 'heart_rat'",
        ),
    ],
)
def test_consume_refuses_to_start_on_an_invalid_rules_file(
    topics, keyspace, tmp_path, text, message
):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    out = subprocess.run(
        [sys.executable, "-m", "vitals", "consume", "--rules", str(f)],
        env=vitals_env(topics, keyspace),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("Error: " + message.format(f=f)), out.stderr
    assert "Traceback" not in out.stderr


ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RULES = ROOT / "vitals" / "default_rules.yaml"


def test_a_labelled_ward_through_kafka_and_the_consumer_gives_the_replay_events(
    topics, keyspace, session, tmp_path
):
    """The consumer and `vitals rules replay` run one function (RuleEngine.assess): a
    recording sent through Kafka (1000x faster than recorded) and consumed with the default
    rules publishes exactly the events the offline replay prints for the same file."""
    tag = uuid.uuid4().hex[:6]
    ward, labels = tmp_path / "ward.csv", tmp_path / "ward.json"
    env = vitals_env(topics, keyspace)
    patients = ",".join(f"E{i}-{tag}" for i in range(6))
    simulate = ["produce", "--patients", patients, "--interval", "5", "--duration", "7200"]
    simulate += ["--seed", "3", "--start", "2025-03-01T08:00:00Z", "--output", str(ward)]
    subprocess.run(
        [sys.executable, "-m", "vitals", *simulate, "--labels", str(labels)],
        env=env,
        check=True,
        timeout=120,
    )
    replayed = subprocess.run(
        [sys.executable, "-m", "vitals", "rules", "replay", str(ward), "--format", "json"],
        env={**env, "VITALS_RULES": str(DEFAULT_RULES)},
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    *lines, _report = [json.loads(line) for line in replayed.stdout.splitlines()]
    expected = sorted(tuple(e.values()) for e in lines)
    assert {e[2] for e in expected} == {"raised", "escalated", "cleared"}  # seed 3: all kinds

    # rule events only: no technical alarm for the recording's lead-off gaps
    c = start_consumer(topics, keyspace, "--rules", str(DEFAULT_RULES), "--telemetry-timeout", "0")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "vitals",
            "produce",
            "--mode",
            "csv",
            "--csv",
            str(ward),
            "-q",
            "--speed",
            "1000",
        ],  # 2 h in 7 s: the events depend on the readings' own times
        env=env,
        check=True,
        timeout=180,
    )
    rows = len(ward.read_text().splitlines()) - 1
    wait_until(
        lambda: committed_and_end(topics.vitals, topics.group)[0] == rows, 120, "all commits"
    )
    c.stop()
    keys = ("patient_id", "rule", "kind", "severity", "timestamp", "value")
    published = [json.loads(r.value) for r in read_topic(topics.alerts, len(expected))]
    got = sorted(tuple(a[k] for k in keys) for a in published)
    assert got == expected


def scored(pid: str, i: int, **vitals: float) -> bytes:
    """A reading at T0 + i s: NEWS2 5 (RR 21, systolic 100, HR 91), or 7 with more."""
    body = {"respiratory_rate": 21, "heart_rate": 91, "spo2": 97, "temperature": 36.8, **vitals}
    return json.dumps(
        {
            "patient_id": pid,
            "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
            "blood_pressure": {"systolic": 100, "diastolic": 70},
            **body,
        }
    ).encode()


def test_an_escalation_is_stored_as_one_row_and_the_active_alert_at_its_new_severity(
    topics, keyspace, session
):
    pid = f"N-{uuid.uuid4().hex[:6]}"
    p = KafkaProducer(bootstrap_servers=KAFKA)
    for i, changes in enumerate([{}, {"temperature": 36.0, "spo2": 94}]):  # NEWS2 5, then 7
        p.send(topics.vitals, key=pid.encode(), value=scored(pid, i, **changes))
    p.flush()
    c = start_consumer(topics, keyspace)  # per-reading NEWS2 (tests/rules_immediate.yaml)
    wait_until(lambda: committed_and_end(topics.vitals, topics.group)[0] == 2, 30, "2 commits")
    active = session.execute(
        f"SELECT rule, severity, raised_at FROM {keyspace}.active_alerts WHERE patient_id = %s",
        (pid,),
    ).all()
    assert [(a.rule, a.severity, a.raised_at) for a in active] == [
        ("news2", "high", datetime(2025, 10, 26, 23, 59, 58))  # escalated at T0 + 1 s
    ]
    p.send(topics.vitals, key=pid.encode(), value=reading(pid, 2, 80))  # NEWS2 0: cleared
    p.flush()
    p.close()
    wait_until(lambda: committed_and_end(topics.vitals, topics.group)[0] == 3, 30, "3 commits")
    c.stop()
    rows = [(r[0], r[1], r[2]) for r in alert_rows(session, keyspace, pid)]
    assert rows == [
        ("news2", "raised", datetime(2025, 10, 26, 23, 59, 57)),
        ("news2", "escalated", datetime(2025, 10, 26, 23, 59, 58)),
        ("news2", "cleared", datetime(2025, 10, 26, 23, 59, 59)),
    ]
    severities = session.execute(
        f"SELECT kind, severity, raised_at FROM {keyspace}.patient_alerts "
        "WHERE patient_id = %s AND day = %s",
        (pid, datetime(2025, 10, 26).date()),
    ).all()
    assert sorted((r.kind, r.severity, r.raised_at) for r in severities) == [
        ("cleared", "high", datetime(2025, 10, 26, 23, 59, 58)),
        ("escalated", "high", datetime(2025, 10, 26, 23, 59, 57)),
        ("raised", "medium", None),
    ]
    assert (
        session.execute(
            f"SELECT * FROM {keyspace}.active_alerts WHERE patient_id = %s", (pid,)
        ).all()
        == []
    )
