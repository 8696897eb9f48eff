"""Run a local Kafka and Cassandra on 127.0.0.1 without Docker (the command line of ``make up``).

The work is done by ``tools.stack.Stack``; this is its command line, over the stack
that the environment names (read when a command runs, never at import):

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

Importable (each call on ``Stack.from_env()``): up(nodes=1), down(nodes=1), start(name),
stop(name, kill=False), is_running(name), pid(name), answering(name), status(nodes=1),
log_tail(name), nodetool(node, *args), ring(node), wait_ring(), CLUSTER_CASSANDRA_HOSTS,
CLUSTER_KAFKA_SERVERS. Tests that want a private stack build a ``Stack`` themselves.

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
import dataclasses
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout's `tools` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.stack import (
    ALL_NAMES,
    CASSANDRA_VERSION,
    CLUSTER_CASSANDRA,
    CLUSTER_CASSANDRA_HOSTS,
    CLUSTER_KAFKA,
    CLUSTER_KAFKA_SERVERS,
    CLUSTER_SIZE,
    KAFKA_VERSION,
    ServiceError,
    Stack,
    Status,
)
from tools.stack.spec import say

__all__ = [
    "CASSANDRA_VERSION",
    "CLUSTER_CASSANDRA",
    "CLUSTER_CASSANDRA_HOSTS",
    "CLUSTER_KAFKA",
    "CLUSTER_KAFKA_SERVERS",
    "KAFKA_VERSION",
    "ServiceError",
    "Stack",
    "main",
]


def up(timeout: float | None = None, nodes: int = 1, secure: bool = False) -> None:
    """``Stack.up`` on the environment's stack (``secure``: start it secured)."""
    stack = Stack.from_env()
    if secure:
        if nodes != 1:
            raise ServiceError("--secure is for the single node only (not with --nodes 3)")
        stack = dataclasses.replace(stack, secure=True)
    stack.up(timeout, nodes=nodes)


def down(purge: bool = False, nodes: int = 1) -> None:
    Stack.from_env().down(purge, nodes=nodes)


def start(name: str, timeout: float | None = None) -> int:
    return Stack.from_env().start(name, timeout)


def stop(name: str, kill: bool = False) -> bool:
    return Stack.from_env().stop(name, kill=kill)


def pid(name: str) -> int | None:
    return Stack.from_env().pid(name)


def is_running(name: str) -> bool:
    return Stack.from_env().is_running(name)


def answering(name: str) -> bool:
    return Stack.from_env().answering(name)


def status(nodes: int = 1) -> list[Status]:
    return Stack.from_env().status(nodes)


def log_tail(name: str, lines: int = 30) -> str:
    return Stack.from_env().log_tail(name, lines)


def nodetool(node: str, *args: str, timeout: float = 120.0) -> str:
    return Stack.from_env().nodetool(node, *args, timeout=timeout)


def ring(node: str = "cassandra-1") -> dict[str, str]:
    return Stack.from_env().ring(node)


def wait_ring(timeout: float = 60.0) -> dict[str, dict[str, str]]:
    return Stack.from_env().wait_ring(timeout)


def main(argv: list[str] | None = None, stack: Stack | None = None) -> int:
    """The command line; ``stack``: run it on that stack instead of the environment's.

    Returns the exit code (1 with ``error: …`` on standard error when a service fails).
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
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

    st = stack or Stack.from_env()
    try:
        if args.command == "up":
            if args.secure:
                if args.nodes != 1:
                    raise ServiceError("--secure is for the single node only (not with --nodes 3)")
                st = dataclasses.replace(st, secure=True)
            st.up(args.timeout, nodes=args.nodes)
        elif args.command == "env":
            for k, v in st.client_env().items():
                say(f"export {k}={v}")
        elif args.command == "down":
            st.down(args.purge, nodes=args.nodes)
        elif args.command == "status":
            for line in st.status(nodes=args.nodes):
                say(line.line())
        elif args.command == "logs":
            for name in [args.name] if args.name else ["kafka", "cassandra"]:
                say(f"==> {st.spec(name).log_file} <==\n{st.log_tail(name, args.lines)}")
        elif args.command == "start":
            st.start(args.name, args.timeout)
        elif args.command == "stop":
            st.stop(args.name, kill=args.kill)
        elif args.command == "nodetool":
            print(st.nodetool(args.name, *(args.args or ["status"])), end="", flush=True)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
