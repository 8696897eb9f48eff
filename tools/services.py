"""Run a local Kafka and Cassandra on 127.0.0.1 without Docker.

The official Apache jars come from Maven Central through ``mvn`` and are cached,
configs are generated under ``.services/``, both JVMs start detached and the
launcher waits until each really answers (a Kafka metadata request, a CQL query).

    python tools/services.py up | down [--purge] | status | logs [NAME] [-n N]
    python tools/services.py start NAME | stop NAME [--kill]
    python tools/services.py up --nodes 3 | down --nodes 3 | status --nodes 3
    python tools/services.py nodetool cassandra-2 status

``--nodes 3`` is a separate cluster next to the single node, state under
``.services/cluster/``: Cassandra nodes cassandra-1..3 on 127.0.0.11-13 (native
9042, storage 7000, JMX 7211-7213 on 127.0.0.1) and Kafka brokers kafka-1..3 on
127.0.0.21-23 (9092, controller 9093), each broker also a KRaft controller (a
3-voter quorum). Every 127.0.0.x address is local, so nothing collides with the
single node on 127.0.0.1.

Importable for tests: up(nodes=1), down(nodes=1), start(name), stop(name, kill=False),
is_running(name), pid(name), answering(name), status(nodes=1), log_tail(name),
nodetool(node, *args), ring(node), CLUSTER_CASSANDRA_HOSTS, CLUSTER_KAFKA_SERVERS.

Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), CASSANDRA_PORT (9042),
CASSANDRA_STORAGE_PORT (7000), CASSANDRA_JMX_PORT (7199), KAFKA_START_TIMEOUT (60),
CASSANDRA_START_TIMEOUT (120), VITALS_SERVICES_CACHE (jar cache, default
.services/lib), VITALS_SERVICES_DIR (state of this stack, default .services),
CASSANDRA_AUTH=1 (PasswordAuthenticator; superuser cassandra/cassandra),
VITALS_JAVA (default: JDK 17).

``up --secure`` (or VITALS_SERVICES_SECURE=1) starts the single node secured instead:
Kafka SASL_SSL with SCRAM-SHA-512, Cassandra client TLS with password authentication,
from a CA and passwords generated under ``<services dir>/secure/`` (see
tools/secure_stack.py). A stack started so stays secured on later starts; ``env``
prints the VITALS_* variables that point the vitals commands at it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import functools
import gc
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

try:
    from tools import secure_stack
except ImportError:  # run as a script: tools/ itself is on sys.path
    import secure_stack  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
# VITALS_SERVICES_DIR gives a second, independent stack its own state (fault tests
# run one on other ports so that stopping it disturbs nothing else); jars are shared.
BASE = Path(os.environ.get("VITALS_SERVICES_DIR") or ROOT / ".services").resolve()
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
CLUSTER_BASE = BASE / "cluster"
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
    name: str
    version: str
    artifacts: tuple[str, ...]  # groupId:artifactId:version
    main_class: str
    config_name: str  # file under conf/ whose absolute path appears on the command line
    port_env: str
    default_port: int
    other_ports: tuple[tuple[str, int], ...]
    timeout_env: str
    default_timeout: float
    prepare: Callable[[Spec], list[str]]  # writes configs, returns the java command
    probe: Callable[[str, int], bool]  # (host, port) -> answers
    host: str = "127.0.0.1"
    root: Path = BASE  # where dir and pid file live
    node: int = 0  # 1..CLUSTER_SIZE for a cluster member, 0 for the single node
    peers: tuple[str, ...] = ()  # hosts of every member of this node's cluster
    fixed_ports: tuple[int, ...] = ()  # cluster members: not taken from the environment

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
        cache = os.environ.get("VITALS_SERVICES_CACHE") or str(ROOT / ".services" / "lib")
        return Path(cache).expanduser().resolve() / f"{self.kind}-{self.version}"

    def port(self) -> int:
        return self.ports()[0]

    def ports(self) -> list[int]:
        if self.fixed_ports:
            return list(self.fixed_ports)
        return [_env_int(self.port_env, self.default_port)] + [
            _env_int(env, d) for env, d in self.other_ports
        ]

    def endpoints(self) -> list[tuple[str, int]]:
        """(address, port) of every socket the server listens on."""
        hosts = [self.host] * len(self.ports())
        if self.kind == "cassandra":
            hosts[-1] = "127.0.0.1"  # cassandra.jmx.local.port listens on loopback only
        return list(zip(hosts, self.ports(), strict=True))

    def probe_now(self) -> bool:
        return self.probe(self.host, self.port())

    def timeout(self) -> float:
        return float(os.environ.get(self.timeout_env) or self.default_timeout)


@dataclass(frozen=True)
class Status:
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


SECURE_FILES = secure_stack.Files(BASE / "secure")


def secure_on() -> bool:
    """The single node of this services dir runs secured (asked for now, or set up so)."""
    return secure_stack.requested() or SECURE_FILES.complete.is_file()


def _secure_files() -> secure_stack.Files:
    try:
        return secure_stack.ensure(SECURE_FILES)
    except secure_stack.SecureStackError as e:
        raise ServiceError(str(e)) from None


def client_env() -> dict[str, str]:
    """VITALS_* variables for the vitals commands against this (secured) single node."""
    if not secure_on():
        raise ServiceError(f"{BASE} holds no secured stack (start one with `up --secure`)")
    kafka_port, cassandra_port = SPECS["kafka"].port(), SPECS["cassandra"].port()
    return secure_stack.client_env(SECURE_FILES, kafka_port, cassandra_port)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _java() -> str:
    java = os.environ.get("VITALS_JAVA")
    if java:
        return java
    if Path(JDK17_JAVA).exists():
        return JDK17_JAVA
    found = shutil.which("java")
    if not found:
        raise ServiceError("no java found (set VITALS_JAVA to a JDK 11/17 java binary)")
    return found


# --------------------------------------------------------------------------- jars


def _pom(spec: Spec) -> str:
    deps = "\n".join(
        "    <dependency><groupId>{}</groupId><artifactId>{}</artifactId>"
        "<version>{}</version></dependency>".format(*coord.split(":"))
        for coord in spec.artifacts
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.vitals.services</groupId>
  <artifactId>{spec.name}-libs</artifactId>
  <version>{spec.version}</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


def ensure_lib(spec: Spec) -> Path:
    """Return the jar folder of ``spec``, fetching it with mvn unless already complete."""
    lib = spec.lib_dir
    marker = lib / ".complete"
    if marker.is_file():
        return lib
    if not shutil.which("mvn"):
        raise ServiceError(f"{spec.name}: jars not cached in {lib} and mvn is not installed")
    partial = lib.with_name(lib.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    pom = partial / "pom.xml"
    pom.write_text(_pom(spec))
    _say(f"{spec.name}: fetching {', '.join(spec.artifacts)} with mvn (first run only) ...")
    started = time.monotonic()
    cmd = ["mvn", "-q", "-B", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:copy-dependencies"]
    cmd += [f"-DoutputDirectory={partial}", "-DincludeScope=runtime"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    jars = sorted(partial.glob("*.jar"))
    if result.returncode != 0 or not jars:
        output = "\n".join((result.stdout + result.stderr).splitlines()[-LOG_TAIL_LINES:])
        raise ServiceError(f"{spec.name}: mvn failed (exit {result.returncode}):\n{output}")
    size = sum(j.stat().st_size for j in jars) / 1e6
    (partial / ".complete").write_text(f"{len(jars)} jars\n")
    shutil.rmtree(lib, ignore_errors=True)
    partial.rename(lib)
    _say(f"{spec.name}: {len(jars)} jars ({size:.0f} MB) in {time.monotonic() - started:.1f} s")
    return lib


# ----------------------------------------------------------------------- kafka


def _kafka_cluster_settings(spec: Spec) -> dict[str, str]:
    """A broker that is also one of the KRaft controller voters; everything replicated 3x."""
    port, controller_port = spec.ports()
    host = spec.host
    voters = ",".join(f"{i}@{h}:{controller_port}" for i, h in enumerate(spec.peers, 1))
    rf, min_isr = str(len(spec.peers)), str(len(spec.peers) - 1)
    return {
        "process.roles": "broker,controller",
        "node.id": str(spec.node),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(spec.data_dir),
        "num.partitions": "6",
        "auto.create.topics.enable": "true",
        "default.replication.factor": rf,
        "min.insync.replicas": min_isr,
        "unclean.leader.election.enable": "false",
        "offsets.topic.replication.factor": rf,
        "offsets.topic.num.partitions": "6",
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        "broker.session.timeout.ms": "4000",
        "broker.heartbeat.interval.ms": "1000",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "log.cleaner.threads": "1",
    }


def _kafka_prepare(spec: Spec) -> list[str]:
    port, controller_port = spec.ports()
    for d in (spec.conf_dir, spec.data_dir, spec.log_file.parent):
        d.mkdir(parents=True, exist_ok=True)
    props = spec.conf_dir / spec.config_name
    settings = _kafka_cluster_settings(spec) if spec.node else {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(spec.data_dir),
        "num.partitions": "6",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "6",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # A SIGKILLed broker re-registers only after its old session expires (default 9 s);
        # shorter keeps kill-and-restart fault tests quick.
        "broker.session.timeout.ms": "4000",
        "broker.heartbeat.interval.ms": "1000",
    }  # fmt: skip
    secure = not spec.node and secure_on()
    if secure:
        settings.update(secure_stack.kafka_settings(_secure_files(), port, controller_port))
    props.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    if secure:
        props.chmod(0o600)  # holds the keystore and inter-broker passwords
    log4j = spec.conf_dir / "log4j2.xml"
    log4j.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="org.apache.kafka.common.config.AbstractConfig" level="WARN"/>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="STDOUT"/></Root>
  </Loggers>
</Configuration>
"""
    )
    classpath = f"{ensure_lib(spec)}/*"
    logging_opt = f"-Dlog4j2.configurationFile={log4j}"
    if not (spec.data_dir / "meta.properties").exists():
        fmt = [_java(), "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", logging_opt]
        fmt += ["-cp", classpath, "kafka.tools.StorageTool", "format"]
        fmt += ["-t", KAFKA_CLUSTER_ID, "-c", str(props), "--ignore-formatted"]
        if secure:  # SCRAM users go into the metadata log before the first start
            fmt += secure_stack.kafka_format_args(SECURE_FILES)
        result = subprocess.run(fmt, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ServiceError(f"kafka: storage format failed:\n{result.stdout}{result.stderr}")
    error_file = f"-XX:ErrorFile={spec.log_file.parent}/hs_err_%p.log"
    heap = CLUSTER_KAFKA_HEAP if spec.node else []  # the later -Xms/-Xmx win
    jvm = [_java(), *KAFKA_JVM_FLAGS, *heap, error_file, logging_opt]
    return [*jvm, "-cp", classpath, spec.main_class, str(props)]


@functools.cache
def _probe_admin_class() -> type:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    class ProbeAdmin(KafkaAdminClient):
        """KafkaAdminClient that stops its IO thread when bootstrapping fails."""

        def __init__(self, **configs: object) -> None:
            try:
                super().__init__(**configs)
            except KafkaError:
                self._closed = False
                with contextlib.suppress(AttributeError, KafkaError, OSError):
                    self.close()
                raise

    return ProbeAdmin


def _kafka_probe(host: str, port: int) -> bool:
    if not _port_open(port, host=host):
        return False
    from kafka.errors import KafkaError

    admin = None
    answered = False
    with _quiet("kafka"):
        try:
            secured = secure_stack.kafka_client_kwargs(SECURE_FILES) if _probe_secure(host) else {}
            admin = _probe_admin_class()(
                **secured,
                bootstrap_servers=f"{host}:{port}",
                client_id="vitals-services-probe",
                request_timeout_ms=3000,
                bootstrap_timeout_ms=3000,
            )
            admin.list_topics()
            answered = True
            if host != "127.0.0.1":  # a cluster member: answers once its peers are registered
                brokers = admin.describe_cluster().get("brokers", [])
                answered = len(brokers) >= CLUSTER_SIZE
        except (KafkaError, OSError):
            pass
        finally:
            if admin is not None:
                admin.close()
    if not answered:
        # kafka-python leaves the sockets of refused connects unclosed; collect them here,
        # where their ResourceWarning cannot reach a caller (pytest runs with "error").
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
    return answered


# ------------------------------------------------------------------- cassandra

CASSANDRA_JVM17_OPTIONS = """\
-XX:+UseG1GC
-XX:+ParallelRefProcEnabled
-XX:MaxTenuringThreshold=1
-XX:G1HeapRegionSize=16m
-XX:G1RSetUpdatingPauseTimePercent=5
-XX:MaxGCPauseMillis=300
-XX:InitiatingHeapOccupancyPercent=70
-Djdk.attach.allowAttachSelf=true
--add-exports java.base/jdk.internal.misc=ALL-UNNAMED
--add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
--add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
--add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
--add-exports java.sql/java.sql=ALL-UNNAMED
--add-exports java.base/java.lang.ref=ALL-UNNAMED
--add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
--add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
--add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
--add-opens java.base/java.lang.module=ALL-UNNAMED
--add-opens java.base/jdk.internal.loader=ALL-UNNAMED
--add-opens java.base/jdk.internal.ref=ALL-UNNAMED
--add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
--add-opens java.base/jdk.internal.math=ALL-UNNAMED
--add-opens java.base/jdk.internal.module=ALL-UNNAMED
--add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
--add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
--add-opens java.base/sun.nio.ch=ALL-UNNAMED
--add-opens java.base/java.io=ALL-UNNAMED
--add-opens java.base/java.lang.reflect=ALL-UNNAMED
--add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
--add-opens java.base/java.lang=ALL-UNNAMED
--add-opens java.base/java.util=ALL-UNNAMED
-Dio.netty.tryReflectionSetAccessible=true
-Dio.netty.allocator.useCacheForAllThreads=true
-Dio.netty.allocator.maxOrder=11
"""  # apache/cassandra conf/jvm17-server.options (5.0)

CASSANDRA_LOGBACK = """\
<configuration scan="false">
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %logger{0} - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
"""


def _cluster_token(node: int, size: int) -> int:
    """Evenly spaced Murmur3 token of cluster member ``node`` (1-based)."""
    return -(2**63) + (node - 1) * (2**64 // size)


def _cassandra_cluster_yaml(spec: Spec) -> str:
    # Every member is a seed (any survivor lets a restarting node in). A fresh ring holds
    # no data and each node brings its own evenly spaced token, so no node needs to
    # bootstrap (stream) and the second and third nodes can join at the same time.
    _port, storage_port, _jmx = spec.ports()
    seeds = ",".join(f"{h}:{storage_port}" for h in spec.peers)
    return f"""\
cluster_name: {CASSANDRA_CLUSTER_NAME}-cluster
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{seeds}"
initial_token: {_cluster_token(spec.node, len(spec.peers))}
auto_bootstrap: false
hinted_handoff_enabled: true
max_hint_window: 3h
"""


def _auth_on() -> bool:
    """CASSANDRA_AUTH=1: password authentication (default superuser cassandra/cassandra)."""
    return os.environ.get("CASSANDRA_AUTH", "") in ("1", "true", "yes")


def _probe_secure(host: str) -> bool:
    """Probe the single node (127.0.0.1) with TLS and credentials when it runs secured."""
    return host == "127.0.0.1" and secure_on()


def _auth_yaml(spec: Spec) -> str:
    if not spec.node and secure_on():
        return secure_stack.cassandra_yaml(_secure_files())
    if _auth_on():
        return "authenticator: PasswordAuthenticator\nauthorizer: CassandraAuthorizer"
    return "authenticator: AllowAllAuthenticator\nauthorizer: AllowAllAuthorizer"


def _cassandra_yaml(spec: Spec) -> str:
    port, storage_port, _jmx = spec.ports()
    d = spec.data_dir
    if spec.node:
        cluster_part = _cassandra_cluster_yaml(spec)
    else:
        cluster_part = f"""\
cluster_name: {CASSANDRA_CLUSTER_NAME}
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:{storage_port}"
"""
    return f"""\
{cluster_part.rstrip()}
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
listen_address: {spec.host}
rpc_address: {spec.host}
storage_port: {storage_port}
native_transport_port: {port}
start_native_transport: true
commitlog_sync: periodic
commitlog_sync_period: 10000ms
data_file_directories:
  - {d / "data"}
commitlog_directory: {d / "commitlog"}
saved_caches_directory: {d / "saved_caches"}
hints_directory: {d / "hints"}
cdc_raw_directory: {d / "cdc_raw"}
{_auth_yaml(spec)}
auto_snapshot: false
concurrent_compactors: 1
batch_size_warn_threshold: 5KiB
batch_size_fail_threshold: 50KiB
"""


def _cassandra_prepare(spec: Spec) -> list[str]:
    for d in (spec.conf_dir / "triggers", spec.data_dir, spec.log_file.parent):
        d.mkdir(parents=True, exist_ok=True)
    config = spec.conf_dir / spec.config_name
    config.write_text(_cassandra_yaml(spec))
    if not spec.node and secure_on():
        config.chmod(0o600)  # holds the keystore password
    logback = spec.conf_dir / "logback.xml"
    logback.write_text(CASSANDRA_LOGBACK)
    jvm_options = spec.conf_dir / "jvm17-server.options"
    jvm_options.write_text(CASSANDRA_JVM17_OPTIONS)
    lib = ensure_lib(spec)
    jamm = sorted(lib.glob("jamm-*.jar"))
    if not jamm:
        raise ServiceError(f"cassandra: no jamm-*.jar in {lib}")
    _port, _storage, jmx_port = spec.ports()
    log_dir = spec.log_file.parent
    return [
        _java(),
        f"@{jvm_options}",
        f"-javaagent:{jamm[-1]}",
        *(CLUSTER_CASSANDRA_HEAP if spec.node else CASSANDRA_HEAP),
        *CASSANDRA_JVM_FLAGS,
        f"-XX:ErrorFile={log_dir}/hs_err_%p.log",
        f"-Dcassandra.config=file://{config}",
        f"-Dcassandra.storagedir={spec.data_dir}",
        f"-Dcassandra.logdir={log_dir}",
        f"-Dcassandra.triggers_dir={spec.conf_dir / 'triggers'}",
        f"-Dlogback.configurationFile={logback}",
        f"-Dcassandra.jmx.local.port={jmx_port}",
        *("-cp", f"{lib}/*", spec.main_class),
    ]


def _cassandra_probe(host: str, port: int) -> bool:
    if not _port_open(port, host=host):
        return False
    from cassandra import DriverException
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
    from cassandra.policies import WhiteListRoundRobinPolicy
    from cassandra.protocol import ErrorMessage

    auth = ssl_context = None
    if _auth_on() or _probe_secure(host):
        from cassandra.auth import PlainTextAuthProvider

        auth = PlainTextAuthProvider(*secure_stack.CASSANDRA_SUPERUSER)
    if _probe_secure(host):
        ssl_context = secure_stack.cassandra_ssl_context(SECURE_FILES)
    with _quiet("cassandra"):
        cluster = Cluster(
            [host],
            port=port,
            auth_provider=auth,
            ssl_context=ssl_context,
            execution_profiles={
                EXEC_PROFILE_DEFAULT: ExecutionProfile(
                    load_balancing_policy=WhiteListRoundRobinPolicy([host]),
                    request_timeout=3,
                )
            },
            connect_timeout=3,
            control_connection_timeout=3,
        )
        try:
            session = cluster.connect()
            row = session.execute("SELECT release_version FROM system.local").one()
            return row is not None
        except (NoHostAvailable, DriverException, ErrorMessage, OSError):
            return False
        finally:
            cluster.shutdown()


def _cassandra_secure_roles(spec: Spec) -> None:
    """Create (or reset) the ``vitals`` role of a secured node, logged in as superuser."""
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster, NoHostAvailable

    files = _secure_files()
    cluster = Cluster(
        [spec.host],
        port=spec.port(),
        auth_provider=PlainTextAuthProvider(*secure_stack.CASSANDRA_SUPERUSER),
        ssl_context=secure_stack.cassandra_ssl_context(files),
        connect_timeout=10,
        control_connection_timeout=10,
    )
    try:
        session = cluster.connect()
        for stmt in secure_stack.cassandra_role_statements(files):
            session.execute(stmt, timeout=30)
    except (NoHostAvailable, OSError) as e:
        raise ServiceError(f"{spec.name}: creating the {secure_stack.CLIENT_USER} role: {e}") from e
    finally:
        cluster.shutdown()


# --------------------------------------------------------------------- registry

SPECS: dict[str, Spec] = {
    "kafka": Spec(
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
        port_env="KAFKA_PORT",
        default_port=9092,
        other_ports=(("KAFKA_CONTROLLER_PORT", 9093),),
        timeout_env="KAFKA_START_TIMEOUT",
        default_timeout=60.0,
        prepare=_kafka_prepare,
        probe=_kafka_probe,
    ),
    "cassandra": Spec(
        name="cassandra",
        version=CASSANDRA_VERSION,
        artifacts=(f"org.apache.cassandra:cassandra-all:{CASSANDRA_VERSION}",),
        main_class="org.apache.cassandra.service.CassandraDaemon",
        config_name="cassandra.yaml",
        port_env="CASSANDRA_PORT",
        default_port=9042,
        other_ports=(("CASSANDRA_STORAGE_PORT", 7000), ("CASSANDRA_JMX_PORT", 7199)),
        timeout_env="CASSANDRA_START_TIMEOUT",
        default_timeout=120.0,
        prepare=_cassandra_prepare,
        probe=_cassandra_probe,
    ),
}
# Cassandra first: it is the slow one, so it gets going while Kafka formats its storage.
START_ORDER = ("cassandra", "kafka")


def _cluster_member(kind: str, node: int) -> Spec:
    if kind == "cassandra":
        hosts = CLUSTER_CASSANDRA_HOSTS
        ports: tuple[int, ...] = (9042, 7000, CLUSTER_CASSANDRA_JMX_PORTS[node - 1])
    else:
        hosts, ports = CLUSTER_KAFKA_HOSTS, (9092, 9093)
    return dataclasses.replace(
        SPECS[kind],
        name=f"{kind}-{node}",
        host=hosts[node - 1],
        root=CLUSTER_BASE,
        node=node,
        peers=hosts,
        fixed_ports=ports,
    )


CLUSTER_SPECS: dict[str, Spec] = {
    spec.name: spec
    for spec in (
        _cluster_member(kind, node)
        for kind in ("cassandra", "kafka")
        for node in range(1, CLUSTER_SIZE + 1)
    )
}
CLUSTER_CASSANDRA = tuple(n for n in CLUSTER_SPECS if n.startswith("cassandra"))
CLUSTER_KAFKA = tuple(n for n in CLUSTER_SPECS if n.startswith("kafka"))
ALL_NAMES = (*SPECS, *CLUSTER_SPECS)


def _spec(name: str) -> Spec:
    spec = SPECS.get(name) or CLUSTER_SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown service {name!r} (known: {', '.join(ALL_NAMES)})")
    return spec


def _members(nodes: int) -> dict[str, Spec]:
    if nodes == 1:
        return SPECS
    if nodes == CLUSTER_SIZE:
        return CLUSTER_SPECS
    raise ValueError(f"nodes must be 1 or {CLUSTER_SIZE}, not {nodes}")


# -------------------------------------------------------------------- processes


def _port_open(port: int, timeout: float = 0.5, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Silence client-library loggers while probing a server that may not be up yet."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def _locked(root: Path = BASE) -> Iterator[None]:
    """Serialise launcher calls across processes (e.g. parallel pytest workers).

    The cluster has its own lock, so starting it never blocks the single node's users.
    """
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _cmdline(pid_: int) -> list[str]:
    """Arguments of a process; empty when it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid_}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def _is_ours(spec: Spec, pid_: int) -> bool:
    """True if ``pid_`` is a live JVM running ``spec`` with our config file."""
    args = _cmdline(pid_)
    config = str(spec.conf_dir / spec.config_name)
    return spec.main_class in args and any(config in arg for arg in args)


def _find_ours(spec: Spec) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _is_ours(spec, int(entry.name)):
            return int(entry.name)
    return None


def pid(name: str) -> int | None:
    """Pid of the running service, or None. Cleans stale pid files, adopts lost ones."""
    spec = _spec(name)
    try:
        recorded = int(spec.pid_file.read_text().strip())
    except (OSError, ValueError):
        recorded = None
    if recorded is not None and _is_ours(spec, recorded):
        return recorded
    spec.pid_file.unlink(missing_ok=True)
    found = _find_ours(spec)
    if found is not None:
        spec.pid_file.write_text(f"{found}\n")
    return found


def is_running(name: str) -> bool:
    return pid(name) is not None


def answering(name: str) -> bool:
    return _spec(name).probe_now()


def log_tail(name: str, lines: int = LOG_TAIL_LINES) -> str:
    log_file = _spec(name).log_file
    try:
        content = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {log_file})"
    return "\n".join(content[-lines:])


def _launch(spec: Spec) -> int:
    busy = [f"{h}:{p}" for h, p in spec.endpoints() if _port_open(p, timeout=0.2, host=h)]
    if busy:
        raise ServiceError(
            f"{spec.name}: {', '.join(busy)} already in use by a process this "
            "launcher did not start; stop it or set the port environment variables"
        )
    cmd = spec.prepare(spec)
    if spec.log_file.exists():
        spec.log_file.replace(spec.log_file.with_suffix(".log.1"))
    env = dict(os.environ, MALLOC_ARENA_MAX="4")
    env.pop("CLASSPATH", None)
    with open(spec.log_file, "ab") as out:
        out.write(f"# {time.strftime('%F %T')} launching: {' '.join(cmd)}\n".encode())
    # A background job of a throwaway shell: the JVM is re-parented to init at once, so it
    # outlives us and never becomes our zombie (nor a ResourceWarning in pytest).
    shell = 'log=$1; shift; exec "$@" </dev/null >>"$log" 2>&1 & echo $!'
    result = subprocess.run(
        ["/bin/sh", "-c", shell, "sh", str(spec.log_file), *cmd],
        cwd=spec.dir,
        env=env,
        capture_output=True,
        text=True,
        start_new_session=True,
        check=False,
    )
    if result.returncode != 0 or not result.stdout.strip().isdigit():
        raise ServiceError(f"{spec.name}: launch failed: {result.stdout}{result.stderr}")
    new_pid = int(result.stdout.strip())
    deadline = time.monotonic() + 10
    while _cmdline(new_pid) and not _is_ours(spec, new_pid) and time.monotonic() < deadline:
        time.sleep(0.02)  # the background shell has not exec'd java yet
    spec.pid_file.write_text(f"{new_pid}\n")
    _say(f"{spec.name}: started pid {new_pid}, log {spec.log_file}")
    return new_pid


def _failure(spec: Spec, reason: str) -> ServiceError:
    return ServiceError(
        f"{spec.name}: {reason}\n--- last {LOG_TAIL_LINES} lines of {spec.log_file} ---\n"
        f"{log_tail(spec.name)}"
    )


def _wait_ready(waiting: dict[str, float], timeout: float | None) -> None:
    """Wait until every service in ``waiting`` (name -> launch time) answers."""
    pending = dict(waiting)
    while pending:
        for name, launched in list(pending.items()):
            spec = _spec(name)
            limit = timeout if timeout is not None else spec.timeout()
            if pid(name) is None:
                raise _failure(spec, "the JVM exited during startup")
            if spec.probe_now():
                elapsed = time.monotonic() - launched
                where = spec.port() if spec.host == "127.0.0.1" else f"{spec.host}:{spec.port()}"
                _say(f"{name} answered after {elapsed:.1f} s (pid {pid(name)}, port {where})")
                if spec.kind == "cassandra" and _probe_secure(spec.host):
                    _cassandra_secure_roles(spec)
                del pending[name]
            elif time.monotonic() - launched > limit:
                raise _failure(
                    spec,
                    f"no answer on {spec.host}:{spec.port()} within {limit:.0f} s "
                    f"(pid {pid(name)} left running; `services.py down` stops it)",
                )
        if pending:
            time.sleep(0.5)


def _start_many(names: list[str], timeout: float | None) -> None:
    _launch_many(names, timeout)


def _launch_many(names: list[str], timeout: float | None, *, wait: bool = True) -> dict:
    """Launch those of ``names`` not running; wait for all unless ``wait`` is False.

    Returns {name: launch time} of the services still to be waited for.
    """
    for name in names:  # fetch sequentially: concurrent mvn runs share ~/.m2
        ensure_lib(_spec(name))
    waiting: dict[str, float] = {}
    for name in names:
        spec = _spec(name)
        running = pid(name)
        if running is not None and spec.probe_now():
            _say(f"{name} already running (pid {running})")
        elif running is not None:
            _say(f"{name} running (pid {running}) but not answering yet; waiting")
            waiting[name] = time.monotonic()
        else:
            waiting[name] = time.monotonic()
            _launch(spec)
    if wait:
        _wait_ready(waiting, timeout)
        return {}
    return waiting


def _signal(name: str, sig: signal.Signals) -> int | None:
    running = pid(name)
    if running is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(running, sig)
    return running


def _await_exit(name: str, pid_: int, timeout: float) -> None:
    spec = _spec(name)
    deadline = time.monotonic() + timeout
    killed = False
    while _is_ours(spec, pid_):
        if time.monotonic() > deadline:
            if killed:
                raise ServiceError(f"{name}: pid {pid_} survived SIGKILL for 10 s")
            _say(f"{name}: pid {pid_} still alive after {timeout:.0f} s, sending SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid_, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + 10
        time.sleep(0.1)
    spec.pid_file.unlink(missing_ok=True)
    # The leader's cmdline vanishes a moment before the other threads release the sockets.
    deadline = time.monotonic() + 5
    while any(_port_open(p, 0.2, h) for h, p in spec.endpoints()) and time.monotonic() < deadline:
        time.sleep(0.1)


# ------------------------------------------------------------------- public API


def up(timeout: float | None = None, nodes: int = 1, secure: bool = False) -> None:
    """Start Kafka and Cassandra (in parallel) unless running; wait until both answer.

    ``nodes=3`` starts the cluster instead (see the module docstring); ``secure`` the
    secured single node (TLS, SCRAM, passwords; see tools/secure_stack.py).
    """
    if secure:
        if nodes != 1:
            raise ServiceError("--secure is for the single node only (not with --nodes 3)")
        os.environ[secure_stack.SECURE_ENV] = "1"
    started = time.monotonic()
    if nodes == 1:
        with _locked():
            _start_many(list(START_ORDER), timeout)
    else:
        _members(nodes)
        with _locked(CLUSTER_BASE):
            _cluster_up(timeout)
    _say(f"up done in {time.monotonic() - started:.1f} s")


def _cluster_up(timeout: float | None) -> None:
    # The brokers all at once: none serves before 2 of the 3 controller voters are up.
    kafka_pending = _launch_many(list(CLUSTER_KAFKA), timeout, wait=False)
    # A fresh ring is formed by one node; the others then join it together (no streaming:
    # each has its own token and nothing to fetch). Members of an existing ring restart
    # in any order, since every member is a seed.
    cassandra = list(CLUSTER_CASSANDRA)
    if all(pid(n) is None for n in cassandra):
        _launch_many(cassandra[:1], timeout)
    _launch_many(cassandra, timeout)
    _wait_ready(kafka_pending, timeout)
    wait_ring(timeout=timeout or 60.0)


def start(name: str, timeout: float | None = None) -> int:
    """Start one service unless running, wait until it answers; return its pid."""
    spec = _spec(name)
    with _locked(spec.root):
        _start_many([name], timeout)
        running = pid(name)
    if running is None:
        raise ServiceError(f"{name}: not running after start")
    return running


def stop(name: str, kill: bool = False, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM (or SIGKILL with ``kill``) one service and wait for it to exit.

    Returns False if it was not running. Works for cluster members too
    (``stop("cassandra-2", kill=True)``).
    """
    spec = _spec(name)
    with _locked(spec.root):
        stopped = _signal(name, signal.SIGKILL if kill else signal.SIGTERM)
        if stopped is None:
            _say(f"{name} not running")
            return False
        t0 = time.monotonic()
        _await_exit(name, stopped, timeout)
    how = "killed" if kill else "stopped"
    _say(f"{name} {how} (pid {stopped}) in {time.monotonic() - t0:.1f} s")
    return True


def down(purge: bool = False, nodes: int = 1) -> None:
    """Stop both services (SIGTERM, then SIGKILL after 30 s); ``purge`` deletes their data.

    ``nodes=3`` stops (and purges) the cluster instead.
    """
    members = _members(nodes)
    root = BASE if nodes == 1 else CLUSTER_BASE
    with _locked(root):
        t0 = time.monotonic()
        signalled = {name: _signal(name, signal.SIGTERM) for name in members}
        for name, stopped in signalled.items():
            if stopped is None:
                _say(f"{name} not running")
                continue
            _await_exit(name, stopped, STOP_TIMEOUT)
            _say(f"{name} stopped (pid {stopped}) in {time.monotonic() - t0:.1f} s")
        if purge:
            for spec in members.values():
                shutil.rmtree(spec.dir, ignore_errors=True)
                _say(f"{spec.name}: deleted {spec.dir}")
            if nodes == 1 and SECURE_FILES.root.exists():
                shutil.rmtree(SECURE_FILES.root, ignore_errors=True)
                _say(f"secure: deleted {SECURE_FILES.root} (CA, keystores, passwords)")


def status(nodes: int = 1) -> list[Status]:
    result = []
    for name, spec in _members(nodes).items():
        running = pid(name)
        port = spec.port()
        result.append(
            Status(name, running is not None, running, port, spec.probe_now(), host=spec.host)
        )
    return result


# --------------------------------------------------------------------- nodetool

NODETOOL_JVM_FLAGS = ["-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
NODETOOL_LOGBACK = """\
<configuration scan="false">
  <appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%-5level %logger{0} - %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="STDERR"/></root>
</configuration>
"""


def nodetool(node: str, *args: str, timeout: float = 120.0) -> str:
    """Run ``nodetool ARGS`` against a Cassandra node (``cassandra`` or ``cassandra-N``).

    Returns its standard output; raises ServiceError when it fails.
    """
    spec = _spec(node)
    if spec.kind != "cassandra":
        raise ValueError(f"{node} is not a Cassandra node")
    result = subprocess.run(
        _nodetool_cmd(spec, args), capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise ServiceError(
            f"nodetool {' '.join(args)} on {node} failed (exit {result.returncode}):\n"
            f"{(result.stdout + result.stderr).strip()[-2000:]}"
        )
    return result.stdout


def _nodetool_cmd(spec: Spec, args: tuple[str, ...] | list[str]) -> list[str]:
    lib = ensure_lib(spec)
    spec.root.mkdir(parents=True, exist_ok=True)
    # the module-access options of jvm17-server.options, without its server GC settings
    options = spec.root / ".nodetool.options"
    wanted = "".join(
        ln + "\n" for ln in CASSANDRA_JVM17_OPTIONS.splitlines() if not ln.startswith("-XX:")
    )
    logback = spec.root / ".nodetool-logback.xml"
    for path, text in ((options, wanted), (logback, NODETOOL_LOGBACK)):
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    jmx_port = spec.ports()[2]
    return [
        _java(),
        f"@{options}",
        *NODETOOL_JVM_FLAGS,
        f"-Dcassandra.storagedir={spec.data_dir}",
        f"-Dlogback.configurationFile={logback}",
        *("-cp", f"{lib}/*", "org.apache.cassandra.tools.NodeTool"),
        *("-h", "127.0.0.1", "-p", str(jmx_port), *args),
    ]


def _parse_status(text: str) -> dict[str, str]:
    """``nodetool status`` → {address: two-letter state such as "UN" or "DN"}."""
    ring_: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 2 and parts[0][0] in "UD" and "." in parts[1]:
            ring_[parts[1]] = parts[0]
    return ring_


def ring(node: str = "cassandra-1") -> dict[str, str]:
    """The ring as ``node`` sees it: {address: "UN" | "DN" | "UJ" | ...}."""
    return _parse_status(nodetool(node, "status"))


def wait_ring(timeout: float = 60.0) -> dict[str, dict[str, str]]:
    """Wait until every running cluster node sees all CLUSTER_SIZE nodes Up and Normal.

    Returns {node: its view}; raises ServiceError after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    want = dict.fromkeys(CLUSTER_CASSANDRA_HOSTS, "UN")
    views: dict[str, dict[str, str]] = {}
    while True:
        names = [n for n in CLUSTER_CASSANDRA if pid(n) is not None]
        procs = {
            n: subprocess.Popen(
                _nodetool_cmd(CLUSTER_SPECS[n], ["status"]),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for n in names
        }
        views = {}
        for n, proc in procs.items():
            out, _ = proc.communicate(timeout=120)
            views[n] = _parse_status(out) if proc.returncode == 0 else {}
        if len(views) == CLUSTER_SIZE and all(v == want for v in views.values()):
            shown = " ".join(f"{state} {addr}" for addr, state in sorted(want.items()))
            _say(f"cassandra ring: {shown} (as seen by all {CLUSTER_SIZE} nodes)")
            return views
        if time.monotonic() > deadline:
            raise ServiceError(f"cassandra ring not all Up/Normal after {timeout:.0f} s: {views}")
        time.sleep(1.0)


# -------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    nodes_help = f"1: the single node (default); {CLUSTER_SIZE}: the cluster"
    p_up = sub.add_parser("up", help="start both services and wait until they answer")
    p_up.add_argument("--timeout", type=float, help="seconds per service (default 60/120)")
    p_up.add_argument("--nodes", type=int, choices=(1, CLUSTER_SIZE), default=1, help=nodes_help)
    p_up.add_argument(
        "--secure", action="store_true", help="Kafka SASL_SSL/SCRAM, Cassandra TLS + passwords"
    )
    sub.add_parser("env", help="print the VITALS_* variables for a secured stack (shell export)")
    p_down = sub.add_parser("down", help="stop both services")
    p_down.add_argument("--purge", action="store_true", help="also delete data, configs, logs")
    p_down.add_argument("--nodes", type=int, choices=(1, CLUSTER_SIZE), default=1, help=nodes_help)
    p_status = sub.add_parser("status", help="one line per service")
    p_status.add_argument(
        "--nodes", type=int, choices=(1, CLUSTER_SIZE), default=1, help=nodes_help
    )
    p_logs = sub.add_parser("logs", help="show the end of the logs")
    p_logs.add_argument("name", nargs="?", choices=list(ALL_NAMES))
    p_logs.add_argument("-n", "--lines", type=int, default=50)
    p_start = sub.add_parser("start", help="start one service and wait until it answers")
    p_start.add_argument("name", choices=list(ALL_NAMES))
    p_start.add_argument("--timeout", type=float)
    p_stop = sub.add_parser("stop", help="stop one service")
    p_stop.add_argument("name", choices=list(ALL_NAMES))
    p_stop.add_argument("--kill", action="store_true", help="SIGKILL instead of SIGTERM")
    p_nodetool = sub.add_parser("nodetool", help="run nodetool against a Cassandra node")
    p_nodetool.add_argument("name", choices=["cassandra", *CLUSTER_CASSANDRA])
    p_nodetool.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            up(args.timeout, nodes=args.nodes, secure=args.secure)
        elif args.command == "env":
            for k, v in client_env().items():
                _say(f"export {k}={v}")
        elif args.command == "down":
            down(args.purge, nodes=args.nodes)
        elif args.command == "status":
            for st in status(nodes=args.nodes):
                _say(st.line())
        elif args.command == "logs":
            for name in [args.name] if args.name else list(SPECS):
                _say(f"==> {_spec(name).log_file} <==\n{log_tail(name, args.lines)}")
        elif args.command == "start":
            start(args.name, args.timeout)
        elif args.command == "stop":
            stop(args.name, kill=args.kill)
        elif args.command == "nodetool":
            print(nodetool(args.name, *(args.args or ["status"])), end="", flush=True)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
