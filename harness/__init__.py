"""One harness for the tests and the benchmarks: where the local services are, bounded
waits, the environment and command line of a ``vitals`` subprocess, and Kafka offsets.

Imported by ``tests/helpers.py`` (and through it by every test) and by ``bench/infra.py``;
never by the product (``vitals`` does not know it exists, and it is not packaged). The
services are the ones ``make up`` starts; ``VITALS_BOOTSTRAP_SERVERS``,
``VITALS_CASSANDRA_HOSTS``, ``KAFKA_PORT`` and ``CASSANDRA_PORT`` point it elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from vitals.config import KEYSPACE, CassandraSettings, KafkaSettings

ROOT = Path(__file__).resolve().parent.parent
KAFKA = os.environ.get(
    "VITALS_BOOTSTRAP_SERVERS", f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
)
CASSANDRA_HOST = os.environ.get("VITALS_CASSANDRA_HOSTS", "127.0.0.1")
CASSANDRA_PORT = int(os.environ.get("CASSANDRA_PORT", "9042"))


def wait_until(
    predicate: Callable[[], object], timeout: float, what: str, every: float = 0.1
) -> object:
    """Poll ``predicate`` every ``every`` s until truthy and return its value;
    ``TimeoutError`` naming ``what`` (and the last value) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every)
    raise TimeoutError(f"after {timeout:g} s: {what} (last value: {last!r})")


def kafka_settings(kafka: str = KAFKA) -> KafkaSettings:
    """The local Kafka, as the product's settings."""
    return KafkaSettings(bootstrap_servers=(kafka,))


def cassandra_settings(keyspace: str = KEYSPACE) -> CassandraSettings:
    """The local Cassandra and ``keyspace``, as the product's settings."""
    return CassandraSettings(hosts=(CASSANDRA_HOST,), port=CASSANDRA_PORT, keyspace=keyspace)


@dataclass(frozen=True)
class Topics:
    """The names one pipeline runs on: readings, alerts and dead-letter topics, and a group."""

    vitals: str
    alerts: str
    dlq: str
    group: str


def vitals_env(
    topics: Topics | None = None,
    keyspace: str | None = None,
    *,
    kafka: str = KAFKA,
    cassandra_port: int = CASSANDRA_PORT,
    **overrides: str,
) -> dict[str, str]:
    """This process's environment plus the ``VITALS_*`` variables of a ``vitals``
    subprocess pointed at the local services (and at ``topics``/``keyspace`` if given).

    Telemetry-lost is off (``VITALS_TELEMETRY_TIMEOUT=0``: streams in tests and benchmarks
    end on purpose), output unbuffered and uncoloured; ``overrides`` come last."""
    env = dict(os.environ)
    env.update(
        VITALS_BOOTSTRAP_SERVERS=kafka,
        VITALS_CASSANDRA_HOSTS=CASSANDRA_HOST,
        VITALS_CASSANDRA_PORT=str(cassandra_port),
        VITALS_TELEMETRY_TIMEOUT="0",
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
    )
    if topics is not None:
        env.update(
            VITALS_TOPIC=topics.vitals,
            VITALS_ALERTS_TOPIC=topics.alerts,
            VITALS_DLQ_TOPIC=topics.dlq,
            VITALS_GROUP=topics.group,
        )
    if keyspace is not None:
        env["VITALS_KEYSPACE"] = keyspace
    env.update(overrides)
    return env


def vitals_argv(*args: str) -> list[str]:
    """The command line of ``python -m vitals ARGS`` with this interpreter."""
    return [sys.executable, "-m", "vitals", *args]


def run_vitals(
    env: dict[str, str], *args: str, timeout: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``vitals ARGS`` to its end (``TimeoutExpired`` after ``timeout`` s), output kept."""
    return subprocess.run(
        vitals_argv(*args), env=env, input=stdin, capture_output=True, text=True, timeout=timeout
    )


class Offsets:
    """End offsets of a topic and committed offsets of groups, read by side clients
    (kept open: sampling them often is cheap). ``close()`` when done."""

    def __init__(self, topic: str, *, kafka: str = KAFKA) -> None:
        self.topic = topic
        self.kafka = kafka
        self._ends = KafkaConsumer(bootstrap_servers=[kafka], client_id="vitals-harness-ends")
        parts = self._ends.partitions_for_topic(topic) or ()
        self.tps = [TopicPartition(topic, p) for p in sorted(parts)]
        self._committed: dict[str, KafkaConsumer] = {}
        self._admin: KafkaAdminClient | None = None

    def ends(self) -> dict[int, int]:
        """Partition -> end offset (the next offset to be written)."""
        return {tp.partition: off for tp, off in self._ends.end_offsets(self.tps).items()}

    def committed(self, group: str) -> dict[int, int]:
        """Partition -> ``group``'s committed offset (0 if none)."""
        c = self._committed.get(group)
        if c is None:
            c = KafkaConsumer(
                bootstrap_servers=[self.kafka],
                group_id=group,
                enable_auto_commit=False,
                client_id="vitals-harness-committed",
            )
            self._committed[group] = c
        return {tp.partition: c.committed(tp) or 0 for tp in self.tps}

    def committed_all(self, group: str) -> dict[int, int]:
        """Committed offsets of every partition in one OffsetFetch (for frequent sampling)."""
        if self._admin is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=[self.kafka], client_id="vitals-harness-lag"
            )
        got = self._admin.list_group_offsets({group: self.tps}).get(group, {})
        return {
            tp.partition: (got[tp].offset if tp in got and got[tp].offset >= 0 else 0)
            for tp in self.tps
        }

    def caught_up(self, group: str, ends: dict[int, int]) -> bool:
        """Has ``group`` committed up to ``ends`` on every partition?"""
        got = self.committed(group)
        return all(got[p] >= e for p, e in ends.items())

    def close(self) -> None:
        self._ends.close()
        for c in self._committed.values():
            c.close()
        if self._admin is not None:
            self._admin.close()


def committed_and_end(topic: str, group: str, kafka: str = KAFKA) -> tuple[int, int]:
    """(sum of ``group``'s committed offsets, sum of the end offsets) over ``topic``."""
    offsets = Offsets(topic, kafka=kafka)
    try:
        return sum(offsets.committed(group).values()), sum(offsets.ends().values())
    finally:
        offsets.close()
