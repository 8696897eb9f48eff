"""The secured variant of the local stack (``services.py up --secure``; ``Stack(secure=True)``).

Kafka: one SASL_SSL listener (TLS, then SASL/SCRAM-SHA-512; the broker talks to itself
over it as user ``admin``), SCRAM credentials written into the metadata log when the
storage is formatted (``kafka-storage format --add-scram``). The KRaft controller
listener stays PLAINTEXT on 127.0.0.1 (a single combined node talks to itself there;
Kafka offers no SCRAM on controller listeners).

Cassandra: client-to-node TLS only (``client_encryption_options``, ``optional: false``),
PasswordAuthenticator + CassandraAuthorizer, and a ``vitals`` role with a generated
password and every permission on every keyspace (created once the node answers).

The CA, the server key pair and every password are generated at the first start under
``<services dir>/secure/`` (JDK ``keytool``: no library needed, nothing committed);
the files there are readable by their owner only. The certificate names
``localhost`` and ``127.0.0.1`` and is valid for 365 days.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

KAFKA_MECHANISM = "SCRAM-SHA-512"
KAFKA_ADMIN_USER = "admin"  # the broker's own inter-broker identity
CLIENT_USER = "vitals"  # Kafka SCRAM user and Cassandra role of the vitals commands
CASSANDRA_SUPERUSER = ("cassandra", "cassandra")  # Cassandra's built-in default
VALIDITY_DAYS = "365"
# the certificate's names: loopback, and the compose profile's service names
SAN = "SAN=dns:localhost,ip:127.0.0.1,dns:kafka-secure,dns:cassandra-secure"
COMPOSE_DIR = "/secure"  # where the compose profile `secure` mounts the generated files


class SecureStackError(RuntimeError):
    """keytool failed, or the files of the secured stack are inconsistent."""


@dataclass(frozen=True)
class Files:
    """Where the secured stack keeps its generated material (``<services dir>/secure``)."""

    root: Path

    @property
    def ca_cert(self) -> Path:  # PEM, what clients trust (--kafka-ca-file, --cassandra-ca-file)
        return self.root / "ca.crt"

    @property
    def ca_store(self) -> Path:  # the CA's private key (PKCS12), signs the server cert
        return self.root / "ca.p12"

    @property
    def keystore(self) -> Path:  # server key + certificate chain (PKCS12), Kafka and Cassandra
        return self.root / "server.p12"

    @property
    def truststore(self) -> Path:  # the CA (PKCS12), for the broker's own inter-broker client
        return self.root / "truststore.p12"

    def password_file(self, what: str) -> Path:
        """``store``, ``kafka-admin``, ``kafka-vitals`` or ``cassandra-vitals``."""
        return self.root / f"{what}.password"

    def password(self, what: str) -> str:
        return self.password_file(what).read_text().strip()

    @property
    def complete(self) -> Path:
        return self.root / ".complete"


def _keytool(*args: str) -> None:
    keytool = shutil.which("keytool") or "/usr/lib/jvm/java-17-openjdk-amd64/bin/keytool"
    result = subprocess.run(
        [keytool, "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SecureStackError(
            f"keytool {args[0]} failed (exit {result.returncode}): "
            f"{(result.stdout + result.stderr).strip()[-1500:]}"
        )


def ensure(files: Files) -> Files:
    """Generate the CA, the server keystore, the truststore and the passwords once.

    Idempotent: a complete set is kept (Kafka's SCRAM credentials were formatted with
    these passwords); a partial one from an interrupted run is replaced.
    """
    if files.complete.is_file():
        return files
    shutil.rmtree(files.root, ignore_errors=True)
    files.root.mkdir(parents=True, mode=0o700, exist_ok=True)  # exists if a mount point
    for what in ("store", "kafka-admin", "kafka-vitals", "cassandra-vitals"):
        files.password_file(what).write_text(secrets.token_hex(16) + "\n")
        files.password_file(what).chmod(0o600)
    pw = files.password("store")
    store = ["-storetype", "PKCS12", "-storepass", pw]
    key = ["-keyalg", "RSA", "-keysize", "2048", "-validity", VALIDITY_DAYS]
    csr, crt = files.root / "server.csr", files.root / "server.crt"
    _keytool("-genkeypair", "-alias", "ca", "-dname", "CN=vitals local CA", *key,
             "-ext", "bc:c", "-keystore", str(files.ca_store), *store)  # fmt: skip
    _keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", str(files.ca_store), *store,
             "-file", str(files.ca_cert))  # fmt: skip
    _keytool("-genkeypair", "-alias", "server", "-dname", "CN=localhost", *key, "-ext", SAN,
             "-keystore", str(files.keystore), *store)  # fmt: skip
    _keytool("-certreq", "-alias", "server", "-keystore", str(files.keystore), *store,
             "-file", str(csr))  # fmt: skip
    _keytool("-gencert", "-alias", "ca", "-keystore", str(files.ca_store), *store, "-rfc",
             "-infile", str(csr), "-outfile", str(crt), "-validity", VALIDITY_DAYS, "-ext", SAN,
             "-ext", "KU=digitalSignature,keyEncipherment", "-ext", "EKU=serverAuth")  # fmt: skip
    for alias, path, target in (
        ("ca", files.ca_cert, files.keystore),
        ("server", crt, files.keystore),  # replaces the self-signed one by the CA-signed chain
        ("ca", files.ca_cert, files.truststore),
    ):
        _keytool("-importcert", "-noprompt", "-alias", alias, "-file", str(path),
                 "-keystore", str(target), *store)  # fmt: skip
    for path in files.root.iterdir():
        path.chmod(0o600)
    files.complete.write_text("generated by tools/secure_stack.py\n")
    return files


def kafka_settings(files: Files, port: int, controller_port: int) -> dict[str, str]:
    """server.properties entries of the secured single broker (replace the plain ones)."""
    store_pw = files.password("store")
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{KAFKA_ADMIN_USER}" password="{files.password("kafka-admin")}";'
    )
    return {
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
        "inter.broker.listener.name": "SASL_SSL",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "sasl.enabled.mechanisms": KAFKA_MECHANISM,
        "sasl.mechanism.inter.broker.protocol": KAFKA_MECHANISM,
        f"listener.name.sasl_ssl.{KAFKA_MECHANISM.lower()}.sasl.jaas.config": jaas,
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(files.keystore),
        "ssl.keystore.password": store_pw,
        "ssl.key.password": store_pw,
        "ssl.truststore.type": "PKCS12",
        "ssl.truststore.location": str(files.truststore),
        "ssl.truststore.password": store_pw,
        "ssl.client.auth": "none",
    }


def kafka_format_args(files: Files) -> list[str]:
    """``kafka-storage format`` arguments that create the SCRAM users in the metadata log."""
    args = []
    for user, what in ((KAFKA_ADMIN_USER, "kafka-admin"), (CLIENT_USER, "kafka-vitals")):
        args += ["--add-scram", f"{KAFKA_MECHANISM}=[name={user},password={files.password(what)}]"]
    return args


def kafka_client_kwargs(files: Files) -> dict[str, object]:
    """kafka-python arguments for the launcher's own readiness probe (as ``admin``)."""
    return {
        "security_protocol": "SASL_SSL",
        "ssl_cafile": str(files.ca_cert),
        "sasl_mechanism": KAFKA_MECHANISM,
        "sasl_plain_username": KAFKA_ADMIN_USER,
        "sasl_plain_password": files.password("kafka-admin"),
    }


def cassandra_yaml(files: Files) -> str:
    """cassandra.yaml lines: password authentication, client TLS required on the CQL port."""
    return f"""\
authenticator: PasswordAuthenticator
authorizer: CassandraAuthorizer
client_encryption_options:
  enabled: true
  optional: false
  keystore: {files.keystore}
  keystore_password: {files.password("store")}
  store_type: PKCS12
  require_client_auth: false"""


def cassandra_ssl_context(files: Files):  # -> ssl.SSLContext
    import ssl

    return ssl.create_default_context(cafile=str(files.ca_cert))


def cassandra_role_statements(files: Files) -> list[str]:
    """CQL run as the superuser once the node answers: the ``vitals`` role (idempotent)."""
    pw = files.password("cassandra-vitals")
    return [
        f"CREATE ROLE IF NOT EXISTS {CLIENT_USER} WITH PASSWORD = '{pw}' AND LOGIN = true",
        f"ALTER ROLE {CLIENT_USER} WITH PASSWORD = '{pw}'",
        f"GRANT ALL PERMISSIONS ON ALL KEYSPACES TO {CLIENT_USER}",
    ]


def client_env(files: Files, kafka_port: int, cassandra_port: int) -> dict[str, str]:
    """The VITALS_* variables that point every vitals command at the secured stack."""
    return {
        "VITALS_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
        "VITALS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "VITALS_KAFKA_SASL_MECHANISM": KAFKA_MECHANISM,
        "VITALS_KAFKA_USERNAME": CLIENT_USER,
        "VITALS_KAFKA_PASSWORD_FILE": str(files.password_file("kafka-vitals")),
        "VITALS_KAFKA_CA_FILE": str(files.ca_cert),
        "VITALS_CASSANDRA_HOSTS": "127.0.0.1",
        "VITALS_CASSANDRA_PORT": str(cassandra_port),
        "VITALS_CASSANDRA_USERNAME": CLIENT_USER,
        "VITALS_CASSANDRA_PASSWORD_FILE": str(files.password_file("cassandra-vitals")),
        "VITALS_CASSANDRA_CA_FILE": str(files.ca_cert),
    }


# ---------------------------------------------------------------- compose profile `secure`


def compose(files: Files) -> None:
    """Write what the compose profile ``secure`` mounts at /secure (see docker-compose.yml).

    Kafka: ``kafka.properties`` (SASL_SSL on 9094 for the host as localhost:9094, and on
    29094 for containers as kafka-secure:29094), ``kafka-format-args`` (the SCRAM users),
    ``client.properties`` (the healthcheck's login as admin); Cassandra: ``cassandra.yaml``
    (TLS on 9042, published as 9142). The containers' users differ from the generator's,
    so the files are made readable by all: keep the volume private to this compose project.
    """
    from tools.stack.kafka import node_settings  # here: tools.stack imports this module

    ensure(files)
    kafka = node_settings(  # the single node of services.py, inside a container
        node_id=1, voters="1@localhost:9093", host="localhost", port=9094,
        controller_port=9093, log_dir="/var/lib/kafka/data",
    )  # fmt: skip
    kafka.update(kafka_settings(files, 9094, 9093))
    kafka.update(
        {
            "listeners": "SASL_SSL://:9094,INTERNAL://:29094,CONTROLLER://localhost:9093",
            "advertised.listeners": "SASL_SSL://localhost:9094,INTERNAL://kafka-secure:29094",
            "inter.broker.listener.name": "INTERNAL",
            "listener.security.protocol.map": (
                "SASL_SSL:SASL_SSL,INTERNAL:SASL_SSL,CONTROLLER:PLAINTEXT"
            ),
            f"listener.name.internal.{KAFKA_MECHANISM.lower()}.sasl.jaas.config": kafka[
                f"listener.name.sasl_ssl.{KAFKA_MECHANISM.lower()}.sasl.jaas.config"
            ],
        }
    )
    (files.root / "kafka.properties").write_text("".join(f"{k}={v}\n" for k, v in kafka.items()))
    (files.root / "kafka-format-args").write_text(" ".join(kafka_format_args(files)) + "\n")
    client = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": KAFKA_MECHANISM,
        "sasl.jaas.config": kafka[
            f"listener.name.sasl_ssl.{KAFKA_MECHANISM.lower()}.sasl.jaas.config"
        ],
        "ssl.truststore.type": "PKCS12",
        "ssl.truststore.location": str(files.truststore),
        "ssl.truststore.password": files.password("store"),
    }
    (files.root / "client.properties").write_text("".join(f"{k}={v}\n" for k, v in client.items()))
    data = "/var/lib/cassandra"
    (files.root / "cassandra.yaml").write_text(f"""\
cluster_name: vitals-local
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:7000"
listen_address: 127.0.0.1
rpc_address: 0.0.0.0
broadcast_rpc_address: 127.0.0.1
storage_port: 7000
native_transport_port: 9042
start_native_transport: true
commitlog_sync: periodic
commitlog_sync_period: 10000ms
data_file_directories:
  - {data}/data
commitlog_directory: {data}/commitlog
saved_caches_directory: {data}/saved_caches
hints_directory: {data}/hints
cdc_raw_directory: {data}/cdc_raw
auto_snapshot: false
{cassandra_yaml(files)}
""")
    for path in files.root.iterdir():
        path.chmod(0o644)
    files.root.chmod(0o755)


def create_roles(files: Files, host: str, port: int) -> None:
    """Log in as Cassandra's superuser over TLS and create the ``vitals`` role."""
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster

    cluster = Cluster(
        [host],
        port=port,
        auth_provider=PlainTextAuthProvider(*CASSANDRA_SUPERUSER),
        ssl_context=cassandra_ssl_context(files),
        connect_timeout=10,
        control_connection_timeout=10,
    )
    try:
        session = cluster.connect()
        for stmt in cassandra_role_statements(files):
            session.execute(stmt, timeout=30)
    finally:
        cluster.shutdown()


def main(argv: list[str]) -> int:
    """``compose DIR``: the compose profile's files; ``roles DIR HOST PORT``: the role."""
    if len(argv) == 2 and argv[0] == "compose":
        compose(Files(Path(argv[1])))
        return 0
    if len(argv) == 4 and argv[0] == "roles":
        create_roles(Files(Path(argv[1])), argv[2], int(argv[3]))
        return 0
    print("usage: secure_stack.py compose DIR | roles DIR HOST PORT", file=sys.stderr)
    return 2


if __name__ == "__main__":  # python3 tools/secure_stack.py: make ``tools`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main(sys.argv[1:]))
