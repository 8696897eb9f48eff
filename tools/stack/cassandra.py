"""Cassandra: ``cassandra.yaml`` for the single node or a ring member, the JVM options of
5.0 on JDK 17, a CQL probe, the ``vitals`` role of a secured node, and ``nodetool``.
"""

from __future__ import annotations

import subprocess

from tools import secure_stack
from tools.stack.jars import ensure_lib
from tools.stack.processes import port_open, quiet
from tools.stack.spec import (
    CASSANDRA_CLUSTER_NAME,
    CASSANDRA_HEAP,
    CASSANDRA_JVM_FLAGS,
    CLUSTER_CASSANDRA_HEAP,
    ServiceError,
    Spec,
    java,
)

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


def _auth_yaml(spec: Spec) -> str:
    if spec.secure is not None:
        return secure_stack.cassandra_yaml(spec.secure_files())
    if spec.auth:
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


def prepare(spec: Spec) -> list[str]:
    """Write the configs of ``spec``; the java command that starts it."""
    for d in (spec.conf_dir / "triggers", spec.data_dir, spec.log_file.parent):
        d.mkdir(parents=True, exist_ok=True)
    config = spec.conf_dir / spec.config_name
    config.write_text(_cassandra_yaml(spec))
    if spec.secure is not None:
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
        java(),
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


def probe(spec: Spec) -> bool:
    """The node answers a CQL query (with TLS and the superuser when secured)."""
    host, port = spec.host, spec.port()
    if not port_open(port, host=host):
        return False
    from cassandra import DriverException
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
    from cassandra.policies import WhiteListRoundRobinPolicy
    from cassandra.protocol import ErrorMessage

    auth = ssl_context = None
    if spec.auth or spec.secure is not None:
        from cassandra.auth import PlainTextAuthProvider

        auth = PlainTextAuthProvider(*secure_stack.CASSANDRA_SUPERUSER)
    if spec.secure is not None:
        ssl_context = secure_stack.cassandra_ssl_context(spec.secure)
    with quiet("cassandra"):
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


def secure_roles(spec: Spec) -> None:
    """Create (or reset) the ``vitals`` role of a secured node, logged in as superuser."""
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster, NoHostAvailable

    files = spec.secure_files()
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


def nodetool(spec: Spec, *args: str, timeout: float = 120.0) -> str:
    """Run ``nodetool ARGS`` against the Cassandra node ``spec`` (through its JMX port).

    Returns its standard output; raises ServiceError when it fails.
    """
    node = spec.name
    if spec.kind != "cassandra":
        raise ValueError(f"{node} is not a Cassandra node")
    result = subprocess.run(
        nodetool_cmd(spec, args), capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise ServiceError(
            f"nodetool {' '.join(args)} on {node} failed (exit {result.returncode}):\n"
            f"{(result.stdout + result.stderr).strip()[-2000:]}"
        )
    return result.stdout


def nodetool_cmd(spec: Spec, args: tuple[str, ...] | list[str]) -> list[str]:
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
        java(),
        f"@{options}",
        *NODETOOL_JVM_FLAGS,
        f"-Dcassandra.storagedir={spec.data_dir}",
        f"-Dlogback.configurationFile={logback}",
        *("-cp", f"{lib}/*", "org.apache.cassandra.tools.NodeTool"),
        *("-h", "127.0.0.1", "-p", str(jmx_port), *args),
    ]


def parse_status(text: str) -> dict[str, str]:
    """``nodetool status`` → {address: two-letter state such as "UN" or "DN"}."""
    ring_: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 2 and parts[0][0] in "UD" and "." in parts[1]:
            ring_[parts[1]] = parts[0]
    return ring_
