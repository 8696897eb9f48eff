"""Failures that used to print a traceback get one ``Error:`` line (in-process, no servers):
driver errors mapped in one place (``errors.from_driver``), durations out of range, bad
keyspace names, and a listening port already taken."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from cassandra import ConsistencyLevel, Unavailable, UnresolvableContactPoints
from cassandra.cluster import NoHostAvailable
from click.testing import CliRunner
from kafka.errors import KafkaTimeoutError

from vitals.cli import cli
from vitals.errors import CassandraUnavailable, KafkaUnavailable, from_driver


def run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli, list(args))
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.output.strip()


def unavailable() -> Unavailable:
    return Unavailable(
        "Cannot achieve consistency level LOCAL_QUORUM",
        consistency=ConsistencyLevel.LOCAL_QUORUM,
        required_replicas=2,
        alive_replicas=1,
    )


@pytest.mark.parametrize("exc", [unavailable(), NoHostAvailable("x", {"127.0.0.1": unavailable()})])
def test_an_unmet_consistency_level_names_the_level_and_the_replicas(exc):
    err = from_driver(exc)
    assert isinstance(err, CassandraUnavailable)
    assert str(err).startswith(
        "Cassandra cannot achieve consistency level LOCAL_QUORUM: it needs 2 replicas and 1 alive; "
        "the keyspace's replication factor is larger than the nodes that are up."
    )


def test_unresolvable_hosts_name_the_option():
    assert str(from_driver(UnresolvableContactPoints({}))) == (
        "none of the Cassandra hosts resolves to an address; check the names given to "
        "--cassandra-hosts / VITALS_CASSANDRA_HOSTS"
    )


def test_a_kafka_error_is_one_line_and_other_errors_are_not_mapped():
    assert isinstance(from_driver(KafkaTimeoutError("slow")), KafkaUnavailable)
    assert from_driver(ValueError("a bug")) is None


@pytest.mark.parametrize("command", [["query", "X"], ["audit"]])
@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("99999999d", "'99999999d' ago is before year 1; give a shorter duration or an ISO time"),
        ("9" * 22 + "d", f"'{'9' * 22}d' is too long a duration; the longest is 999999999 days"),
    ],
)
def test_a_since_out_of_range_is_refused(command, since, message):
    code, out = run(*command, "--since", since)
    assert code == 2
    last = out.splitlines()[-1]
    assert last.startswith("Error: ") and last.endswith(message), out
    assert "Traceback" not in out


@pytest.mark.parametrize("name", ["bad-name", "k" * 49, "sp ace", "_ward", "7a", "Ward-7"])
def test_a_keyspace_name_cassandra_refuses_is_refused_before_connecting(name):
    code, out = run("init", "--keyspace", name, "--cassandra-hosts", "192.0.2.1")
    assert (code, out) == (
        2,
        f"Error: keyspace name {name!r} is not valid: use a lower-case letter, then up to 47 "
        "lower-case letters, digits or underscores (48 at most), e.g. hospital_ward7 "
        "(--keyspace / VITALS_KEYSPACE)",
    )


# every command with --keyspace, with the arguments it needs (a black-hole host: a command
# that got past the check would take seconds and fail with another message)
KEYSPACE_COMMANDS = [
    ["init"],
    ["consume"],
    ["query", "L1"],
    ["watch", "--once"],
    ["status"],
    ["serve"],
    ["audit"],
    ["monitoring", "end", "L1", "--by", "kim", "--reason", "discharged"],
    ["patient", "set", "L1", "--ward", "7A"],
    ["patient", "show", "L1"],
]


@pytest.mark.parametrize("command", KEYSPACE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_an_upper_case_keyspace_is_refused_at_every_command_with_its_lower_case_name(command):
    code, out = run(*command, "--keyspace", "Nc2Upper", "--cassandra-hosts", "192.0.2.1")
    assert (code, out.splitlines()[-1]) == (
        2,
        "Error: keyspace name 'Nc2Upper' is not all lower case: Cassandra would make it "
        "'nc2upper' and then not find 'Nc2Upper'; use --keyspace nc2upper "
        "(--keyspace / VITALS_KEYSPACE)",
    )


def test_every_command_with_a_keyspace_is_checked_above():
    from tools.gen_options_doc import commands

    having = {n for n, c in commands(cli) if any(p.name == "keyspace" for p in c.params)}
    assert having == {"vitals " + " ".join(c[: 2 if c[0] in ("monitoring", "patient") else 1])
                      for c in KEYSPACE_COMMANDS}  # fmt: skip


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "--cassandra-hosts", "192.0.2.1"],  # a black hole: would take seconds
        ["gateway", "--bootstrap-servers", "192.0.2.1:1"],
    ],
)
def test_a_port_in_use_is_one_line_before_connecting(command, taken_port):
    code, out = run(*command, "--port", str(taken_port))
    assert code == 2
    assert out.splitlines()[-1] == (
        f"Error: cannot listen on 127.0.0.1:{taken_port}: Address already in use (another "
        "program, or another vitals, holds it); stop it or choose another --port"
    )


@pytest.mark.parametrize("patients", [",,", "", " , "])
def test_patients_that_name_no_patient_are_refused(patients):
    code, out = run("produce", "--patients", patients, "--bootstrap-servers", "192.0.2.1:1")
    assert (code, out) == (
        2,
        f"Error: --patients {patients!r} names no patient; give comma-separated ids such as "
        "P001,P002, or leave it out to simulate P001..P004",
    )


def test_a_csv_whose_every_row_is_bad_sends_nothing_and_fails(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text(
        "patient_id,timestamp,heart_rate,spo2,systolic,diastolic,respiratory_rate,temperature\n"
        "P1,notatime,80,96,120,80,16,37\n"
    )
    code, out = run(
        "produce",
        "--mode",
        "csv",
        "--csv",
        str(f),
        "--skip-bad-rows",
        "--bootstrap-servers",
        "192.0.2.1:1",
    )
    assert code == 2
    assert out.splitlines() == [
        f"Error: {f}: every row is bad (1), nothing sent:",
        f"  {f}:2: timestamp: 'notatime' is not an ISO 8601 time (e.g. 2025-10-26T10:30:15+00:00)",
    ]


class _Host:
    def __init__(self, dc: str, up: bool) -> None:
        self.datacenter, self.is_up = dc, up


class _Cluster:
    def __init__(self, *hosts: _Host) -> None:
        self.metadata = type("M", (), {"all_hosts": lambda _self: list(hosts)})()


@pytest.mark.parametrize(
    ("hosts", "rf", "dc", "refused"),
    [
        ([_Host("dc1", True)], 1, None, False),
        ([_Host("dc1", True)], 3, None, True),
        ([_Host("dc1", True), _Host("dc1", False), _Host("dc1", True)], 3, None, True),
        ([_Host("dc1", True), _Host("dc2", True), _Host("dc2", True)], 2, "dc1", True),
        ([_Host("dc1", True), _Host("dc1", True)], 2, "dc1", False),
    ],
)
def test_a_replication_factor_above_the_live_cassandra_nodes_is_refused(hosts, rf, dc, refused):
    from vitals.admin import check_cassandra_nodes
    from vitals.config import CassandraSettings
    from vitals.errors import ConfigError

    settings = CassandraSettings(local_dc=dc)
    if refused:
        with pytest.raises(ConfigError, match=rf"^--replication-factor {rf} needs {rf} Cassandra"):
            check_cassandra_nodes(_Cluster(*hosts), settings, rf)
    else:
        check_cassandra_nodes(_Cluster(*hosts), settings, rf)


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (
            ["--kafka-username", "u"],
            "the password (VITALS_KAFKA_PASSWORD or --kafka-password-file)",
        ),
        (
            [],
            "the user (--kafka-username / VITALS_KAFKA_USERNAME) and the password "
            "(VITALS_KAFKA_PASSWORD or --kafka-password-file)",
        ),
    ],
)
def test_a_sasl_login_without_its_password_is_refused_before_connecting(monkeypatch, args, missing):
    monkeypatch.delenv("VITALS_KAFKA_PASSWORD", raising=False)
    code, out = run(
        "status",
        "--kafka-security-protocol",
        "SASL_PLAINTEXT",
        "--bootstrap-servers",
        "192.0.2.1:1",
        *args,
    )
    assert (code, out) == (
        2,
        "Error: --kafka-security-protocol SASL_PLAINTEXT logs in with a user and a password; "
        f"missing: {missing}",
    )


@pytest.mark.parametrize("server", ["kafka", "cassandra"])
def test_an_unreadable_password_file_names_its_option(server, tmp_path):
    missing = tmp_path / "nope"
    code, out = run("status", f"--{server}-password-file", str(missing))
    assert code == 2
    assert out.splitlines()[-1] == (
        f"Error: Invalid value for '--{server}-password-file': cannot read {missing}: "
        "No such file or directory"
    )
