"""`vitals gateway` against the real servers, driven by MLLP clients we did not write.

Messages go in through python-hl7's ``MLLPClient`` (the client behind its ``mllp_send``
command) or a raw socket; what comes out is read from Kafka and Cassandra.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import uuid
from datetime import UTC, datetime, timedelta, timezone

import hl7
import pytest
from hl7.client import MLLPClient

from tests.helpers import (
    KAFKA,
    VitalsProcess,
    committed_and_end,
    read_topic,
    start_consumer,
    stored_rows,
    vitals_env,
    wait_until,
)

pytestmark = pytest.mark.services

CET = timezone(timedelta(hours=1))


def start_gateway(topics, keyspace, *args: str, kafka: str = KAFKA) -> tuple[VitalsProcess, int]:
    env = vitals_env(topics, keyspace, kafka=kafka)
    # a loaded shared machine can take seconds to acknowledge; AR is tested on its own
    p = VitalsProcess(["gateway", "--port", "0", "--ack-timeout", "30", *args], env)
    p.wait_for("Listening for HL7 MLLP on", timeout=60)
    port = int(re.search(r"Listening for HL7 MLLP on [^ ]+:(\d+)", p.text()).group(1))
    return p, port


def consumed(topics, n: int, *procs: VitalsProcess, timeout: float = 120) -> None:
    """Wait until the group committed all ``n`` records; on timeout show the processes' output."""
    try:
        wait_until(lambda: committed_and_end(topics.vitals, topics.group) == (n, n), timeout, "")
    except TimeoutError:
        state = committed_and_end(topics.vitals, topics.group)
        logs = "\n---\n".join(p.text() for p in procs)
        raise AssertionError(f"(committed, end) = {state}, expected ({n}, {n}):\n{logs}") from None


def hl7_time(t: datetime) -> str:
    return t.astimezone(CET).strftime("%Y%m%d%H%M%S%z")


def pcd01(pid: str, control_id: str, groups: list[tuple[datetime, dict]]) -> str:
    """An ORU^R01 shaped like a GE/Philips gateway's: MDS/VMD rows with no value, then
    numeric OBX rows with MDC codes, units and their own time (OBX-14) per group."""
    sent = groups[-1][0] + timedelta(seconds=2)
    segs = [
        f"MSH|^~\\&|CARESCAPE^00A0C8FFFE000001^EUI-64|ICU3|VITALS|HOSPITAL|{hl7_time(sent)}||"
        f"ORU^R01^ORU_R01|{control_id}|P|2.6|||AL|NE||UNICODE UTF-8|||"
        "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
        f"PID|||{pid}^^^HOSPITAL^MR||Doe^Jane",
        "PV1||I|ICU3^BED04^1",
        f"OBR|1|{control_id}^CARESCAPE|{control_id}^CARESCAPE|182777000^monitoring of patient"
        f"^SNOMED-CT|||{hl7_time(sent)}",
        "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
    ]
    codes = {
        "heart_rate": ("147842^MDC_ECG_HEART_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
        "spo2": ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "262688^MDC_DIM_PERCENT^MDC"),
        "systolic": ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "266016^MDC_DIM_MMHG^MDC"),
        "diastolic": ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "266016^MDC_DIM_MMHG^MDC"),
        "respiratory_rate": ("151562^MDC_RESP_RATE^MDC", "264928^MDC_DIM_RESP_PER_MIN^MDC"),
        "temperature": ("150364^MDC_TEMP_BODY^MDC", "268192^MDC_DIM_DEGC^MDC"),
    }
    n = 1
    for when, values in groups:
        for vital, value in values.items():
            n += 1
            code, unit = codes[vital]
            segs.append(f"OBX|{n}|NM|{code}|1.{n}.1.1|{value}|{unit}|||||R|||{hl7_time(when)}")
    return "\r".join(segs) + "\r"


def send(port: int, message: str) -> hl7.Message:
    with MLLPClient("127.0.0.1", port) as client:
        answer = client.send_message(message)
    return hl7.parse(answer.strip(b"\x0b\x1c\r").decode())


def ack_code(ack: hl7.Message) -> str:
    return str(ack.segment("MSA")(1))


SIX = {"heart_rate": 72, "spo2": 97, "systolic": 121, "diastolic": 79, "respiratory_rate": 16}
SIX_T = {**SIX, "temperature": 36.8}


def test_a_pcd01_message_is_acknowledged_aa_and_stored_once_even_when_sent_twice(
    topics, keyspace, session
):
    pid = f"HL7-{uuid.uuid4().hex[:6]}"
    first = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    second = first + timedelta(seconds=30)
    message = pcd01(pid, "GE-1", [(first, SIX_T), (second, {**SIX_T, "heart_rate": 75})])
    consumer = start_consumer(topics, keyspace)
    gw, port = start_gateway(topics, keyspace)

    acks = [send(port, message), send(port, message)]  # a re-send after a lost ACK

    assert [ack_code(a) for a in acks] == ["AA", "AA"]
    assert [str(a.segment("MSA")(2)) for a in acks] == ["GE-1", "GE-1"]
    consumed(topics, 4, consumer, gw)
    rows = sorted(stored_rows(session, keyspace, [pid]), key=lambda r: r.timestamp)
    assert [r.timestamp.replace(tzinfo=UTC) for r in rows] == [first, second]
    assert [
        (r.heart_rate, r.spo2, r.systolic, r.diastolic, r.respiratory_rate, r.temperature)
        for r in rows
    ] == [(72, 97, 121, 79, 16, pytest.approx(36.8)), (75, 97, 121, 79, 16, pytest.approx(36.8))]
    assert gw.stop() == 0 and consumer.stop() == 0
    assert "4 readings published" in gw.text()


def partial_message(pid: str, now: datetime, cuff: datetime) -> str:
    """A Philips-style message: HR by MDIL code, SpO2 X, CO2 respiratory rate, a cuff pressure
    in kPa at its own time (OBX-14), the NIBP mean (not a vital here), no temperature."""
    return (
        "\r".join(
            [
                f"MSH|^~\\&|INTELLIVUE|WARD7|VITALS|H|{hl7_time(now)}||ORU^R01^ORU_R01|PH-9|P|2.6",
                f"PID|||{pid}^^^H^MR",
                f"OBR|1|PH-9|PH-9|182777000^monitoring of patient^SNOMED-CT|||{hl7_time(now)}",
                "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
                "OBX|2|NM|0002-4182^HR^MDIL|1.1.1.1|88|/min^^UCUM|||||R",
                "OBX|3|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1||%^^UCUM|||||X",
                "OBX|4|NM|151594^MDC_CO2_RESP_RATE^MDC|1.4.1.1|18|/min^^UCUM|||||R",
                f"OBX|5|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.3.1.1|18.0|kPa^^UCUM|||||R|||{hl7_time(cuff)}",
                f"OBX|6|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.3.1.2|10.0|kPa^^UCUM|||||R|||{hl7_time(cuff)}",
                f"OBX|7|NM|150023^MDC_PRESS_BLD_NONINV_MEAN^MDC|1.3.1.3|12.4|kPa^^UCUM|||||R|||{hl7_time(cuff)}",
            ]
        )
        + "\r"
    )


def test_a_partial_message_publishes_each_observation_time_with_only_its_vitals(topics, keyspace):
    pid = f"HL7-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC).replace(microsecond=0)
    cuff = now - timedelta(minutes=3)
    message = partial_message(pid, now, cuff)
    gw, port = start_gateway(topics, keyspace)

    assert ack_code(send(port, message)) == "AA"

    records = read_topic(topics.vitals, 2)
    assert {r.key for r in records} == {pid.encode()}
    published = sorted((json.loads(r.value) for r in records), key=lambda m: m["timestamp"])
    assert published == [
        {
            "patient_id": pid,
            "timestamp": cuff.isoformat(),
            "blood_pressure": {"systolic": 135, "diastolic": 75},
        },
        {
            "patient_id": pid,
            "timestamp": now.isoformat(),
            "heart_rate": 88,
            "respiratory_rate": 18,
            "status": {"spo2": "invalid"},
        },
    ]
    assert gw.stop() == 0
    assert "OBX code 150023^MDC is not in the code table: ignored and counted" in gw.text()
    assert "most frequent unknown codes: 150023^MDC ×1" in gw.text()


def test_a_message_that_cannot_be_mapped_is_answered_ae_and_dead_lettered(topics, keyspace):
    pid = f"HL7-{uuid.uuid4().hex[:6]}"
    t = datetime.now(UTC).replace(microsecond=0)
    message = pcd01(pid, "BAD-1", [(t, SIX_T)]).replace("|121|", "|one-twenty|")
    gw, port = start_gateway(topics, keyspace)

    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:  # a raw MLLP frame
        s.sendall(b"\x0b" + message.encode() + b"\x1c\r")
        answer = b""
        while not answer.endswith(b"\x1c\r"):
            answer += s.recv(4096)
    ack = hl7.parse(answer.strip(b"\x0b\x1c\r").decode())

    assert ack_code(ack) == "AE"
    assert str(ack.segment("MSA")(2)) == "BAD-1"
    err = ack.segment("ERR")
    assert str(err(2)) == "OBX^4^5"
    assert str(err(3)) == "102^Data type error^HL70357"
    assert str(err(8)) == "OBX[4]-5: value 'one-twenty' is not a number"
    dead = read_topic(topics.dlq, 1)[0]
    assert dead.value == message.encode()
    headers = dict(dead.headers)
    assert headers["vitals.error"] == b"OBX[4]-5: value 'one-twenty' is not a number"
    assert headers["hl7.control_id"] == b"BAD-1"
    assert committed_and_end(topics.vitals, "nobody")[1] == 0  # nothing published
    assert gw.stop() == 0


def test_an_impossible_value_is_answered_ae_naming_the_obx_and_never_published(topics, keyspace):
    """The consumer would dead-letter heart rate -40: the device is told, not the DLQ only."""
    pid = f"HL7-{uuid.uuid4().hex[:6]}"
    t = datetime.now(UTC).replace(microsecond=0)
    gw, port = start_gateway(topics, keyspace)
    ack = send(port, pcd01(pid, "NEG-1", [(t, {**SIX_T, "heart_rate": -40})]))

    assert ack_code(ack) == "AE"
    assert str(ack.segment("MSA")(2)) == "NEG-1"
    err = ack.segment("ERR")
    assert str(err(2)) == "OBX^2^5"
    expected = "OBX[2]-5: heart_rate: -40.0 is outside the possible range 0..350"
    assert str(err(8)) == expected
    assert dict(read_topic(topics.dlq, 1)[0].headers)["vitals.error"] == expected.encode()
    assert committed_and_end(topics.vitals, "nobody")[1] == 0  # nothing published
    assert gw.stop() == 0


def test_a_patient_id_outside_the_one_rule_is_answered_ae_at_pid_3_1_and_never_published(
    topics, keyspace
):
    """``W3/12`` would be stored but never opened (a URL splits it): PATIENT_ID_RULE refuses it."""
    t = datetime.now(UTC).replace(microsecond=0)
    gw, port = start_gateway(topics, keyspace)
    ack = send(port, pcd01("W3/12", "PID-1", [(t, SIX_T)]))

    assert ack_code(ack) == "AE"
    assert str(ack.segment("MSA")(2)) == "PID-1"
    err = ack.segment("ERR")
    assert str(err(2)) == "PID^1^3^1^1"
    assert str(err(3)) == "102^Data type error^HL70357"
    assert str(err(8)).startswith("PID-3.1: patient_id: 'W3/12' is not a patient id (1–64 ")
    assert committed_and_end(topics.vitals, "nobody")[1] == 0  # nothing published
    assert gw.stop() == 0


def test_while_kafka_is_unreachable_the_answer_is_ar_and_the_resent_message_is_not_lost(
    topics, keyspace
):
    with socket.socket() as s:  # a port where no broker listens
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    pid = f"HL7-{uuid.uuid4().hex[:6]}"
    t = datetime.now(UTC).replace(microsecond=0)
    message = pcd01(pid, "RETRY-1", [(t, SIX_T)])
    down, port = start_gateway(
        topics, keyspace, "--ack-timeout", "2", kafka=f"127.0.0.1:{dead_port}"
    )

    answers = [send(port, message), send(port, message)]

    assert [ack_code(a) for a in answers] == ["AR", "AR"]
    assert "Kafka is unreachable" in str(answers[0].segment("ERR")(8))
    assert down.stop() == 0
    up, port = start_gateway(topics, keyspace)
    assert ack_code(send(port, message)) == "AA"  # the sender retries against Kafka that is back
    [record] = read_topic(topics.vitals, 1)
    assert json.loads(record.value)["timestamp"] == t.isoformat()
    assert up.stop() == 0


def test_a_sender_outside_the_allow_list_is_disconnected_unanswered(topics, keyspace):
    gw, port = start_gateway(topics, keyspace, "--allow", "10.0.0.0/8")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"\x0b" + pcd01("P1", "X-1", [(datetime.now(UTC), SIX_T)]).encode() + b"\x1c\r")
        try:
            answer = s.recv(4096)
        except ConnectionResetError:  # closed with our frame unread
            answer = b""
        assert answer == b""  # closed without an ACK
    assert gw.stop() == 0
    assert "1 connections refused" in gw.text()


def test_listening_beyond_loopback_without_an_allow_list_is_refused(topics, keyspace):
    p = VitalsProcess(["gateway", "--host", "0.0.0.0"], vitals_env(topics, keyspace))
    assert p.proc.wait(60) == 2
    p.stop()
    assert "Error: refusing to listen on 0.0.0.0 without an allow-list of senders" in p.text()


def test_bytes_that_are_not_hl7_are_answered_ae_and_dead_lettered(topics, keyspace):
    gw, port = start_gateway(topics, keyspace)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"\x0bhello, is this the ward?\x1c\r")
        answer = b""
        while not answer.endswith(b"\x1c\r"):
            answer += s.recv(4096)
    ack = hl7.parse(answer.strip(b"\x0b\x1c\r").decode())
    assert ack_code(ack) == "AE"
    assert str(ack.segment("ERR")(3)) == "100^Segment sequence error^HL70357"
    dead = read_topic(topics.dlq, 1)[0]
    assert dead.value == b"hello, is this the ward?"
    assert dict(dead.headers)["vitals.error"].startswith(b"MSH: not an HL7 v2 message")
    assert gw.stop() == 0


def test_mllp_over_tls_is_acknowledged(topics, keyspace, tmp_path):
    cert, key = tmp_path / "gw.pem", tmp_path / "gw.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=vitals-gateway",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    gw, port = start_gateway(topics, keyspace, "--tls-cert", str(cert), "--tls-key", str(key))
    assert "(TLS)" in gw.text()
    context = ssl.create_default_context(cafile=str(cert))
    message = pcd01(f"HL7-{uuid.uuid4().hex[:6]}", "TLS-1", [(datetime.now(UTC), SIX_T)])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        s.sendall(b"\x0b" + message.encode() + b"\x1c\r")
        answer = b""
        while not answer.endswith(b"\x1c\r"):
            answer += s.recv(4096)
    assert ack_code(hl7.parse(answer.strip(b"\x0b\x1c\r").decode())) == "AA"
    assert len(read_topic(topics.vitals, 1)) == 1
    with socket.create_connection(("127.0.0.1", port), timeout=30) as plain:  # no TLS: no ACK
        plain.sendall(b"\x0b" + message.encode() + b"\x1c\r")
        try:
            reply = plain.recv(4096)
        except ConnectionResetError:
            reply = b""
        assert b"MSA" not in reply
    assert gw.stop() == 0


def test_an_oversized_frame_closes_that_connection_and_the_gateway_goes_on(topics, keyspace):
    gw, port = start_gateway(topics, keyspace)
    huge = pcd01("P1", "BIG-1", [(datetime.now(UTC), SIX_T)]) + "NTE|1||" + "x" * 600_000 + "\r"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"\x0b" + huge.encode() + b"\x1c\r")
        try:
            reply = s.recv(4096)
        except ConnectionResetError:
            reply = b""
    assert reply == b""
    message = pcd01(f"HL7-{uuid.uuid4().hex[:6]}", "OK-1", [(datetime.now(UTC), SIX_T)])
    assert ack_code(send(port, message)) == "AA"
    assert gw.stop() == 0
    assert "frame larger than 512 KiB, closing the connection" in gw.text()


def test_a_partial_message_is_stored_as_two_rows_with_only_their_vitals_and_the_status(
    topics, keyspace, session
):
    pid = f"HL7-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC).replace(microsecond=0)
    cuff = now - timedelta(minutes=3)
    consumer = start_consumer(topics, keyspace)
    gw, port = start_gateway(topics, keyspace)

    assert ack_code(send(port, partial_message(pid, now, cuff))) == "AA"

    consumed(topics, 2, consumer, gw)
    rows = sorted(stored_rows(session, keyspace, [pid]), key=lambda r: r.timestamp)
    assert [
        (
            r.timestamp.replace(tzinfo=UTC),
            r.heart_rate,
            r.spo2,
            r.systolic,
            r.diastolic,
            r.respiratory_rate,
            r.temperature,
            dict(r.status or {}),
        )
        for r in rows
    ] == [
        (cuff, None, None, 135, 75, None, None, {}),
        (now, 88, None, None, None, 18, None, {"spo2": "invalid"}),
    ]
    assert gw.stop() == 0 and consumer.stop() == 0


def two_patient_message(pa: str, pb: str, t1: datetime, t2: datetime) -> str:
    """One ORU^R01 with two PATIENT_RESULT groups (HL7 v2.6 ORU^R01; IHE PCD-01 DEC)."""
    return (
        "\r".join(
            [
                f"MSH|^~\\&|DEC|ICU|VITALS|H|{hl7_time(t2)}||ORU^R01^ORU_R01|TWO-1|P|2.6",
                f"PID|||{pa}^^^H^MR",
                f"OBR|1|TWO-1|TWO-1|182777000^monitoring of patient^SNOMED-CT|||{hl7_time(t1)}",
                f"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|70|/min|||||R|||{hl7_time(t1)}",
                f"PID|||{pb}^^^H^MR",
                f"OBR|2|TWO-1|TWO-1|182777000^monitoring of patient^SNOMED-CT|||{hl7_time(t2)}",
                f"OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|155|/min|||||R|||{hl7_time(t2)}",
                f"OBX|3|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|82|%|||||R|||{hl7_time(t2)}",
            ]
        )
        + "\r"
    )


def test_two_patients_in_one_message_are_each_stored_under_their_own_id(topics, keyspace, session):
    """Only the first PID used to be read: PB2's HR 155 and SpO2 82 were stored under PA1."""
    tag = uuid.uuid4().hex[:6]
    pa, pb = f"PA1-{tag}", f"PB2-{tag}"
    t1 = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    t2 = t1 + timedelta(minutes=1)
    consumer = start_consumer(topics, keyspace)
    gw, port = start_gateway(topics, keyspace)

    assert ack_code(send(port, two_patient_message(pa, pb, t1, t2))) == "AA"

    consumed(topics, 2, consumer, gw)
    rows = stored_rows(session, keyspace, [pa, pb])
    assert sorted(
        (r.patient_id, r.timestamp.replace(tzinfo=UTC), r.heart_rate, r.spo2) for r in rows
    ) == [(pa, t1, 70, None), (pb, t2, 155, 82)]
    assert gw.stop() == 0 and consumer.stop() == 0
    assert "2 readings published" in gw.text()


@pytest.mark.parametrize(
    ("change", "err2", "err8"),
    [
        (
            lambda m: re.sub(r"PID\|\|\|PA1[^\r]*\r", "", m, count=1),  # group 1 loses its PID
            "OBX^1",
            "OBX[1]: OBX before any PID: it belongs to no patient (ORU^R01 PATIENT_RESULT "
            "group: PID, then OBR, then its OBX)",
        ),
        (
            lambda m: re.sub(r"(OBX\|1\|[^\r]*\|\|\|)\d{14}[+-]\d{4}", r"\g<1>2026", m),
            "OBX^1^14",
            "OBX[1]-14: '2026' is less precise than the minute; an observation time needs "
            "at least YYYYMMDDHHMM",
        ),
        (
            lambda m: m.replace(
                "147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|70|/min", "150021^SYS^MDC|1.3.1.1|120|mmHg"
            ),
            "OBX^1^5",
            "OBX[1]-5: blood_pressure: diastolic missing; a blood pressure has both",
        ),
    ],
    ids=["obx before any pid", "year-precision OBX-14", "systolic without diastolic"],
)
def test_a_message_the_gateway_cannot_file_rightly_is_ae_naming_the_segment_and_never_published(
    topics, keyspace, change, err2, err8
):
    tag = uuid.uuid4().hex[:6]
    t1 = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    message = change(two_patient_message(f"PA1-{tag}", f"PB2-{tag}", t1, t1))
    gw, port = start_gateway(topics, keyspace)

    ack = send(port, message)

    assert ack_code(ack) == "AE"
    err = ack.segment("ERR")
    assert (str(err(2)), ack.unescape(str(err(8)))) == (err2, err8)
    dead = read_topic(topics.dlq, 1)[0]
    assert dead.value == message.encode()
    assert dict(dead.headers)["vitals.error"] == err8.encode()
    assert committed_and_end(topics.vitals, "nobody")[1] == 0  # nothing published
    assert gw.stop() == 0


def test_an_escaped_delimiter_in_pid3_is_the_character_it_stands_for(topics, keyspace):
    """``A\\F\\B`` is the id ``A|B`` (HL7 v2.6 2.7.4): published unescaped, keyed by it."""
    tag = uuid.uuid4().hex[:6]
    t = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    gw, port = start_gateway(topics, keyspace)

    assert ack_code(send(port, pcd01(f"A\\F\\B-{tag}", "ESC-1", [(t, SIX_T)]))) == "AA"

    [record] = read_topic(topics.vitals, 1)
    assert record.key == f"A|B-{tag}".encode()
    assert json.loads(record.value)["patient_id"] == f"A|B-{tag}"
    assert gw.stop() == 0


def test_contradictions_in_one_message_are_ae_said_plainly_and_never_published(topics, keyspace):
    """The same patient in two PID groups with HR 70 and 155 at one time was AA with 70
    published and 155 dropped; a pressure whose halves were 1 s apart was "diastolic
    missing"; PID-3 ``A\\B`` was echoed escaped twice (``'A\\E\\\\E\\B'``)."""
    tag = uuid.uuid4().hex[:6]
    t = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    same = two_patient_message(f"PA1-{tag}", f"PA1-{tag}", t, t)
    halves = same.replace(
        "147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|70|/min", "150021^SYS^MDC|1.3.1.1|120|mmHg"
    ).replace(
        f"147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|155|/min|||||R|||{hl7_time(t)}",
        f"150022^DIA^MDC|1.3.1.2|80|mmHg|||||R|||{hl7_time(t + timedelta(seconds=1))}",
    )
    lone_escape = two_patient_message(f"A\\B-{tag}", f"PB2-{tag}", t, t)
    gw, port = start_gateway(topics, keyspace)
    when = f"{t:%Y-%m-%d %H:%M:%S} UTC"
    expected = [
        (
            same,
            "OBX^2^5",
            "205^Duplicate key identifier^HL70357",
            f"OBX[2]-5: heart_rate at {when} is 155 here but 70 in OBX[1]: conflicting "
            "values of one vital at one observation time",
        ),
        (
            halves,
            "OBX^2^14",
            "102^Data type error^HL70357",
            f"OBX[2]-14: systolic (OBX[1]) at {when} and diastolic (OBX[2]) at "
            f"{t + timedelta(seconds=1):%Y-%m-%d %H:%M:%S} UTC: systolic and diastolic must "
            "share an observation time (one blood pressure)",
        ),
        (
            lone_escape,
            "PID^1^3^1^1",
            "102^Data type error^HL70357",
            f"PID[1]-3.1: 'A\\B-{tag}' has an HL7 escape sequence this gateway does not read "
            "(only \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\Xhh\\)",
        ),
    ]
    for message, err2, err3, err8 in expected:
        ack = send(port, message)
        assert ack_code(ack) == "AE", str(ack)
        err = ack.segment("ERR")
        assert (str(err(2)), str(err(3)), ack.unescape(str(err(8)))) == (err2, err3, err8)
    assert [d.value for d in read_topic(topics.dlq, 3)] == [m.encode() for m, *_ in expected]
    assert committed_and_end(topics.vitals, "nobody")[1] == 0  # nothing published
    assert gw.stop() == 0
