"""What every benchmark needs: fresh topics and keyspaces, `vitals` subprocesses, waits.

Everything the harness creates carries the run's prefix (``bench_<id>``) and is
registered in a ``Scratch`` so it is removed at the end even after a failure.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cassandra.cluster import Cluster, Session
from cassandra.concurrent import execute_concurrent_with_args
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import UnknownTopicOrPartitionError

import harness
from harness import KAFKA, ROOT, Offsets, Topics, cassandra_settings, vitals_argv, vitals_env
from vitals.store import apply_schema, connect

__all__ = [  # the harness's names bench modules import from here
    "KAFKA",
    "ROOT",
    "Offsets",
    "Topics",
    "cassandra_settings",
    "vitals_env",
]

PARTITIONS = 6

#: ``harness.wait_until`` polling every 50 ms: a benchmark's clock stops within that.
wait_until = functools.partial(harness.wait_until, every=0.05)


# --- machine -------------------------------------------------------------------------------


def machine() -> dict[str, object]:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": model,
        "kernel": platform.release(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def versions(session: Session) -> dict[str, str]:
    from importlib.metadata import version

    from tools import services

    row = session.execute("SELECT release_version FROM system.local").one()
    return {
        "python": platform.python_version(),
        "kafka-python": version("kafka-python"),
        "cassandra-driver": version("cassandra-driver"),
        "msgspec": version("msgspec"),
        "kafka": services.KAFKA_VERSION,
        "cassandra": row.release_version,
    }


def service_pid(name: str) -> int | None:
    """Pid of a `make up` service, read from its pid file (never modified here)."""
    base = Path(os.environ.get("VITALS_SERVICES_DIR") or ROOT / ".services")
    try:
        pid = int((base / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a live process (0 if unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- scratch resources ---------------------------------------------------------------------


@dataclass
class Scratch:
    """Topics and keyspaces of one bench run; ``cleanup()`` removes them all."""

    run_id: str
    cluster: Cluster
    session: Session
    admin: KafkaAdminClient
    topics: list[str] = field(default_factory=list)
    keyspaces: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    @classmethod
    def open(cls) -> Scratch:
        cluster, session = connect(cassandra_settings(), keyspace=None)
        admin = KafkaAdminClient(bootstrap_servers=[KAFKA], client_id="vitals-bench")
        run_id = datetime.now(UTC).strftime("%H%M%S") + uuid.uuid4().hex[:4]
        return cls(run_id, cluster, session, admin)

    def name(self, what: str) -> str:
        return f"bench_{self.run_id}_{what}_{uuid.uuid4().hex[:4]}"

    def topic(self, what: str, partitions: int = PARTITIONS) -> str:
        name = self.name(what).replace("_", "-")
        self.admin.create_topics(
            [NewTopic(name, partitions, 1)], timeout_ms=30_000, wait_for_metadata=True
        )
        self.topics.append(name)
        return name

    def group(self, what: str) -> str:
        g = self.name(what)
        self.groups.append(g)
        return g

    def keyspace(self, what: str) -> str:
        ks = self.name(what)
        self.keyspaces.append(ks)
        apply_schema(self.session, ks)
        return ks

    def drop_keyspace(self, ks: str) -> None:
        self.session.execute(f"DROP KEYSPACE IF EXISTS {ks}", timeout=120)
        if ks in self.keyspaces:
            self.keyspaces.remove(ks)

    def drop_topics(self, topics: Sequence[str]) -> None:
        if not topics:
            return
        with contextlib.suppress(UnknownTopicOrPartitionError):
            self.admin.delete_topics(list(topics), timeout_ms=30_000)
        for t in topics:
            if t in self.topics:
                self.topics.remove(t)

    def cleanup(self) -> list[str]:
        """Remove everything still registered; returns what could not be removed."""
        problems = []
        for ks in list(self.keyspaces):
            try:
                self.drop_keyspace(ks)
            except Exception as e:
                problems.append(f"keyspace {ks}: {e}")
        try:
            self.drop_topics(list(self.topics))
        except Exception as e:
            problems.append(f"topics {self.topics}: {e}")
        if self.groups:
            try:
                self.admin.delete_groups(list(self.groups))
            except Exception as e:  # groups expire on their own; worth a note only
                problems.append(f"groups: {e}")
        self.admin.close()
        self.cluster.shutdown()
        return problems


# --- rows in Cassandra ---------------------------------------------------------------------


def days_between(start: datetime, end: datetime) -> list[date]:
    d, out = start.date(), []
    while d <= end.date():
        out.append(d)
        d += timedelta(days=1)
    return out


def count_rows(session: Session, keyspace: str, patients: Iterable[str], days: list[date]) -> int:
    """Rows of ``patient_vitals``, counted partition by partition (prepared, concurrent)."""
    stmt = session.prepare(
        f"SELECT COUNT(*) FROM {keyspace}.patient_vitals WHERE patient_id = ? AND day = ?"
    )
    args = [(p, d) for p in patients for d in days]
    results = execute_concurrent_with_args(session, stmt, args, concurrency=64)
    total = 0
    for ok, rows in results:
        if not ok:
            raise rows
        total += rows.one()[0]
    return total


# --- `vitals` subprocesses -----------------------------------------------------------------


class VitalsProc:
    """``python -m vitals ARGS`` with timestamped stderr lines and its peak RSS at exit."""

    def __init__(self, args: Sequence[str], env: dict[str, str], prefix: Sequence[str] = ()):
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [*prefix, *vitals_argv(*args)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[tuple[float, str]] = []
        self.maxrss_mb: float | None = None  # VmHWM of the process (its own mm, after exec)
        self.cpu_s: float | None = None
        self.ended: float | None = None
        self.returncode: int | None = None
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()
        self._hwm = threading.Thread(target=self._sample_hwm, daemon=True)
        self._hwm.start()

    def _sample_hwm(self) -> None:
        # wait4's ru_maxrss also counts the parent's memory copied at fork, so the peak
        # is read from /proc (VmHWM is monotonic; the last sample is within 50 ms of exit)
        while self.returncode is None:
            hwm = peak_rss_mb(self.pid)
            if hwm is None:
                return
            self.maxrss_mb = max(self.maxrss_mb or 0.0, hwm)
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def first(self, needle: str) -> float | None:
        return next((t for t, ln in list(self.lines) if needle in ln), None)

    def last_line(self, needle: str) -> str | None:
        return next((ln for _t, ln in reversed(list(self.lines)) if needle in ln), None)

    def text(self) -> str:
        return "\n".join(ln for _t, ln in self.lines[-20:])

    def alive(self) -> bool:
        """True until the process exits (checked without reaping it: rusage stays)."""
        if self.returncode is not None:
            return False
        return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None

    def wait_for(self, needle: str, timeout: float = 60) -> float:
        def seen() -> float | None:
            if not self.alive() and self.first(needle) is None:
                raise RuntimeError(f"`vitals` exited before printing {needle!r}:\n{self.text()}")
            return self.first(needle)

        return wait_until(seen, timeout, f"{needle!r} from pid {self.pid}")  # type: ignore[return-value]

    def finish(self, sig: int | None = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal (unless None), reap with ``wait4`` and keep peak RSS and CPU time."""
        if self.returncode is not None:
            return self.returncode
        hwm = peak_rss_mb(self.pid)
        if hwm is not None:
            self.maxrss_mb = max(self.maxrss_mb or 0.0, hwm)
        if sig is not None and self.alive():
            os.kill(self.pid, sig)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(self.pid, 0)
                break
            time.sleep(0.02)
        self.ended = time.monotonic()
        self.returncode = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.returncode
        self.cpu_s = usage.ru_utime + usage.ru_stime
        self._pump.join(5)
        return self.returncode

    def run_for(self, seconds: float, sig: int = signal.SIGINT) -> int:
        """Let it exit on its own within ``seconds`` of wall time, else ``sig`` it."""
        deadline = self.started + seconds
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.finish(sig if self.alive() else None)

    def kill(self) -> None:
        if self.returncode is None:
            if self.alive():
                os.kill(self.pid, signal.SIGKILL)
            self.finish(None, timeout=10)


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of a live process."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
