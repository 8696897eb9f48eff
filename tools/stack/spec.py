"""What one server of a local stack is: its jars, ports, directories and how it is probed.

A ``Spec`` is a plain value built by ``Stack`` (see ``tools.stack``) for one service
of one stack (``kafka``, ``cassandra``, or a cluster member ``cassandra-2``). Nothing
here reads the environment: the stack resolved its directory, ports and options once.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tools import secure_stack

ROOT = Path(__file__).resolve().parents[2]
JDK17_JAVA = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"
KAFKA_VERSION = "4.1.1"
CASSANDRA_VERSION = "5.0.6"
LOG4J_VERSION = "2.24.3"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
KAFKA_CLUSTER_ID = "dml0YWxzLWxvY2FsLWtmaw"  # base64url(b"vitals-local-kfk"), fixed
CASSANDRA_CLUSTER_NAME = "vitals-local"
LOG_TAIL_LINES = 30
STOP_TIMEOUT = 30.0

# The --nodes 3 cluster: fixed loopback addresses, distinct from the single node's 127.0.0.1.
CLUSTER_SIZE = 3
CLUSTER_CASSANDRA_HOSTS = tuple(f"127.0.0.{11 + i}" for i in range(CLUSTER_SIZE))
CLUSTER_KAFKA_HOSTS = tuple(f"127.0.0.{21 + i}" for i in range(CLUSTER_SIZE))
CLUSTER_KAFKA_SERVERS = tuple(f"{h}:9092" for h in CLUSTER_KAFKA_HOSTS)
CLUSTER_CASSANDRA_JMX_PORTS = tuple(7211 + i for i in range(CLUSTER_SIZE))


# fmt: off
KAFKA_JVM_FLAGS = [
    "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
    "-Dlog4j2.shutdownHookEnabled=false",  # else logging stops before Kafka's shutdown does
]
CASSANDRA_HEAP = ["-Xms1536m", "-Xmx1536m"]  # 768m ran out under `make bench` batch ceilings
CLUSTER_KAFKA_HEAP = ["-Xms256m", "-Xmx384m"]  # six JVMs share 2 cores: keep them small
CLUSTER_CASSANDRA_HEAP = ["-Xms512m", "-Xmx512m"]
CASSANDRA_JVM_FLAGS = [
    "-Xss256k", "-XX:+ExitOnOutOfMemoryError",
    "-Dcassandra-foreground=yes", "-Djava.net.preferIPv4Stack=true",
    "-Dchronicle.analytics.disable=true", "-Dcassandra.ring_delay_ms=1000",
    "-Dcassandra.skip_wait_for_gossip_to_settle=0", "-Dcassandra.superuser_setup_delay_ms=0",
]
# fmt: on


class ServiceError(RuntimeError):
    """A service could not be fetched, started, probed or stopped."""


@dataclass(frozen=True)
class Spec:
    """One server of a stack. ``all_ports``: client port first (Kafka: +controller;
    Cassandra: +storage, +JMX on loopback); ``root``: where its directory and pid file live;
    ``secure``: the generated CA/keystores when this single node runs secured."""

    name: str
    version: str
    artifacts: tuple[str, ...]  # groupId:artifactId:version
    main_class: str
    config_name: str  # file under conf/ whose absolute path appears on the command line
    all_ports: tuple[int, ...]
    timeout_s: float  # seconds to wait for it to answer after a start
    prepare: Callable[[Spec], list[str]]  # writes configs, returns the java command
    probe: Callable[[Spec], bool]  # answers now?
    root: Path  # where dir and pid file live
    cache: Path  # the jar cache shared by every stack
    host: str = "127.0.0.1"
    node: int = 0  # 1..CLUSTER_SIZE for a cluster member, 0 for the single node
    peers: tuple[str, ...] = ()  # hosts of every member of this node's cluster
    auth: bool = False  # Cassandra PasswordAuthenticator (superuser cassandra/cassandra)
    secure: secure_stack.Files | None = None

    @property
    def kind(self) -> str:
        return "kafka" if self.main_class == "kafka.Kafka" else "cassandra"

    @property
    def dir(self) -> Path:
        return self.root / self.name

    @property
    def conf_dir(self) -> Path:
        return self.dir / "conf"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def log_file(self) -> Path:
        return self.dir / "log" / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.root / f"{self.name}.pid"

    @property
    def lib_dir(self) -> Path:
        return self.cache / f"{self.kind}-{self.version}"

    def port(self) -> int:
        return self.all_ports[0]

    def ports(self) -> list[int]:
        return list(self.all_ports)

    def endpoints(self) -> list[tuple[str, int]]:
        """(address, port) of every socket the server listens on."""
        hosts = [self.host] * len(self.all_ports)
        if self.kind == "cassandra":
            hosts[-1] = "127.0.0.1"  # cassandra.jmx.local.port listens on loopback only
        return list(zip(hosts, self.all_ports, strict=True))

    def probe_now(self) -> bool:
        return self.probe(self)

    def timeout(self) -> float:
        return self.timeout_s

    def secure_files(self) -> secure_stack.Files:
        """The secured node's CA, keystores and passwords, generated on first use."""
        assert self.secure is not None, f"{self.name} does not run secured"
        try:
            return secure_stack.ensure(self.secure)
        except secure_stack.SecureStackError as e:
            raise ServiceError(str(e)) from None


@dataclass(frozen=True)
class Status:
    """One line of `services.py status`."""

    name: str
    running: bool
    pid: int | None
    port: int
    answering: bool
    host: str = "127.0.0.1"

    def line(self) -> str:
        state = "running" if self.running else "stopped"
        single = self.host == "127.0.0.1"
        where = str(self.port) if single else f"{self.host}:{self.port}"
        width = 10 if single else 11  # cassandra-N
        return (
            f"{self.name:<{width}} {state:<8} pid {self.pid or '-':<8} port {where:<6} "
            f"answering {'yes' if self.answering else 'no'}"
        )


def say(msg: str) -> None:
    print(msg, flush=True)


def java() -> str:
    """The java binary: VITALS_JAVA, else JDK 17, else the one on PATH."""
    found = os.environ.get("VITALS_JAVA")
    if found:
        return found
    if Path(JDK17_JAVA).exists():
        return JDK17_JAVA
    found = shutil.which("java")
    if not found:
        raise ServiceError("no java found (set VITALS_JAVA to a JDK 11/17 java binary)")
    return found
