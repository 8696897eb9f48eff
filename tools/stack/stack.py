"""``Stack``: one local Kafka + Cassandra (or the 3+3 cluster) with its own directory and ports.

A stack is a value: its state directory, its ports and options, resolved once when it
is made (``Stack.from_env()`` reads the variables ``make up`` and the tests set; tests
build ``Stack(dir=..., ports=Ports(...))`` directly). Every operation takes the
directory's lock, so parallel callers (pytest workers, two terminals) never start a
server twice. The cluster (``nodes=3``) lives under ``<dir>/cluster`` on fixed
loopback addresses, next to the single node.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tools import secure_stack
from tools.stack import cassandra, kafka
from tools.stack.jars import ensure_lib
from tools.stack.processes import await_exit, failure, launch, locked, log_tail, pid, send
from tools.stack.spec import (
    CASSANDRA_VERSION,
    CLUSTER_CASSANDRA_HOSTS,
    CLUSTER_CASSANDRA_JMX_PORTS,
    CLUSTER_KAFKA_HOSTS,
    CLUSTER_SIZE,
    KAFKA_VERSION,
    LOG4J_VERSION,
    LOG_TAIL_LINES,
    ROOT,
    STOP_TIMEOUT,
    ServiceError,
    Spec,
    Status,
    say,
)

#: ``--secure`` asked for through the environment (``make up-secure`` passes the flag).
SECURE_ENV = "VITALS_SERVICES_SECURE"
# Cassandra first: it is the slow one, so it gets going while Kafka formats its storage.
START_ORDER = ("cassandra", "kafka")
CLUSTER_CASSANDRA = tuple(f"cassandra-{i}" for i in range(1, CLUSTER_SIZE + 1))
CLUSTER_KAFKA = tuple(f"kafka-{i}" for i in range(1, CLUSTER_SIZE + 1))
ALL_NAMES = ("kafka", "cassandra", *CLUSTER_CASSANDRA, *CLUSTER_KAFKA)
_YES = ("1", "true", "yes")


@dataclass(frozen=True)
class Ports:
    """The single node's ports (the cluster's are fixed, on its own addresses)."""

    kafka: int = 9092
    kafka_controller: int = 9093
    cassandra: int = 9042
    cassandra_storage: int = 7000
    cassandra_jmx: int = 7199  # on loopback

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        """KAFKA_PORT, KAFKA_CONTROLLER_PORT, CASSANDRA_PORT, CASSANDRA_STORAGE_PORT,
        CASSANDRA_JMX_PORT; each unset one keeps its default."""
        d = cls()

        def get(name: str, default: int) -> int:
            return int(env.get(name) or default)

        return cls(
            kafka=get("KAFKA_PORT", d.kafka),
            kafka_controller=get("KAFKA_CONTROLLER_PORT", d.kafka_controller),
            cassandra=get("CASSANDRA_PORT", d.cassandra),
            cassandra_storage=get("CASSANDRA_STORAGE_PORT", d.cassandra_storage),
            cassandra_jmx=get("CASSANDRA_JMX_PORT", d.cassandra_jmx),
        )


@dataclass(frozen=True)
class Stack:
    """One stack: ``dir`` holds its configs, data, logs, pid files and (secured) its CA.

    ``secure``: start the single node secured (Kafka SASL_SSL/SCRAM, Cassandra TLS and
    passwords; a directory once secured stays so); ``auth``: Cassandra password
    authentication only (superuser cassandra/cassandra); ``cache``: the jar cache that
    every stack shares; timeouts in seconds to wait for an answer after a start.
    """

    dir: Path
    ports: Ports = field(default_factory=Ports)
    secure: bool = False
    auth: bool = False
    cache: Path = ROOT / ".services" / "lib"
    kafka_timeout: float = 60.0
    cassandra_timeout: float = 120.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Stack:
        """The stack the environment names: VITALS_SERVICES_DIR (default .services), the
        port variables of ``Ports.from_env``, VITALS_SERVICES_SECURE=1, CASSANDRA_AUTH=1,
        VITALS_SERVICES_CACHE, KAFKA_START_TIMEOUT (60), CASSANDRA_START_TIMEOUT (120)."""
        env = os.environ if env is None else env
        return cls(
            dir=Path(env.get("VITALS_SERVICES_DIR") or ROOT / ".services").resolve(),
            ports=Ports.from_env(env),
            secure=env.get(SECURE_ENV, "") in _YES,
            auth=env.get("CASSANDRA_AUTH", "") in _YES,
            cache=Path(env.get("VITALS_SERVICES_CACHE") or ROOT / ".services" / "lib")
            .expanduser()
            .resolve(),
            kafka_timeout=float(env.get("KAFKA_START_TIMEOUT") or 60.0),
            cassandra_timeout=float(env.get("CASSANDRA_START_TIMEOUT") or 120.0),
        )

    # -- what the stack is made of ---------------------------------------------------------

    @property
    def cluster_dir(self) -> Path:
        return self.dir / "cluster"

    @property
    def secure_files(self) -> secure_stack.Files:
        return secure_stack.Files(self.dir / "secure")

    def secured(self) -> bool:
        """The single node runs secured (asked for now, or set up so before)."""
        return self.secure or self.secure_files.complete.is_file()

    def _base(self, kind: str) -> Spec:
        files = self.secure_files if self.secured() else None
        p = self.ports
        if kind == "kafka":
            return Spec(
                name="kafka",
                version=KAFKA_VERSION,
                artifacts=(
                    f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
                    f"org.apache.logging.log4j:log4j-api:{LOG4J_VERSION}",
                    f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}",
                    f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}",
                ),
                main_class="kafka.Kafka",
                config_name="server.properties",
                all_ports=(p.kafka, p.kafka_controller),
                timeout_s=self.kafka_timeout,
                prepare=kafka.prepare,
                probe=kafka.probe,
                root=self.dir,
                cache=self.cache,
                secure=files,
            )
        return Spec(
            name="cassandra",
            version=CASSANDRA_VERSION,
            artifacts=(f"org.apache.cassandra:cassandra-all:{CASSANDRA_VERSION}",),
            main_class="org.apache.cassandra.service.CassandraDaemon",
            config_name="cassandra.yaml",
            all_ports=(p.cassandra, p.cassandra_storage, p.cassandra_jmx),
            timeout_s=self.cassandra_timeout,
            prepare=cassandra.prepare,
            probe=cassandra.probe,
            root=self.dir,
            cache=self.cache,
            auth=self.auth,
            secure=files,
        )

    def _member(self, kind: str, node: int) -> Spec:
        if kind == "cassandra":
            hosts = CLUSTER_CASSANDRA_HOSTS
            ports: tuple[int, ...] = (9042, 7000, CLUSTER_CASSANDRA_JMX_PORTS[node - 1])
        else:
            hosts, ports = CLUSTER_KAFKA_HOSTS, (9092, 9093)
        return dataclasses.replace(
            self._base(kind),
            name=f"{kind}-{node}",
            host=hosts[node - 1],
            root=self.cluster_dir,
            node=node,
            peers=hosts,
            all_ports=ports,
            secure=None,  # the cluster is never secured
        )

    def spec(self, name: str) -> Spec:
        """The server ``name`` (``kafka``, ``cassandra``, ``cassandra-2``, ``kafka-3``…)."""
        if name in ("kafka", "cassandra"):
            return self._base(name)
        kind, _, node = name.partition("-")
        if kind in ("kafka", "cassandra") and node.isdigit() and 1 <= int(node) <= CLUSTER_SIZE:
            return self._member(kind, int(node))
        raise ValueError(f"unknown service {name!r} (known: {', '.join(ALL_NAMES)})")

    def members(self, nodes: int = 1) -> dict[str, Spec]:
        """The single node's two servers (``nodes=1``) or the cluster's six."""
        if nodes == 1:
            return {name: self.spec(name) for name in ("kafka", "cassandra")}
        if nodes == CLUSTER_SIZE:
            return {name: self.spec(name) for name in (*CLUSTER_CASSANDRA, *CLUSTER_KAFKA)}
        raise ValueError(f"nodes must be 1 or {CLUSTER_SIZE}, not {nodes}")

    # -- questions -------------------------------------------------------------------------

    def pid(self, name: str) -> int | None:
        return pid(self.spec(name))

    def is_running(self, name: str) -> bool:
        return self.pid(name) is not None

    def answering(self, name: str) -> bool:
        return self.spec(name).probe_now()

    def log_tail(self, name: str, lines: int = LOG_TAIL_LINES) -> str:
        return log_tail(self.spec(name), lines)

    def status(self, nodes: int = 1) -> list[Status]:
        """One ``Status`` per server of the single node (or the cluster)."""
        out = []
        for name, spec in self.members(nodes).items():
            running = pid(spec)
            out.append(
                Status(name, running is not None, running, spec.port(), spec.probe_now(), spec.host)
            )
        return out

    def client_env(self) -> dict[str, str]:
        """VITALS_* variables for the vitals commands against this (secured) single node."""
        if not self.secured():
            raise ServiceError(f"{self.dir} holds no secured stack (start one with `up --secure`)")
        return secure_stack.client_env(self.secure_files, self.ports.kafka, self.ports.cassandra)

    # -- starting and stopping -------------------------------------------------------------

    def up(self, timeout: float | None = None, nodes: int = 1) -> None:
        """Start Kafka and Cassandra (in parallel) unless running; wait until both answer.

        ``nodes=3`` starts the cluster instead. ``timeout``: seconds per server (default
        the stack's). Raises ServiceError with the end of the log when one does not answer.
        """
        started = time.monotonic()
        if nodes == 1:
            with locked(self.dir):
                self._launch_many(list(START_ORDER), timeout)
        else:
            self.members(nodes)
            with locked(self.cluster_dir):
                self._cluster_up(timeout)
        say(f"up done in {time.monotonic() - started:.1f} s")

    def start(self, name: str, timeout: float | None = None) -> int:
        """Start one server unless running, wait until it answers; return its pid."""
        spec = self.spec(name)
        with locked(spec.root):
            self._launch_many([name], timeout)
            running = pid(spec)
        if running is None:
            raise ServiceError(f"{name}: not running after start")
        return running

    def stop(self, name: str, kill: bool = False, timeout: float = STOP_TIMEOUT) -> bool:
        """SIGTERM (or SIGKILL with ``kill``) one server and wait for it to exit.

        Returns False if it was not running. Works for cluster members too
        (``stop("cassandra-2", kill=True)``).
        """
        spec = self.spec(name)
        with locked(spec.root):
            stopped = send(spec, signal.SIGKILL if kill else signal.SIGTERM)
            if stopped is None:
                say(f"{name} not running")
                return False
            t0 = time.monotonic()
            await_exit(spec, stopped, timeout)
        how = "killed" if kill else "stopped"
        say(f"{name} {how} (pid {stopped}) in {time.monotonic() - t0:.1f} s")
        return True

    def down(self, purge: bool = False, nodes: int = 1) -> None:
        """Stop both servers (SIGTERM, then SIGKILL after 30 s); ``purge`` deletes their data
        (and a secured node's CA, keystores and passwords). ``nodes=3``: the cluster."""
        members = self.members(nodes)
        with locked(self.dir if nodes == 1 else self.cluster_dir):
            t0 = time.monotonic()
            signalled = {name: send(spec, signal.SIGTERM) for name, spec in members.items()}
            for name, stopped in signalled.items():
                if stopped is None:
                    say(f"{name} not running")
                    continue
                await_exit(members[name], stopped, STOP_TIMEOUT)
                say(f"{name} stopped (pid {stopped}) in {time.monotonic() - t0:.1f} s")
            if purge:
                for spec in members.values():
                    shutil.rmtree(spec.dir, ignore_errors=True)
                    say(f"{spec.name}: deleted {spec.dir}")
                files = self.secure_files
                if nodes == 1 and files.root.exists():
                    shutil.rmtree(files.root, ignore_errors=True)
                    say(f"secure: deleted {files.root} (CA, keystores, passwords)")

    def _wait_ready(self, waiting: dict[str, float], timeout: float | None) -> None:
        """Wait until every server in ``waiting`` (name -> launch time) answers."""
        pending = dict(waiting)
        while pending:
            for name, launched in list(pending.items()):
                spec = self.spec(name)
                limit = timeout if timeout is not None else spec.timeout()
                if pid(spec) is None:
                    raise failure(spec, "the JVM exited during startup")
                if spec.probe_now():
                    elapsed = time.monotonic() - launched
                    single = spec.host == "127.0.0.1"
                    where = spec.port() if single else f"{spec.host}:{spec.port()}"
                    say(f"{name} answered after {elapsed:.1f} s (pid {pid(spec)}, port {where})")
                    if spec.kind == "cassandra" and spec.secure is not None:
                        cassandra.secure_roles(spec)
                    del pending[name]
                elif time.monotonic() - launched > limit:
                    raise failure(
                        spec,
                        f"no answer on {spec.host}:{spec.port()} within {limit:.0f} s "
                        f"(pid {pid(spec)} left running; `services.py down` stops it)",
                    )
            if pending:
                time.sleep(0.5)

    def _launch_many(
        self, names: list[str], timeout: float | None, *, wait: bool = True
    ) -> dict[str, float]:
        """Launch those of ``names`` not running; wait for all unless ``wait`` is False.

        Returns {name: launch time} of the servers still to be waited for.
        """
        for name in names:  # fetch sequentially: concurrent mvn runs share ~/.m2
            ensure_lib(self.spec(name))
        waiting: dict[str, float] = {}
        for name in names:
            spec = self.spec(name)
            running = pid(spec)
            if running is not None and spec.probe_now():
                say(f"{name} already running (pid {running})")
            elif running is not None:
                say(f"{name} running (pid {running}) but not answering yet; waiting")
                waiting[name] = time.monotonic()
            else:
                waiting[name] = time.monotonic()
                launch(spec)
        if wait:
            self._wait_ready(waiting, timeout)
            return {}
        return waiting

    def _cluster_up(self, timeout: float | None) -> None:
        # The brokers all at once: none serves before 2 of the 3 controller voters are up.
        kafka_pending = self._launch_many(list(CLUSTER_KAFKA), timeout, wait=False)
        # A fresh ring is formed by one node; the others then join it together (no
        # streaming: each has its own token and nothing to fetch). Members of an existing
        # ring restart in any order, since every member is a seed.
        nodes = list(CLUSTER_CASSANDRA)
        if all(self.pid(n) is None for n in nodes):
            self._launch_many(nodes[:1], timeout)
        self._launch_many(nodes, timeout)
        self._wait_ready(kafka_pending, timeout)
        self.wait_ring(timeout=timeout or 60.0)

    # -- the cluster's ring ----------------------------------------------------------------

    def nodetool(self, node: str, *args: str, timeout: float = 120.0) -> str:
        """``nodetool ARGS`` against ``cassandra`` or ``cassandra-N``; its standard output."""
        return cassandra.nodetool(self.spec(node), *args, timeout=timeout)

    def ring(self, node: str = "cassandra-1") -> dict[str, str]:
        """The ring as ``node`` sees it: {address: "UN" | "DN" | "UJ" | ...}."""
        return cassandra.parse_status(self.nodetool(node, "status"))

    def wait_ring(self, timeout: float = 60.0) -> dict[str, dict[str, str]]:
        """Wait until every running cluster node sees all CLUSTER_SIZE nodes Up and Normal.

        Returns {node: its view}; raises ServiceError after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        want = dict.fromkeys(CLUSTER_CASSANDRA_HOSTS, "UN")
        views: dict[str, dict[str, str]] = {}
        while True:
            names = [n for n in CLUSTER_CASSANDRA if self.pid(n) is not None]
            procs = {
                n: subprocess.Popen(
                    cassandra.nodetool_cmd(self.spec(n), ["status"]),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
                for n in names
            }
            views = {}
            for n, proc in procs.items():
                out, _ = proc.communicate(timeout=120)
                views[n] = cassandra.parse_status(out) if proc.returncode == 0 else {}
            if len(views) == CLUSTER_SIZE and all(v == want for v in views.values()):
                shown = " ".join(f"{state} {addr}" for addr, state in sorted(want.items()))
                say(f"cassandra ring: {shown} (as seen by all {CLUSTER_SIZE} nodes)")
                return views
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"cassandra ring not all Up/Normal after {timeout:.0f} s: {views}"
                )
            time.sleep(1.0)
