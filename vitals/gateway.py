"""``vitals gateway``: an MLLP listener that turns HL7 v2 ORU^R01 messages into readings on Kafka.

Contract, per message (HL7 v2 original-mode acknowledgement, IHE PCD-01 / PCD TF-2):

- ``AA`` only after Kafka acknowledged every reading of the message (``acks=all``,
  idempotent producer of ``vitals.producer.make_producer``), each keyed by patient id;
- ``AE`` with an ERR segment naming the segment, field and reason (HL7 table 0357 code)
  for a message that cannot be mapped, after its original bytes are acknowledged by the
  dead-letter topic (headers ``vitals.error``, ``vitals.error.class``, ``hl7.control_id``,
  ``vitals.source.peer``);
- ``AR`` while Kafka is unreachable or does not acknowledge within ``ack_timeout_s``, so the
  sender keeps the message and retries. A message re-sent after a lost ACK maps to the same
  keys (patient, observation time), so it never duplicates a stored row.

Listens on 127.0.0.1 unless told otherwise; any other address needs an allow-list of sender
networks (connections from elsewhere are closed unanswered), TLS is optional.
Mapping rules: ``vitals.hl7_mapping``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import hl7
from hl7.mllp import InvalidBlockError, start_hl7_server
from kafka.errors import KafkaError

from vitals.admin import missing_topics
from vitals.config import DLQ_TOPIC, VITALS_TOPIC, KafkaSettings
from vitals.errors import ConfigError, KafkaUnavailable
from vitals.hl7_mapping import Mapped, MappingError, MappingOptions, map_message, parse
from vitals.producer import make_producer

log = logging.getLogger(__name__)

DEFAULT_PORT = 2575  # the port IANA registers for HL7 over MLLP
#: Largest MLLP frame read (a PCD-01 message is a few KiB): any message accepted fits whole in
#: one dead-letter record, under Kafka's default 1 MB record limit. A larger frame closes the
#: connection with a warning (the rest of the stream cannot be trusted to be framed).
MAX_MESSAGE_BYTES = 512 * 1024
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class GatewaySettings:
    """Where to listen and what to do. ``allow``: sender networks (empty: any, loopback only);
    ``ack_timeout_s``: longest wait for Kafka before answering ``AR``."""

    mapping: MappingOptions
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    allow: tuple[Network, ...] = ()
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    topic: str = VITALS_TOPIC
    dlq_topic: str = DLQ_TOPIC
    ack_timeout_s: float = 10.0
    retry_after_s: float = 1.0  # after Kafka failed, answer AR at once for this long

    def __post_init__(self) -> None:
        if not self.allow and not _is_loopback(self.host):
            raise ConfigError(
                f"refusing to listen on {self.host} without an allow-list of senders: "
                "add --allow with the monitor gateways' addresses (e.g. --allow 10.1.2.0/24)"
            )
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("--tls-cert and --tls-key go together; give both or neither")


def parse_networks(values: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    """``["10.1.2.0/24", "192.168.1.7"]`` → networks; ``ConfigError`` naming a bad one."""
    out = []
    for v in values:
        for item in (x.strip() for x in v.split(",")):
            if not item:
                continue
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ConfigError(f"--allow: {item!r} is not an address or network") from None
    return tuple(out)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class GatewayStats:
    """Counts since start: messages by acknowledgement code, readings published, OBX rows ignored."""

    messages: int = 0
    acks: Counter = field(default_factory=Counter)  # "AA" / "AE" / "AR" → messages
    readings: int = 0
    invalid: int = 0
    ignored: int = 0
    unknown_codes: Counter = field(default_factory=Counter)
    refused_connections: int = 0

    def summary(self) -> str:
        unknown = sum(self.unknown_codes.values())
        top = ", ".join(f"{code} ×{n}" for code, n in self.unknown_codes.most_common(5))
        return (
            f"{self.messages} messages (AA {self.acks['AA']}, AE {self.acks['AE']}, "
            f"AR {self.acks['AR']}), {self.readings} readings published, "
            f"{self.invalid} invalid observations, {unknown} OBX with unknown codes, "
            f"{self.refused_connections} connections refused"
            + (f"; most frequent unknown codes: {top}" if top else "")
        )


class Publisher:
    """A Kafka producer made on first use and remade after a failure; blocking calls.

    ``publish`` raises ``KafkaUnavailable`` unless Kafka acknowledged every record within
    ``timeout_s`` seconds.
    """

    def __init__(self, kafka: KafkaSettings, timeout_s: float) -> None:
        self.kafka = replace(kafka, request_timeout_s=timeout_s)
        self.timeout_s = timeout_s
        self._producer = None

    def publish(self, records: list[tuple[str, bytes | None, bytes, list]]) -> None:
        deadline = time.monotonic() + self.timeout_s
        try:
            producer = self._producer or self._make()
            futures = [
                producer.send(topic, key=key, value=value, headers=headers)
                for topic, key, value, headers in records
            ]
            for f in futures:
                f.get(timeout=max(deadline - time.monotonic(), 0.001))
        except KafkaError as e:
            raise KafkaUnavailable(
                f"Kafka at {','.join(self.kafka.bootstrap_servers)} did not acknowledge "
                f"within {self.timeout_s:g} s: {type(e).__name__}: {e}"
            ) from None

    def _make(self):
        ms = int(self.timeout_s * 1000)
        self._producer = make_producer(
            self.kafka,
            client_id="vitals-gateway",
            allow_auto_create_topics=False,
            linger_ms=0,  # one message waits for its ACK: no deliberate wait before sending
            max_block_ms=ms,
            request_timeout_ms=ms,
            delivery_timeout_ms=ms + 100,
        )
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self.timeout_s)
            self._producer = None


class Gateway:
    """The MLLP server. ``await serve(stop)`` until ``stop`` is set; no I/O in the constructor."""

    def __init__(self, settings: GatewaySettings, kafka: KafkaSettings) -> None:
        self.settings = settings
        self.kafka = kafka
        self.stats = GatewayStats()
        self.publisher = Publisher(kafka, settings.ack_timeout_s)
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="gateway-kafka")
        self._down_until = 0.0
        self.address: tuple[str, int] | None = None

    def check_topics(self) -> None:
        """``ConfigError`` if a topic is missing; a warning (and ``AR`` later) if Kafka is down."""
        names = [self.settings.topic, self.settings.dlq_topic]
        try:
            missing = missing_topics(self.publisher.kafka, names)
        except (KafkaUnavailable, KafkaError) as e:
            log.warning("Kafka unreachable at start; answering AR until it is back: %s", e)
            return
        if missing:
            raise ConfigError(
                f"topic {missing[0]!r} does not exist on {','.join(self.kafka.bootstrap_servers)}; "
                f"create it with `vitals init` (--topic / --dlq-topic), or check the name"
            )

    async def serve(self, stop: asyncio.Event, on_listening=None) -> None:
        s = self.settings
        server = await start_hl7_server(
            self._connection,
            s.host,
            s.port,
            limit=MAX_MESSAGE_BYTES,
            ssl=self._ssl_context(),
            encoding="utf-8",
        )
        sock = server.sockets[0].getsockname()
        self.address = (sock[0], sock[1])
        if on_listening is not None:
            on_listening(*self.address)
        try:
            await stop.wait()
        finally:
            server.close()
            await server.wait_closed()
            await asyncio.get_running_loop().run_in_executor(self._pool, self.publisher.close)
            self._pool.shutdown(wait=True)

    def _ssl_context(self) -> ssl.SSLContext | None:
        s = self.settings
        if not s.tls_cert:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(s.tls_cert, s.tls_key)
            if s.tls_client_ca:
                ctx.load_verify_locations(s.tls_client_ca)
                ctx.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"TLS certificate/key {s.tls_cert}, {s.tls_key}: {e}") from None
        return ctx

    def allowed(self, peer_host: str) -> bool:
        if not self.settings.allow:
            return True
        try:
            addr = ipaddress.ip_address(peer_host.split("%")[0])
        except ValueError:
            return False
        return any(addr in net for net in self.settings.allow)

    async def _connection(self, reader, writer) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        peer_text = f"{peer[0]}:{peer[1]}"
        if not self.allowed(str(peer[0])):
            self.stats.refused_connections += 1
            log.warning("connection from %s refused: not in --allow", peer_text)
            writer.close()
            return
        try:
            while True:
                try:
                    block = await reader.readblock()
                except asyncio.IncompleteReadError:
                    return  # the sender closed the connection
                except InvalidBlockError as e:
                    log.warning("%s: not an MLLP frame, closing the connection: %s", peer_text, e)
                    return
                except ValueError:  # the reader's limit: the frame is larger than we accept
                    log.warning(
                        "%s: frame larger than %d KiB, closing the connection",
                        peer_text,
                        MAX_MESSAGE_BYTES // 1024,
                    )
                    return
                ack = await self.handle(block, peer_text)
                writer.writeblock(ack)
                await writer.drain()
        except (ConnectionError, OSError) as e:
            log.info("%s: connection lost: %s", peer_text, e)
        finally:
            writer.close()

    async def handle(self, block: bytes, peer: str = "?") -> bytes:
        """The ACK (MLLP payload bytes) for one message; see the module doc for the contract."""
        self.stats.messages += 1
        text = _decode(block)
        msg: hl7.Message | None = None
        try:
            msg = parse(text)
            mapped = map_message(msg, self.settings.mapping, received_at=datetime.now(UTC))
        except MappingError as e:
            return await self._dead_letter(block, msg, e, peer)
        except Exception as e:  # a defect of ours must not leave the sender without an answer
            log.exception("%s: mapping failed unexpectedly", peer)
            internal = MappingError(f"internal error while mapping: {type(e).__name__}: {e}")
            return await self._dead_letter(block, msg, internal, peer)
        records = [
            (
                self.settings.topic,
                r.patient_id.encode(),
                r.to_json(),
                [("vitals.source", b"hl7"), ("hl7.control_id", mapped.control_id.encode())],
            )
            for r in mapped.readings
        ]
        if records and not await self._publish(records):
            return self._ack(msg, "AR", _KAFKA_DOWN)
        self._count(mapped)
        patients = dict.fromkeys(r.patient_id for r in mapped.readings)  # in message order
        log.info(
            "%s: %s %s → %d readings, AA",
            peer,
            mapped.control_id,
            ",".join(patients) or "-",
            len(records),
        )
        return self._ack(msg, "AA")

    async def _dead_letter(self, block, msg, e: MappingError, peer: str) -> bytes:
        control_id = _control_id(msg)
        headers = [
            ("vitals.error", str(e).encode("utf-8", "replace")),
            ("vitals.error.class", b"MappingError"),
            ("hl7.control_id", control_id.encode()),
            ("vitals.source.peer", peer.encode()),
        ]
        record = (self.settings.dlq_topic, None, block, headers)
        if not await self._publish([record]):
            return self._ack(msg, "AR", _KAFKA_DOWN)
        log.warning("%s: %s refused (AE, dead-lettered): %s", peer, control_id or "-", e)
        return self._ack(msg, "AE", e)

    async def _publish(self, records: list) -> bool:
        if time.monotonic() < self._down_until:
            return False
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._pool, self.publisher.publish, records)
        except KafkaUnavailable as e:
            self._down_until = time.monotonic() + self.settings.retry_after_s
            log.warning("answering AR: %s", e)
            return False
        return True

    def _count(self, mapped: Mapped) -> None:
        self.stats.readings += len(mapped.readings)
        self.stats.invalid += mapped.invalid
        self.stats.ignored += mapped.ignored
        for code in mapped.unknown_codes.keys() - self.stats.unknown_codes.keys():
            log.warning(
                "OBX code %s is not in the code table: ignored and counted "
                "(add it with --codes if it carries a vital)",
                code,
            )
        self.stats.unknown_codes.update(mapped.unknown_codes)

    def _ack(self, msg: hl7.Message | None, code: str, error: MappingError | None = None) -> bytes:
        self.stats.acks[code] += 1
        delimiters = _DEFAULT_DELIMITERS
        if msg is not None:
            try:
                ack = str(msg.create_ack(code, application="VITALS"))
                seps = msg.separators  # "\r|~^&": segment, field, repetition, component, sub
                delimiters = _Delimiters(seps[1], seps[3], msg.esc, seps[2], seps[4])
            except Exception:  # an MSH too broken for python-hl7 to answer from
                ack = _bare_ack(code, "")
        else:
            ack = _bare_ack(code, "")
        if error is not None:
            msa = _msa_text(error, delimiters)
            ack = ack.rstrip("\r") + msa + "\r" + _err_segment(error, delimiters) + "\r"
        return ack.encode("utf-8")


#: The reason given in the ERR segment of an AR (same shape as a mapping error's).
_KAFKA_DOWN = MappingError("Kafka is unreachable; send the message again later", None, 207)


def _decode(block: bytes) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("latin-1")  # HL7's usual 8-bit default; every byte decodes


def _control_id(msg: hl7.Message | None) -> str:
    if msg is None:
        return ""
    try:
        return str(msg.segment("MSH")(10))
    except (KeyError, IndexError):
        return ""


@dataclass(frozen=True)
class _Delimiters:
    """The message's own field, component and escape characters (MSH-1, MSH-2), which the
    ACK copies: its MSA and ERR segments are written with them."""

    field: str = "|"
    component: str = "^"
    escape: str = "\\"
    repetition: str = "~"
    subcomponent: str = "&"


_DEFAULT_DELIMITERS = _Delimiters()


def _escape(text: str, d: _Delimiters = _DEFAULT_DELIMITERS) -> str:
    """``text`` as HL7 text (HL7 v2.6 2.7.4): each delimiter written as its escape sequence
    (``|`` → ``\\F\\``, ``^`` → ``\\S\\``, ``&`` → ``\\T\\``, ``~`` → ``\\R\\``, the
    escape character → ``\\E\\``), line breaks as spaces; other characters as they are
    (the ACK is UTF-8)."""
    e = d.escape
    names = {e: "E", d.field: "F", d.component: "S", d.subcomponent: "T", d.repetition: "R"}
    out = []
    for c in text:
        if c in names:
            out.append(f"{e}{names[c]}{e}")
        else:
            out.append(" " if c in "\r\n" else c)
    return "".join(out)


def _msa_text(error: MappingError, d: _Delimiters = _DEFAULT_DELIMITERS) -> str:
    """MSA-3 (text message, kept for v2.3 senders), appended to the MSA segment."""
    return d.field + _escape(str(error)[:80], d)


def _err_segment(error: MappingError, d: _Delimiters = _DEFAULT_DELIMITERS) -> str:
    """ERR (v2.5+): ERR-2 location, ERR-3 HL7 error code (table 0357), ERR-4 severity E,
    ERR-8 user message with the full reason."""
    loc: list[str] = []
    if error.where:
        seg, _, rest = error.where.partition("[")
        seq, _, fld = rest.partition("]-") if rest else ("", "", "")
        if not rest:
            seg, _, fld = error.where.partition("-")
            seq = "1" if fld or seg else ""
        elif not fld:  # OBX[3]: the segment, no field
            seq = seq.rstrip("]")
        loc = [seg, seq, *fld.replace(".", ".1.").split(".")]  # ERL: seg^seq^field^rep^component
    text = {100: "Segment sequence error", 101: "Required field missing", 102: "Data type error"}
    text |= {103: "Table value not found", 200: "Unsupported message type"}
    text |= {205: "Duplicate key identifier"}
    name = text.get(error.code, "Application internal error")
    f, c = d.field, d.component
    code = c.join([str(error.code), name, "HL70357"])
    return f.join(
        ["ERR", "", c.join(x for x in loc if x), code, "E", "", "", "", _escape(str(error), d)]
    )


def _bare_ack(code: str, control_id: str) -> str:
    """An ACK for text with no usable MSH (nothing to copy the header from)."""
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    return f"MSH|^~\\&|VITALS||||{now}||ACK|ACK{now}|P|2.6\rMSA|{code}|{_escape(control_id)}\r"
