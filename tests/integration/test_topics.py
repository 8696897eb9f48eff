"""Topics are made by `vitals init` only: `vitals produce` never lets the broker auto-create one,
and refuses ids the consumer would dead-letter before anything is sent."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from kafka.admin import KafkaAdminClient

from tests.helpers import KAFKA, committed_and_end, vitals_env
from vitals.readings import PATIENT_ID_RULE

pytestmark = pytest.mark.services


def vitals(env: dict[str, str], *args: str) -> tuple[int, str]:
    out = subprocess.run(
        [sys.executable, "-m", "vitals", *args], env=env, capture_output=True, text=True, timeout=90
    )
    return out.returncode, out.stderr.strip()


def partitions(names: list[str]) -> dict[str, int]:
    """Partition count of each of ``names`` that exists."""
    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    try:
        present = [n for n in names if n in set(admin.list_topics())]
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(present)}
    finally:
        admin.close()


@pytest.fixture
def env(topics, keyspace):
    return vitals_env(topics, keyspace)


def test_produce_to_a_missing_topic_is_refused_and_creates_nothing(env):
    name = f"t.{uuid.uuid4().hex[:10]}.missing"
    code, err = vitals(env, "produce", "--count", "1", "--topic", name)
    assert code == 2, err
    assert err.splitlines()[-1] == (
        f"Error: topic {name!r} does not exist on {KAFKA}; "
        f"create it with `vitals init --topic {name}` (or check the name)"
    )
    assert partitions([name]) == {}


def test_init_creates_the_named_topics(env):
    tag = uuid.uuid4().hex[:10]
    names = [f"t.{tag}.v", f"t.{tag}.a", f"t.{tag}.d"]
    args = ["--topic", names[0], "--alerts-topic", names[1], "--dlq-topic", names[2]]
    code, err = vitals(env, "init", "--partitions", "2", *args)
    assert code == 0, err
    assert partitions(names) == {names[0]: 2, names[1]: 2, names[2]: 1}
    code, err = vitals(env, "produce", "--count", "4", "--quiet", "--topic", names[0])
    assert code == 0, err
    assert committed_and_end(names[0], "nobody")[1] == 4


@pytest.mark.parametrize(
    ("patients", "reason"),
    [
        (
            "P1," + "X" * 76,
            f"'XXXXXXXXXXXXXXXXXXXX…' is not a patient id ({PATIENT_ID_RULE}); this one has 76",
        ),
        ("P1,bed\t7", f"'bed\\t7' is not a patient id ({PATIENT_ID_RULE})"),
        ("W3/12", f"'W3/12' is not a patient id ({PATIENT_ID_RULE})"),
    ],
)
def test_produce_refuses_a_patient_id_the_consumer_would_refuse(env, topics, patients, reason):
    code, err = vitals(env, "produce", "--count", "2", "--patients", patients)
    assert code == 2, err
    assert err.splitlines()[-1] == f"Error: invalid patient id: {reason}; nothing was sent"
    assert committed_and_end(topics.vitals, topics.group)[1] == 0
