"""A local Kafka + Cassandra on loopback addresses without Docker, as ``Stack`` objects.

    from tools.stack import Ports, Stack
    stack = Stack(dir=ROOT / ".services" / "faults", ports=Ports(kafka=19292, ...))
    stack.up(); stack.stop("cassandra", kill=True); stack.start("cassandra")
    stack.down(purge=True)

The official Apache jars come from Maven Central through ``mvn`` and are cached
(``jars``), configs are generated under the stack's directory (``kafka``,
``cassandra``), both JVMs start detached and the stack waits until each really answers
(a Kafka metadata request, a CQL query; ``processes``). ``tools/services.py`` is the
command line (``make up``) over ``Stack.from_env()``. Tooling for development, tests and
demos: the product never imports it.
"""

from tools.stack.spec import (
    CASSANDRA_VERSION,
    CLUSTER_CASSANDRA_HOSTS,
    CLUSTER_KAFKA_HOSTS,
    CLUSTER_KAFKA_SERVERS,
    CLUSTER_SIZE,
    KAFKA_VERSION,
    ServiceError,
    Spec,
    Status,
)
from tools.stack.stack import ALL_NAMES, CLUSTER_CASSANDRA, CLUSTER_KAFKA, Ports, Stack

__all__ = [
    "ALL_NAMES",
    "CASSANDRA_VERSION",
    "CLUSTER_CASSANDRA",
    "CLUSTER_CASSANDRA_HOSTS",
    "CLUSTER_KAFKA",
    "CLUSTER_KAFKA_HOSTS",
    "CLUSTER_KAFKA_SERVERS",
    "CLUSTER_SIZE",
    "KAFKA_VERSION",
    "Ports",
    "ServiceError",
    "Spec",
    "Stack",
    "Status",
]
