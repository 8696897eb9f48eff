"""Kafka in KRaft mode: ``server.properties`` for the single node or a cluster member,
the storage format on first start, the java command line, and a probe that asks for metadata.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import subprocess
import warnings

from tools import secure_stack
from tools.stack.jars import ensure_lib
from tools.stack.processes import port_open, quiet
from tools.stack.spec import (
    CLUSTER_KAFKA_HEAP,
    CLUSTER_SIZE,
    KAFKA_CLUSTER_ID,
    KAFKA_JVM_FLAGS,
    ServiceError,
    Spec,
    java,
)


def node_settings(
    *,
    node_id: int,
    voters: str,
    host: str,
    port: int,
    controller_port: int,
    log_dir: str,
    replicas: int = 1,
) -> dict[str, str]:
    """``server.properties`` of a KRaft node that is broker and controller voter at once: the
    one home of what every local Kafka shares (the single node of ``make up``, a cluster
    member, the compose profile ``secure``). PLAINTEXT listeners on ``host`` (the secured
    stack replaces them); internal topics replicated ``replicas`` times, ``replicas - 1``
    (at least 1) in sync; 6 partitions a topic; no rebalance delay (quick test groups)."""
    rf, min_isr = str(replicas), str(max(1, replicas - 1))
    return {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": log_dir,
        "num.partitions": "6",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": rf,
        "offsets.topic.num.partitions": "6",
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
    }


#: A SIGKILLed broker re-registers only after its old session expires (default 9 s);
#: shorter keeps kill-and-restart fault tests quick.
_QUICK_RESTART = {"broker.session.timeout.ms": "4000", "broker.heartbeat.interval.ms": "1000"}


def server_properties(spec: Spec) -> dict[str, str]:
    """The single node on 127.0.0.1, or a cluster member with everything replicated 3x."""
    port, controller_port = spec.ports()
    if not spec.node:
        voters = f"1@127.0.0.1:{controller_port}"
        node = node_settings(node_id=1, voters=voters, host="127.0.0.1", port=port,
                             controller_port=controller_port, log_dir=str(spec.data_dir))  # fmt: skip
        return node | _QUICK_RESTART
    voters = ",".join(f"{i}@{h}:{controller_port}" for i, h in enumerate(spec.peers, 1))
    replicas = len(spec.peers)
    node = node_settings(node_id=spec.node, voters=voters, host=spec.host, port=port,
                         controller_port=controller_port, log_dir=str(spec.data_dir),
                         replicas=replicas)  # fmt: skip
    return node | {
        "default.replication.factor": str(replicas),
        "min.insync.replicas": node["transaction.state.log.min.isr"],
        "unclean.leader.election.enable": "false",
        **_QUICK_RESTART,
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "log.cleaner.threads": "1",
    }


def prepare(spec: Spec) -> list[str]:
    """Write the configs of ``spec`` (formatting its storage on first start); the java command."""
    port, controller_port = spec.ports()
    for d in (spec.conf_dir, spec.data_dir, spec.log_file.parent):
        d.mkdir(parents=True, exist_ok=True)
    props = spec.conf_dir / spec.config_name
    settings = server_properties(spec)
    secure = spec.secure_files() if spec.secure is not None else None
    if secure is not None:
        settings.update(secure_stack.kafka_settings(secure, port, controller_port))
    props.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    if secure is not None:
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
        fmt = [java(), "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", logging_opt]
        fmt += ["-cp", classpath, "kafka.tools.StorageTool", "format"]
        fmt += ["-t", KAFKA_CLUSTER_ID, "-c", str(props), "--ignore-formatted"]
        if secure is not None:  # SCRAM users go into the metadata log before the first start
            fmt += secure_stack.kafka_format_args(secure)
        result = subprocess.run(fmt, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ServiceError(f"kafka: storage format failed:\n{result.stdout}{result.stderr}")
    error_file = f"-XX:ErrorFile={spec.log_file.parent}/hs_err_%p.log"
    heap = CLUSTER_KAFKA_HEAP if spec.node else []  # the later -Xms/-Xmx win
    jvm = [java(), *KAFKA_JVM_FLAGS, *heap, error_file, logging_opt]
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


def probe(spec: Spec) -> bool:
    """The broker answers a metadata request (a cluster member: with all its peers)."""
    host, port = spec.host, spec.port()
    if not port_open(port, host=host):
        return False
    from kafka.errors import KafkaError

    admin = None
    answered = False
    with quiet("kafka"):
        try:
            secured = (
                secure_stack.kafka_client_kwargs(spec.secure) if spec.secure is not None else {}
            )
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
