"""What people see, against the real servers: `vitals query`, `status`, `watch`, metrics."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import (
    KAFKA,
    ROOT,
    committed_and_end,
    start_consumer,
    stored_rows,
    vitals_env,
    wait_until,
)
from vitals.producer import VitalsProducer
from vitals.readings import Reading
from vitals.store import Writer

pytestmark = pytest.mark.services

MIDNIGHT = datetime(2026, 1, 1, tzinfo=UTC)  # readings from 23:58 on Dec 31 to 00:02 on Jan 1


def pid() -> str:
    return f"V{uuid.uuid4().hex[:8].upper()}"


def reading(patient: str, ts: datetime, *, hr: int = 80, spo2: int = 97) -> Reading:
    return Reading(patient, ts, hr, spo2, 120, 80, 16, 36.8, "A", False)  # observed: alert, air


def run_vitals(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vitals", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def send(kafka_settings, topic: str, readings: list[Reading]) -> None:
    with VitalsProducer(kafka=kafka_settings, topic=topic) as producer:
        for r in readings:
            producer.send(r)
    assert producer.stats.acked == len(readings) and producer.stats.failed == 0


# --- vitals query ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def night(session) -> tuple[str, list[Reading]]:
    """240 readings 1 s apart from 23:58:00 to 00:01:59 UTC, written as the consumer does."""
    patient = pid()
    readings = [
        reading(patient, MIDNIGHT + timedelta(seconds=s), hr=60 + s % 50) for s in range(-120, 120)
    ]
    w = Writer(session)
    assert w.execute(w.batches(w.reading_rows(readings, [1] * len(readings))))
    assert w.execute(w.latest_statements([(readings[-1], 1)]))
    return patient, readings


def query_env(topics, keyspace: str) -> dict[str, str]:
    return vitals_env(topics, keyspace)


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_query_across_midnight_returns_every_reading_newest_first(night, topics, keyspace, fmt):
    patient, readings = night
    res = run_vitals(
        query_env(topics, keyspace),
        "query",
        patient,
        "--since",
        "2025-12-31T23:59:00",
        "--until",
        "2026-01-01T00:00:59.999Z",
        "--format",
        fmt,
    )
    assert res.returncode == 0, res.stderr
    expected = sorted(
        (r for r in readings if -60 <= (r.timestamp - MIDNIGHT).total_seconds() < 60),
        key=lambda r: r.timestamp,
        reverse=True,
    )
    assert len(expected) == 120
    if fmt == "json":
        rows = json.loads(res.stdout)
        got = [(datetime.fromisoformat(r["timestamp"]), r["heart_rate"]) for r in rows]
        assert rows[0]["patient_id"] == patient and rows[0]["spo2"] == 97
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(res.stdout)))
        got = [(datetime.fromisoformat(r["timestamp"]), int(r["heart_rate"])) for r in rows]
        assert rows[0]["on_oxygen"] == "false" and rows[0]["temperature"] == "36.8"
    else:
        lines = res.stdout.splitlines()
        assert lines[0].split()[:4] == ["patient_id", "timestamp", "heart_rate", "spo2"]
        got = [
            (
                datetime.strptime(" ".join(ln.split()[1:3]), "%Y-%m-%d %H:%M:%S.%f").replace(
                    tzinfo=UTC
                ),
                int(ln.split()[3]),
            )
            for ln in lines[2:]
        ]
    assert got == [(r.timestamp, r.heart_rate) for r in expected]
    assert res.stderr.strip() == (
        f"120 readings of {patient} from 2025-12-31 23:59:00 to 2026-01-01 00:00:59 UTC"
    )


def test_query_limit_keeps_the_newest_rows_across_days(night, topics, keyspace):
    patient, readings = night
    res = run_vitals(
        query_env(topics, keyspace),
        "query",
        patient,
        "--since",
        "2025-12-31",
        "--until",
        "2026-01-02",
        "--limit",
        "130",
        "--format",
        "json",
    )
    assert res.returncode == 0, res.stderr
    times = [datetime.fromisoformat(r["timestamp"]) for r in json.loads(res.stdout)]
    assert times == sorted((r.timestamp for r in readings), reverse=True)[:130]
    assert times[-1].date() == MIDNIGHT.date() - timedelta(days=1)  # reached into Dec 31
    assert "(--limit 130 reached; older rows not shown)" in res.stderr


def test_query_alerts_lists_raised_and_cleared_events(kafka_settings, topics, keyspace):
    patient = pid()
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    c = start_consumer(topics, keyspace)
    send(
        kafka_settings,
        topics.vitals,
        [
            reading(patient, t0, hr=80),
            reading(patient, t0 + timedelta(seconds=1), hr=125),  # high_heart_rate raised
            reading(patient, t0 + timedelta(seconds=2), hr=80),  # cleared
        ],
    )
    env = query_env(topics, keyspace)

    def events() -> list[dict]:
        res = run_vitals(env, "query", patient, "--alerts", "--since", "1h", "--format", "json")
        assert res.returncode == 0, res.stderr
        rows = json.loads(res.stdout)
        return (
            rows
            if any(r["kind"] == "cleared" and r["rule"] == "high_heart_rate" for r in rows)
            else []
        )

    rows = wait_until(events, 60, "the raised and cleared alert in `vitals query --alerts`")
    c.stop()
    hr = [(r["kind"], r["timestamp"]) for r in rows if r["rule"] == "high_heart_rate"]
    assert hr == [
        ("cleared", (t0 + timedelta(seconds=2)).isoformat()),
        ("raised", (t0 + timedelta(seconds=1)).isoformat()),
    ]


def test_query_of_an_unknown_patient_fails_at_once(topics, keyspace):
    t0 = time.monotonic()
    res = run_vitals(query_env(topics, keyspace), "query", "NOBODY", "--since", "31d")
    took = time.monotonic() - t0
    assert res.returncode == 1, res.stderr
    assert res.stderr.strip() == (
        f"Error: unknown patient 'NOBODY': no reading of it is stored in keyspace {keyspace}; "
        "`vitals watch --once --all` lists the patients (ids are case-sensitive)"
    )
    assert took < 10, f"took {took:.1f} s"


def test_query_reads_31_days_at_most_and_says_how_to_narrow_it(session, topics, keyspace):
    patient = pid()
    new = reading(patient, datetime.now(UTC).replace(microsecond=0))
    w = Writer(session)
    assert w.execute(w.latest_statements([(new, 0)]))
    t0 = time.monotonic()
    res = run_vitals(query_env(topics, keyspace), "query", patient, "--since", "2000-01-01")
    took = time.monotonic() - t0
    assert res.returncode == 2
    assert re.fullmatch(
        r"Error: --since 2000-01-01 \.\. --until now spans 9,\d\d\d days; at most 31 days "
        r"are read at a time \(one partition per patient per day\): give --until too, "
        r"e\.g\. --since 2000-01-01 --until 2000-02-01\n",
        res.stderr,
    ), res.stderr
    assert took < 5, f"took {took:.1f} s"


def test_query_of_31_days_returns_the_oldest_and_newest_day(session, topics, keyspace):
    patient = pid()
    now = datetime.now(UTC).replace(microsecond=0)
    old = reading(patient, now - timedelta(days=30, hours=23), hr=61)
    new = reading(patient, now, hr=62)
    w = Writer(session)
    assert w.execute(w.batches(w.reading_rows([old, new], [0, 0])))
    assert w.execute(w.latest_statements([(new, 0)]))
    res = run_vitals(
        query_env(topics, keyspace), "query", patient, "--since", "31d", "--format", "json"
    )
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [(r["timestamp"], r["heart_rate"]) for r in rows] == [
        (new.timestamp.isoformat(), 62),
        (old.timestamp.isoformat(), 61),
    ]
    one = run_vitals(
        query_env(topics, keyspace), "query", patient, "--since", "31d", "--limit", "1"
    )
    assert one.stderr.startswith(f"1 reading of {patient} from "), one.stderr
    assert one.stderr.endswith(" UTC (--limit 1 reached; older rows not shown)\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2 hours"], "Invalid value for '--since'"),
        (["--since", "1h", "--until", "2h"], "Error: --since 1h "),
        (["--format", "xml"], "Invalid value for '--format'"),
    ],
)
def test_query_refuses_bad_input_with_exit_2(topics, keyspace, args, message):
    res = run_vitals(query_env(topics, keyspace), "query", "P001", *args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr


# --- vitals status --------------------------------------------------------------------------


def status_lines(env: dict[str, str], group: str) -> list[str]:
    res = run_vitals(env, "status", "--group", group)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout.splitlines()


def test_status_shows_the_lag_of_a_group_going_to_zero_when_it_catches_up(
    kafka_settings, topics, keyspace
):
    patient = pid()
    now = datetime.now(UTC)
    send(
        kafka_settings,
        topics.vitals,
        [reading(patient, now - timedelta(seconds=60 - i)) for i in range(50)],
    )
    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    try:  # the group "has read nothing yet": committed offset 0 on every partition
        admin.alter_group_offsets(
            topics.group,
            {TopicPartition(topics.vitals, p): OffsetAndMetadata(0, "", -1) for p in range(3)},
        )
    finally:
        admin.close()
    env = vitals_env(topics, keyspace)

    before = status_lines(env, topics.group)
    assert before[0].startswith("Kafka     up ")
    assert before[1].startswith("Cassandra up ")
    assert f"group {topics.group}  state Empty  members 0  lag 50" in before
    rows = [ln.split() for ln in before if ln.strip().startswith(topics.vitals)]
    assert [r[1:3] for r in rows] == [["0", "0"], ["1", "0"], ["2", "0"]]
    assert sum(int(r[3]) for r in rows) == 50  # end offsets
    assert sum(int(r[4]) for r in rows) == 50  # lags

    c = start_consumer(topics, keyspace)
    wait_until(
        lambda: committed_and_end(topics.vitals, topics.group) == (50, 50),
        60,
        "the consumer to commit all 50 readings",
    )
    after = status_lines(env, topics.group)
    c.stop()
    assert f"group {topics.group}  state Stable  members 1  lag 0" in after
    members = [ln for ln in after if ln.startswith("  member ")]
    assert len(members) == 1
    assert re.fullmatch(
        rf"  member (vitals-consumer-[0-9a-f]{{8}}) on 127\.0\.0\.1: "
        rf"{re.escape(topics.vitals)}\[0\], {re.escape(topics.vitals)}\[1\], "
        rf"{re.escape(topics.vitals)}\[2\]",
        members[0],
    ), members[0]
    member = members[0].split()[1]
    rows = [ln.split() for ln in after if ln.strip().startswith(topics.vitals)]
    assert len(rows) == 3
    assert all(r[2] == r[3] and r[4] == "0" and r[5] == member for r in rows)


def test_status_says_clearly_and_quickly_that_kafka_is_unreachable(topics, keyspace):
    t0 = time.monotonic()
    res = run_vitals(
        vitals_env(topics, keyspace),
        "status",
        "--bootstrap-servers",
        "127.0.0.1:1",
        "--timeout",
        "2",
        timeout=30,
    )
    took = time.monotonic() - t0
    assert res.returncode == 1
    assert took < 15, f"took {took:.1f} s"
    kafka_line, cassandra_line = res.stdout.splitlines()[:2]
    assert kafka_line.startswith("Kafka     DOWN ")
    assert kafka_line.endswith(
        "cannot reach Kafka at 127.0.0.1:1 within 2 s; is it running? (`make up` starts a "
        "local one; --bootstrap-servers / VITALS_BOOTSTRAP_SERVERS)"
    )
    assert cassandra_line.startswith("Cassandra up ")
    assert res.stderr == "Error: Kafka not healthy (see above)\n"


def commit_offsets(group: str, topic: str) -> None:
    """Make ``group`` exist: committed offset 0 on each of the topic's 3 partitions."""
    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    try:
        admin.alter_group_offsets(
            group, {TopicPartition(topic, p): OffsetAndMetadata(0, "", -1) for p in range(3)}
        )
    finally:
        admin.close()


def test_status_quiet_is_a_health_check(topics, keyspace):
    env = vitals_env(topics, keyspace)
    commit_offsets(topics.group, topics.vitals)
    ok = run_vitals(env, "status", "--quiet", "--group", topics.group)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")


def test_status_quiet_says_why_a_service_is_down(topics, keyspace):
    env = vitals_env(topics, keyspace)
    down = run_vitals(env, "status", "--quiet", "--cassandra-port", "1", "--timeout", "2")
    assert down.returncode == 1 and down.stdout == ""
    assert down.stderr.startswith("Error: Cassandra: cannot reach Cassandra at 127.0.0.1:1 (")
    assert "see above" not in down.stderr


@pytest.mark.parametrize("quiet", [[], ["--quiet"]])
def test_status_of_a_group_that_does_not_exist_fails(topics, keyspace, quiet):
    env = vitals_env(topics, keyspace)
    commit_offsets(topics.group, topics.vitals)
    res = run_vitals(env, "status", *quiet, "--group", f"{topics.group}-typo")
    assert res.returncode == 1
    error = res.stderr.strip().splitlines()[-1]
    assert error.startswith(
        f"Error: consumer group '{topics.group}-typo' does not exist on {KAFKA} "
        f"(no members, no committed offsets); did you mean '{topics.group}'"
    )
    assert error.endswith(
        "there (`vitals status` lists them); a new group appears once "
        "`vitals consume --group NAME` has started"
    )


# --- vitals watch in a real terminal --------------------------------------------------------


class Tmux:
    """A private tmux server (own socket) running one command in a 200x50 pane."""

    def __init__(self, command: str) -> None:
        self.socket = f"vitals-test-{uuid.uuid4().hex[:8]}"
        self._tmux(
            "new-session", "-d", "-s", "t", "-x", "200", "-y", "50", "-c", str(ROOT), command
        )

    def _tmux(self, *args: str) -> str:
        res = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert res.returncode == 0, res.stderr
        return res.stdout

    def screen(self, *, escapes: bool = False) -> str:
        return self._tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "t")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def alternate_screen(self) -> bool:
        return self._tmux("display-message", "-p", "-t", "t", "#{alternate_on}").strip() == "1"

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def tmux() -> Iterator[list[Tmux]]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    started: list[Tmux] = []
    yield started
    for t in started:
        t.kill()


def test_watch_in_a_terminal_shows_patients_sickest_first_with_alerts_and_quits_on_ctrl_c(
    kafka_settings, topics, keyspace, tmux
):
    tag = pid()
    sick, well = f"{tag}-SICK", f"{tag}-WELL"
    c = start_consumer(topics, keyspace)
    env = vitals_env(topics, keyspace)
    env.pop("NO_COLOR")
    keep = {
        k: v for k, v in env.items() if k.startswith(("VITALS_", "PATH", "HOME", "LANG", "LC_"))
    }
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(keep.items()))
    watch = f"{shlex.quote(sys.executable)} -m vitals watch --interval 0.5 --prefix {tag}"
    # the shell survives Ctrl+C (a trap, not an ignore: vitals gets SIGINT as usual), prints
    # vitals' exit code and waits for a key (no sleep) so the screen can be read afterwards
    term = Tmux(
        f"env -u NO_COLOR -u COLUMNS -u LINES {exports} sh -c 'trap : INT; {watch}; echo exit=$?; read _'"
    )
    tmux.append(term)
    wait_until(lambda: "no patient whose id starts with" in term.screen(), 30, "the empty board")
    assert term.alternate_screen()

    now = datetime.now(UTC)
    send(
        kafka_settings,
        topics.vitals,
        [reading(well, now - timedelta(seconds=3 - i)) for i in range(3)]
        + [reading(sick, now - timedelta(seconds=3 - i), hr=80, spo2=88) for i in range(3)],
    )

    def board() -> str:
        s = term.screen()
        return s if "HIGH Low SpO2: 88" in s and well in s else ""

    screen = wait_until(
        board,
        60,
        "both patients and the low SpO2 alert on the board",
    )
    c.stop()
    lines = screen.splitlines()
    assert "2 patients · 1 alerting" in lines[0]
    rows = [ln for ln in lines if ln.startswith(tag)]
    assert [r.split()[0] for r in rows] == [sick, well]
    assert rows[0].split()[2:4] == ["80", "88"]
    assert rows[1].split()[2:4] == ["80", "97"]
    coloured = term.screen(escapes=True)
    red = next(ln for ln in coloured.splitlines() if "HIGH Low SpO2: 88" in ln)
    assert f"\x1b[31m{sick}" in red  # tmux re-renders the SGR codes it was sent
    assert "\x1b[31mHIGH Low SpO2: 88" in red

    term.keys("C-c")
    wait_until(lambda: "exit=0" in term.screen(), 15, "vitals watch to exit 0 on Ctrl+C")
    assert not term.alternate_screen()  # the shell's screen is back
    assert tag not in term.screen()


def test_watch_once_without_a_terminal_prints_one_plain_frame(topics, keyspace, session):
    tag = pid()
    w = Writer(session)
    now = datetime.now(UTC)
    assert w.execute(w.latest_statements([(reading(f"{tag}-A", now, hr=131), 3)]))
    env = vitals_env(topics, keyspace)
    env.pop("NO_COLOR")
    res = run_vitals(env, "watch", "--once", "--prefix", tag)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert "\x1b" not in res.stdout  # not a terminal: no colour, no screen control
    assert lines[0].startswith("vitals watch · 1 patient · 0 alerting · ")
    assert lines[2].split()[:4] == [f"{tag}-A", "3", "131", "97"]


def test_watch_shows_who_acknowledged_an_alert_and_only_for_that_raise(topics, keyspace, session):
    tag = pid()
    w = Writer(session)
    now = datetime.now(UTC).replace(microsecond=0)
    for p in (f"{tag}-A", f"{tag}-B"):
        assert w.execute(w.latest_statements([(reading(p, now, spo2=88), 3)]))
        session.execute(
            "INSERT INTO active_alerts (patient_id, rule, severity, message, value, raised_at) "
            "VALUES (%s, 'low_spo2', 'high', 'Low SpO2: 88', 88, %s)",
            (p, now),
        )
    acked_raise = {f"{tag}-A": now, f"{tag}-B": now - timedelta(minutes=5)}  # B: an old raise
    for p, raised in acked_raise.items():
        session.execute(
            "INSERT INTO alert_acks (patient_id, rule, raised_at, acked_by, acked_at) "
            "VALUES (%s, 'low_spo2', %s, 'alice', %s)",
            (p, raised, now),
        )
    res = run_vitals(vitals_env(topics, keyspace), "watch", "--once", "--prefix", tag)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("vitals watch · 2 patients · 2 alerting (1 acknowledged) · ")
    assert lines[2].startswith(f"{tag}-B ") and lines[2].endswith("HIGH Low SpO2: 88")
    assert lines[3].startswith(f"{tag}-A ")
    assert lines[3].endswith("HIGH Low SpO2: 88 (ack alice)")


# --- metrics --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def test_metrics_count_what_was_consumed_stored_dead_lettered_and_alerted(
    kafka_settings, topics, keyspace, session
):
    patients = [pid(), pid()]
    port = free_port()
    c = start_consumer(topics, keyspace, "--metrics-port", str(port))
    now = datetime.now(UTC)
    readings = [
        reading(p, now - timedelta(seconds=30 - i), hr=150 if i % 10 == 5 else 80)
        for i in range(20)
        for p in patients
    ]
    send(kafka_settings, topics.vitals, readings)
    raw = KafkaProducer(bootstrap_servers=KAFKA)
    for body in (b"not json", b'{"patient_id": "x"}', b"[]"):
        raw.send(topics.vitals, body).get(10)
    raw.close()

    wait_until(
        lambda: committed_and_end(topics.vitals, topics.group)[0] == 43,
        60,
        "the group to commit 40 readings and 3 dead letters",
    )

    def counted() -> dict[str, float] | None:
        m = scrape(port)
        return m if m.get("vitals_readings_consumed_total") == 43 else None

    m = wait_until(
        counted,
        10,
        "the consumed counter to reach 43",
    )
    c.stop()
    stored = stored_rows(session, keyspace, patients)
    raised: Counter[str] = Counter()
    for p, day in {(r.patient_id, r.timestamp.date()) for r in readings}:
        for r in session.execute(
            "SELECT kind, severity FROM patient_alerts WHERE patient_id = %s AND day = %s",
            (p, day),
        ):
            if r.kind == "raised":
                raised[r.severity] += 1
    assert len(stored) == 40
    assert m["vitals_readings_stored_total"] == 40
    assert m["vitals_readings_dead_lettered_total"] == 3
    assert raised["medium"] >= 2  # each patient's heart rate of 150
    for severity in ("high", "medium", "low"):
        assert m[f"vitals_alerts_raised_total{{severity={severity}}}"] == raised[severity]
    assert m["vitals_write_seconds_count"] >= 1
    assert m["vitals_batch_records_sum"] == 43
    assert now.timestamp() - 60 < m["vitals_last_commit_timestamp_seconds"] <= time.time()


def test_query_shows_vitals_not_measured_and_an_incomplete_news2(session, topics, keyspace):
    """A pulse oximeter's readings: blood pressure, respiratory rate and temperature were not
    measured ('-' in the table, blank in CSV, null in JSON) and NEWS2 is incomplete."""
    from vitals.freshness import Freshest

    patient = pid()
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    readings = [Reading(patient, t0, heart_rate=88, spo2=95)]
    bases = [Freshest().update(r) for r in readings]
    assert bases[0].missing == ("respiratory_rate", "blood_pressure", "temperature")
    w = Writer(session)
    assert w.execute(w.batches(w.reading_rows(readings, [None], bases)))
    assert w.execute(w.latest_statements([(readings[0], None, bases[0])]))
    env = query_env(topics, keyspace)

    def query(fmt: str) -> str:
        res = run_vitals(env, "query", patient, "--since", "1h", "--format", fmt)
        assert res.returncode == 0, res.stderr
        return res.stdout

    (row,) = json.loads(query("json"))
    assert (row["heart_rate"], row["spo2"], row["systolic"], row["temperature"]) == (
        88,
        95,
        None,
        None,
    )
    assert row["news2"] is None
    assert row["news2_missing"] == ["respiratory_rate", "blood_pressure", "temperature"]

    (row,) = list(csv.DictReader(io.StringIO(query("csv"))))
    assert (row["heart_rate"], row["systolic"], row["respiratory_rate"], row["news2"]) == (
        "88",
        "",
        "",
        "",
    )
    assert row["news2_missing"] == "respiratory_rate blood_pressure temperature"

    header, _rule, line = query("table").splitlines()
    cells = dict(
        zip(
            header.split(),
            [*line.split()[:1], " ".join(line.split()[1:3]), *line.split()[3:]],
            strict=True,
        )
    )
    assert cells["heart_rate"] == "88" and cells["spo2"] == "95"
    for vital in ("systolic", "diastolic", "respiratory_rate", "temperature"):
        assert cells[vital] == "-", cells
    assert cells["news2"] == "inc"
    assert cells["news2_missing"] == "respiratory_rate,blood_pressure,temperature"


def test_query_shows_each_vitals_device_status(session, topics, keyspace):
    """A vital the device could not measure (probe off, invalid cuff) is told apart from one
    not measured: the status in the vital's cell of the table, a ``status`` column in CSV
    (``vital:status`` pairs) and JSON (an object by vital)."""
    from vitals.freshness import Freshest

    patient = pid()
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    statuses = (("blood_pressure", "invalid"), ("spo2", "probe_off"))
    readings = [Reading(patient, t0, heart_rate=88, status=statuses)]
    bases = [Freshest().update(r) for r in readings]
    w = Writer(session)
    assert w.execute(w.batches(w.reading_rows(readings, [None], bases)))
    assert w.execute(w.latest_statements([(readings[0], None, bases[0])]))
    env = query_env(topics, keyspace)

    def query(fmt: str) -> str:
        res = run_vitals(env, "query", patient, "--since", "1h", "--format", fmt)
        assert res.returncode == 0, res.stderr
        return res.stdout

    (row,) = json.loads(query("json"))
    assert (row["spo2"], row["status"]) == (
        None,
        {"blood_pressure": "invalid", "spo2": "probe_off"},
    )
    (row,) = list(csv.DictReader(io.StringIO(query("csv"))))
    assert (row["spo2"], row["status"]) == ("", "blood_pressure:invalid spo2:probe_off")

    header, _rule, line = query("table").splitlines()
    assert "status" not in header.split()
    cells = dict(
        zip(
            header.split(),
            [*line.split()[:1], " ".join(line.split()[1:3]), *line.split()[3:]],
            strict=True,
        )
    )
    assert (cells["heart_rate"], cells["spo2"]) == ("88", "probe_off")
    assert (cells["systolic"], cells["diastolic"]) == ("invalid", "invalid")
    assert (cells["respiratory_rate"], cells["temperature"]) == ("-", "-")  # not measured
