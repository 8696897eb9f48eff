"""What tests import (never conftest.py): the shared harness (harness/, also used by bench/),
plus what only tests need: consumer subprocesses, rows read back, whole topics read."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Sequence

from kafka import KafkaConsumer

from harness import (
    CASSANDRA_HOST,
    CASSANDRA_PORT,
    KAFKA,
    ROOT,
    Topics,
    committed_and_end,
    run_vitals,
    vitals_argv,
    wait_until,
)
from harness import vitals_env as harness_env

__all__ = [  # the harness's names, for tests to import from here
    "CASSANDRA_HOST",
    "CASSANDRA_PORT",
    "KAFKA",
    "ROOT",
    "Topics",
    "committed_and_end",
    "run_vitals",
    "wait_until",
]

#: One reading raises (tests/rules_immediate.yaml): what a `vitals` under test runs with.
IMMEDIATE_RULES = str(ROOT / "tests" / "rules_immediate.yaml")


def vitals_env(
    topics: Topics, keyspace: str, *, kafka: str = KAFKA, cassandra_port: int = CASSANDRA_PORT
) -> dict[str, str]:
    """Environment for a `vitals` subprocess pointed at this test's topics and keyspace,
    with the rules where one reading raises (tests of telemetry-lost set their own timeout)."""
    return harness_env(
        topics, keyspace, kafka=kafka, cassandra_port=cassandra_port, VITALS_RULES=IMMEDIATE_RULES
    )


RUNNING: list[VitalsProcess] = []


def kill_leftovers() -> None:
    """Kill what a failed test left running (called by an autouse fixture)."""
    while RUNNING:
        p = RUNNING.pop()
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait(10)
        for stream in (p.proc.stdout, p.proc.stderr):
            if stream and not stream.closed:
                stream.close()


class VitalsProcess:
    """A `python -m vitals …` subprocess whose stdout/stderr lines are collected."""

    def __init__(self, args: Sequence[str], env: dict[str, str]) -> None:
        RUNNING.append(self)
        self.proc = subprocess.Popen(
            vitals_argv(*args),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.out + self.err)

    def wait_for(self, needle: str, timeout: float = 30) -> None:
        wait_until(
            lambda: any(needle in ln for ln in self.out + self.err) or self.proc.poll() is not None,
            timeout,
            f"{needle!r} in the output",
        )
        assert any(needle in ln for ln in self.out + self.err), self.text()

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        for t in self._threads:
            t.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        if self in RUNNING:
            RUNNING.remove(self)
        return code


def start_consumer(
    topics: Topics, keyspace: str, *extra: str, env: dict[str, str] | None = None
) -> VitalsProcess:
    p = VitalsProcess(["consume", "--quiet", *extra], env or vitals_env(topics, keyspace))
    p.wait_for("Partitions assigned", timeout=60)
    return p


def stored_rows(session, keyspace: str, patient_ids: Sequence[str]) -> list:
    """Every row of these patients (any day), read from Cassandra through the patient index."""
    rows = []
    for pid in patient_ids:
        rows += list(
            session.execute(
                f"SELECT * FROM {keyspace}.patient_vitals WHERE patient_id = %s", (pid,), timeout=60
            )
        )
    return rows


def read_topic(topic: str, expected: int, timeout: float = 30, kafka: str = KAFKA) -> list:
    """Read ``expected`` records from the start of ``topic`` (fails if fewer arrive)."""
    c = KafkaConsumer(
        topic,
        bootstrap_servers=kafka,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    records = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            for batch in c.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        c.close()
    assert len(records) >= expected, f"only {len(records)} of {expected} records on {topic}"
    return records
