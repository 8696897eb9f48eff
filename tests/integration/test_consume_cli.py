"""What `vitals consume` tells its operator, against the real servers: alert lines that name
the patient, which rules it runs (file, count, digest), SIGHUP reports, metrics and /health."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kafka.admin import KafkaAdminClient
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import KAFKA, VitalsProcess, committed_and_end, vitals_env, wait_until
from vitals.metrics import GroupLag, Metrics
from vitals.producer import VitalsProducer
from vitals.readings import Reading

pytestmark = pytest.mark.services

RULES = (
    "rules:\n  - name: hr\n    vital: heart_rate\n    above: 150\n    severity: high\n"
    "    message: 'HR {value}'\nnews2: {alerts: false}\n"
)


def pid() -> str:
    return f"K{uuid.uuid4().hex[:6].upper()}"


def send(kafka_settings, topic: str, readings: list[Reading]) -> None:
    with VitalsProducer(kafka=kafka_settings, topic=topic) as producer:
        for r in readings:
            producer.send(r)
    assert producer.stats.failed == 0


def reading(patient: str, seconds_ago: float, hr: int) -> Reading:
    return Reading(
        patient, datetime.now(UTC) - timedelta(seconds=seconds_ago), hr, 97, 120, 75, 16, 37.0
    )


def consumer(topics, keyspace, *args: str, shipped_rules: bool = False) -> VitalsProcess:
    env = vitals_env(topics, keyspace)
    if shipped_rules:
        del env["VITALS_RULES"]
    p = VitalsProcess(["consume", *args], env)
    p.wait_for("Partitions assigned", timeout=60)
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_alert_lines_name_the_patient(kafka_settings, topics, keyspace, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    c = consumer(topics, keyspace, "--rules", str(rules))
    a, b = pid(), pid()
    send(kafka_settings, topics.vitals, [reading(a, 2, 160), reading(b, 2, 80), reading(a, 1, 80)])
    c.wait_for(f"<<< CLEARED {a}: ")
    assert c.stop() == 0
    assert f"  >>> ALERT {a}: HR 160" in c.out
    assert not [ln for ln in c.out if ">>>" in ln and a not in ln]


def test_the_rules_file_and_its_sha256_are_logged_at_start(topics, keyspace, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    digest = hashlib.sha256(rules.read_bytes()).hexdigest()
    c = consumer(topics, keyspace, "--quiet", "--rules", str(rules))
    assert c.stop() == 0
    assert f"rules: {rules.resolve()}: 1 rule, sha256 {digest}" in c.err


def test_the_shipped_rules_are_named_when_no_file_is_given(topics, keyspace):
    c = consumer(topics, keyspace, "--quiet", shipped_rules=True)
    assert c.stop() == 0
    line = next(ln for ln in c.err if ln.startswith("rules: "))
    assert "default_rules.yaml (the shipped defaults): " in line
    assert " rules + NEWS2 alerts, sha256 " in line


def test_sighup_reports_a_bad_file_once_and_a_good_one_with_file_and_count(
    topics, keyspace, tmp_path
):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    c = consumer(topics, keyspace, "--quiet", "--rules", str(rules))
    rules.write_text(RULES.replace("vital: heart_rate", "vital: heart_rat"))
    c.send(signal.SIGHUP)
    c.wait_for("rules NOT reloaded")
    two = RULES.replace(
        "news2:",
        "  - name: lo\n    vital: spo2\n    below: 85\n    severity: high\n"
        "    message: 'SpO2 {value}'\nnews2:",
    )
    rules.write_text(two)
    c.send(signal.SIGHUP)
    c.wait_for("rules reloaded")
    assert c.stop() == 0
    assert len([ln for ln in c.err if "heart_rat'" in ln]) == 1, c.text()
    digest = hashlib.sha256(two.encode()).hexdigest()
    assert f"rules reloaded: {rules.resolve()}: 2 rules, sha256 {digest}" in c.err


def test_metrics_listen_on_loopback_and_serve_health_and_lag(topics, keyspace):
    port = free_port()
    c = consumer(topics, keyspace, "--quiet", "--metrics-port", str(port))
    assert f"metrics on http://127.0.0.1:{port}/metrics, health on /health" in c.err
    # the group may rebalance once right after joining (revoke, then assign): wait it out
    status, body = wait_until(
        lambda: (r := get(f"http://127.0.0.1:{port}/health"))[0] == 200 and r,
        30,
        "a healthy member",
    )
    assert (status, json.loads(body)["status"], json.loads(body)["partitions"]) == (200, "ok", 3)
    status, text = get(f"http://127.0.0.1:{port}/metrics")
    lag = {
        (s.labels["topic"], s.labels["partition"]): s.value
        for f in text_string_to_metric_families(text.decode())
        for s in f.samples
        if s.name == "vitals_consumer_lag_records"
    }
    assert lag == {(topics.vitals, str(p)): 0 for p in range(3)}
    assert get(f"http://127.0.0.1:{port}/nothing")[0] == 404
    assert c.stop() == 0


def test_metrics_bind_to_the_address_given(topics, keyspace):
    port = free_port()
    c = consumer(
        topics, keyspace, "--quiet", "--metrics-port", str(port), "--metrics-host", "127.0.0.2"
    )
    wait_until(lambda: get(f"http://127.0.0.2:{port}/health")[0] == 200, 30, "healthy on .2")
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
    assert c.stop() == 0


def test_lag_counts_the_records_an_owned_partition_has_not_committed(kafka_settings, topics):
    patient = pid()
    send(kafka_settings, topics.vitals, [reading(patient, 50 - i, 80) for i in range(50)])
    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    try:  # the group "has read nothing yet": committed offset 0 on every partition
        admin.alter_group_offsets(
            topics.group,
            {TopicPartition(topics.vitals, p): OffsetAndMetadata(0, "", -1) for p in range(3)},
        )
    finally:
        admin.close()
    assert committed_and_end(topics.vitals, topics.group) == (0, 50)
    lag = GroupLag(kafka_settings, topics.group)
    assert lag.lag() == {}  # owns nothing yet
    lag.assign([TopicPartition(topics.vitals, p) for p in range(3)])
    owned = lag.lag()
    assert sum(owned.values()) == 50 and len(owned) == 3
    mine = max(owned, key=owned.get)  # the patient's partition holds all 50
    lag.revoke([tp for tp in owned if tp != mine])
    assert lag.lag() == {mine: 50}


def test_metrics_default_to_loopback():
    m = Metrics.serve(0)
    try:
        assert m.server.server_address[0] == "127.0.0.1"
    finally:
        m.server.shutdown()
        m.server.server_close()


def test_alert_lines_say_where_a_registered_patient_lies(
    kafka_settings, topics, keyspace, session, tmp_path
):
    from vitals.register import Register

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    a = pid()
    Register(session).set(a, ward="Ward 7", bed="7", by="test")
    c = consumer(topics, keyspace, "--rules", str(rules))
    send(kafka_settings, topics.vitals, [reading(a, 2, 160), reading(a, 1, 80)])
    c.wait_for(f"<<< CLEARED {a} (Ward 7 · Bed 7): ")
    assert c.stop() == 0
    assert f"  >>> ALERT {a} (Ward 7 · Bed 7): HR 160" in c.out
