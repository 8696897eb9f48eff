"""`vitals gateway` figures: HL7 messages/s and readings/s at saturation, receive→ACK delay.

A real MLLP client (python-hl7's ``MLLPClient``, the one behind ``mllp_send``) sends
IHE PCD-01 ORU^R01 messages to a ``vitals gateway`` subprocess publishing to a scratch
topic of the local Kafka (``acks=all``). Each message carries two observation times with
six vitals each (two readings). Saturation: ``connections`` clients send back to back,
each waiting for its ACK (HL7 original mode allows one message in flight per connection).
Delay: 100 messages/s spread over 4 connections, measured by the client from sending the
frame to receiving the whole ACK (so it includes the Kafka acknowledgement).
"""

from __future__ import annotations

import re
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from hl7.client import MLLPClient

from bench.infra import Scratch, VitalsProc, vitals_env

VITALS = (
    ("147842^MDC_ECG_HEART_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC", "72"),
    ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "262688^MDC_DIM_PERCENT^MDC", "97"),
    ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "266016^MDC_DIM_MMHG^MDC", "120"),
    ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "266016^MDC_DIM_MMHG^MDC", "80"),
    ("151562^MDC_RESP_RATE^MDC", "264928^MDC_DIM_RESP_PER_MIN^MDC", "16"),
    ("150364^MDC_TEMP_BODY^MDC", "268192^MDC_DIM_DEGC^MDC", "36.8"),
)
READINGS_PER_MESSAGE = 2


def message(patient: str, seq: int, when: datetime) -> bytes:
    stamp = lambda t: t.strftime("%Y%m%d%H%M%S.%f")[:-3] + "+0000"  # noqa: E731
    segs = [
        f"MSH|^~\\&|BENCH|ICU|VITALS|H|{stamp(when)}||ORU^R01^ORU_R01|{patient}-{seq}|P|2.6",
        f"PID|||{patient}^^^H^MR",
        f"OBR|1|{patient}-{seq}|{patient}-{seq}|182777000^monitoring of patient^SNOMED-CT|||{stamp(when)}",
        "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
    ]
    for g in range(READINGS_PER_MESSAGE):
        t = stamp(when - timedelta(seconds=g))
        for i, (code, unit, value) in enumerate(VITALS, 2):
            segs.append(f"OBX|{i}|NM|{code}|1.{i}.1.1|{value}|{unit}|||||R|||{t}")
    return ("\r".join(segs) + "\r").encode()


class Client:
    """One MLLP connection; ``send`` returns the seconds from sending to the whole ACK."""

    def __init__(self, port: int, patient: str) -> None:
        self.mllp = MLLPClient("127.0.0.1", port)
        self.patient = patient
        self.seq = 0
        self.base = datetime.now(UTC) - timedelta(hours=12)

    def send(self) -> tuple[float, bool]:
        self.seq += 1
        data = message(self.patient, self.seq, self.base + timedelta(seconds=2 * self.seq))
        t0 = time.perf_counter()
        ack = self.mllp.send_message(data)
        while not ack.endswith(b"\x1c\r"):  # MLLPClient returns one recv(); finish the frame
            ack += self.mllp.socket.recv(4096)
        return time.perf_counter() - t0, b"MSA|AA|" in ack

    def close(self) -> None:
        self.mllp.close()


def start(scratch: Scratch) -> tuple[VitalsProc, int]:
    topic, dlq = scratch.topic("hl7"), scratch.topic("hl7dlq", 1)
    env = vitals_env(VITALS_TOPIC=topic, VITALS_DLQ_TOPIC=dlq)
    proc = VitalsProc(["gateway", "--port", "0"], env)
    proc.wait_for("Listening for HL7 MLLP on")
    line = proc.last_line("Listening for HL7 MLLP on") or ""
    return proc, int(re.search(r":(\d+)", line.split(" on ")[-1]).group(1))  # type: ignore[union-attr]


def saturation(port: int, *, connections: int, seconds: float) -> dict:
    counts = [0] * connections
    failed = [0] * connections
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        c = Client(port, f"B{uuid.uuid4().hex[:6]}")
        try:
            while time.monotonic() < stop:
                _, ok = c.send()
                counts[i] += ok
                failed[i] += not ok
        finally:
            c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    return {
        "connections": connections,
        "messages_per_s": sum(counts) / elapsed,
        "readings_per_s": sum(counts) * READINGS_PER_MESSAGE / elapsed,
        "not_aa": sum(failed),
    }


def paced(port: int, *, rate: float, seconds: float, connections: int = 4) -> dict:
    delays: list[float] = []
    lock = threading.Lock()
    start_at = time.monotonic() + 0.5

    def work(i: int) -> None:
        c = Client(port, f"L{uuid.uuid4().hex[:6]}")
        k = 0
        try:
            while True:
                due = start_at + (k * connections + i) / rate
                if due - start_at >= seconds:
                    return
                time.sleep(max(due - time.monotonic(), 0))
                d, _ok = c.send()
                with lock:
                    delays.append(d)
                k += 1
        finally:
            c.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q = statistics.quantiles(delays, n=100)
    return {
        "rate": rate,
        "messages": len(delays),
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "max_ms": max(delays) * 1000,
    }


def run(scratch: Scratch, *, seconds: float = 20.0) -> dict:
    """Saturation with 1 and 8 connections, then 100 messages/s; one gateway process."""
    proc, port = start(scratch)
    try:
        out = {
            "sat1": saturation(port, connections=1, seconds=seconds),
            "sat8": saturation(port, connections=8, seconds=seconds),
            "paced": paced(port, rate=100, seconds=seconds),
        }
    finally:
        proc.finish()
    out["gateway_cpu_s"] = proc.cpu_s
    out["gateway_rss_mb"] = proc.maxrss_mb
    return out


def render(g: dict) -> str:
    s1, s8, p = g["sat1"], g["sat8"], g["paced"]
    return (
        f"  gateway (HL7 MLLP → Kafka acks=all, {READINGS_PER_MESSAGE} readings/message): "
        f"saturation 1 connection {s1['messages_per_s']:.0f} msg/s ({s1['readings_per_s']:.0f} "
        f"readings/s), 8 connections {s8['messages_per_s']:.0f} msg/s ({s8['readings_per_s']:.0f} "
        f"readings/s), not AA {s1['not_aa'] + s8['not_aa']}; at {p['rate']:.0f} msg/s "
        f"receive→ACK p50 {p['p50_ms']:.1f} ms, p99 {p['p99_ms']:.1f} ms, max {p['max_ms']:.1f} ms "
        f"({p['messages']} messages); gateway RSS {g['gateway_rss_mb'] or 0:.0f} MB"
    )


if __name__ == "__main__":  # python -m bench.gateway: this figure alone
    scratch = Scratch.open()
    try:
        print(render(run(scratch)))
    finally:
        scratch.cleanup()
