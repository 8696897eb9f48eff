"""Decoding is total: any bytes give a ``Reading`` or ``InvalidReading``, never anything else.

Property-based (Hypothesis): arbitrary bytes, arbitrary JSON values, and
mutations of the seed's message (bytes flipped, truncated, fields removed,
types swapped, nesting added, huge numbers and strings, deep nesting).
CI runs a bounded number of examples; ``make fuzz`` runs the same properties
with ``VITALS_FUZZ_EXAMPLES`` examples each (≥ 1,000,000 inputs in all).
"""

from __future__ import annotations

import json
import math
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitals.errors import InvalidReading
from vitals.readings import LIMITS, MAX_PATIENT_ID, VITALS, Reading, decode

EXAMPLES = int(os.environ.get("VITALS_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PRODUCED_MS = 1_761_474_615_000  # 2025-10-26T10:30:15Z
SEED = {
    "patient_id": "P001",
    "timestamp": "2025-10-26T10:30:15.123456+00:00",
    "heart_rate": 95,
    "spo2": 98,
    "blood_pressure": {"systolic": 120, "diastolic": 80},
    "respiratory_rate": 16,
    "temperature": 36.8,
}
SEED_BYTES = json.dumps(SEED).encode()
record_times = st.one_of(
    st.just(PRODUCED_MS), st.just(-1), st.integers(min_value=-(2**63), max_value=2**63 - 1)
)


def outcome(value: bytes | None, record_ms: int = PRODUCED_MS) -> Reading | InvalidReading:
    """What ``decode`` gives; any exception other than ``InvalidReading`` fails the test."""
    try:
        return decode(value, record_ms)
    except InvalidReading as e:
        assert str(e), "a dead letter needs a reason"
        return e


def assert_valid(r: Reading) -> None:
    """A decoded reading holds only values the rest of the pipeline can store and score."""
    assert 1 <= len(r.patient_id) <= MAX_PATIENT_ID and r.patient_id.isprintable()
    measured = [f for f in VITALS if getattr(r, f) is not None]
    assert measured or r.status, "a reading carries a vital or a technical status"
    for field in measured:
        low, high = LIMITS[field]
        value = getattr(r, field)
        assert math.isfinite(value) and low <= value <= high, (field, value)
    assert (r.systolic is None) == (r.diastolic is None)
    assert r.systolic is None or r.diastolic < r.systolic
    assert r.timestamp.utcoffset() is not None and r.timestamp.utcoffset().total_seconds() == 0
    assert r.consciousness in (None, *"ACVPU") and r.on_oxygen in (None, True, False)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=6)
    ),
    max_leaves=30,
)
any_field_value = st.one_of(
    json_values,
    st.integers(min_value=-(10**30), max_value=10**30),
    st.text(min_size=1000, max_size=5000),
    st.floats(),
)


@FUZZ
@given(value=st.binary(max_size=400), record_ms=record_times)
def test_any_bytes_decode_or_are_refused_with_a_reason(value: bytes, record_ms: int):
    got = outcome(value, record_ms)
    if isinstance(got, Reading):
        assert_valid(got)


@FUZZ
@given(value=json_values, record_ms=record_times)
def test_any_json_value_decodes_or_is_refused_with_a_reason(value: object, record_ms: int):
    got = outcome(json.dumps(value).encode(), record_ms)
    if isinstance(got, Reading):
        assert_valid(got)


def _replace(doc: dict, path: tuple[str, ...], value: object) -> dict:
    out = json.loads(json.dumps(doc))
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


FIELD_PATHS = [(k,) for k in SEED] + [
    ("blood_pressure", "systolic"),
    ("blood_pressure", "diastolic"),
]


@st.composite
def mutated_seed(draw: st.DrawFn) -> bytes:
    """The seed's message with one to three mutations of the kinds devices really send."""
    doc: object = json.loads(SEED_BYTES)
    raw: bytes | None = None
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                ["remove", "retype", "nest", "extra", "duplicate", "flip", "truncate", "insert"]
            )
        )
        if raw is None and isinstance(doc, dict):
            path = draw(st.sampled_from([p for p in FIELD_PATHS if _has(doc, p)] or [("x",)]))
            if kind == "remove" and _has(doc, path):
                parent = _get(doc, path[:-1])
                if isinstance(parent, dict):
                    parent.pop(path[-1], None)
                continue
            if kind == "retype":
                doc = _replace(doc, path, draw(any_field_value)) if _has(doc, path[:-1]) else doc
                continue
            if kind == "nest":
                depth = draw(st.integers(1, 3000))
                inner = draw(json_values)
                for _ in range(min(depth, 50)):
                    inner = [inner] if draw(st.booleans()) else {"n": inner}
                doc = {**doc, draw(st.text(max_size=10)): inner} if isinstance(doc, dict) else doc
                if depth > 50:  # deeper than json.dumps recurses: build the bytes directly
                    raw = SEED_BYTES[:-1] + b', "deep": ' + b"[" * depth + b"]" * depth + b"}"
                continue
            if kind == "extra":
                key = draw(st.sampled_from([*SEED, "device", "status", "x"]))
                # a field's name used as a nested key or as a string value is not a duplicate
                value = draw(st.sampled_from([{key: 1}, key, {"serial": "MX-1", key: key}]))
                doc = {**doc, draw(st.sampled_from(["device", "last_alarm", "meta"])): value}
                continue
        if raw is None:
            raw = json.dumps(doc).encode()
        if kind == "duplicate":
            key = draw(st.sampled_from(list(SEED)))
            raw = raw[:-1] + f', "{key}": {json.dumps(draw(json_values))}}}'.encode()
        elif kind == "flip" and raw:
            i = draw(st.integers(0, len(raw) - 1))
            raw = raw[:i] + bytes([draw(st.integers(0, 255))]) + raw[i + 1 :]
        elif kind == "truncate" and raw:
            raw = raw[: draw(st.integers(0, len(raw) - 1))]
        elif kind == "insert":
            i = draw(st.integers(0, len(raw)))
            raw = raw[:i] + draw(st.binary(min_size=1, max_size=8)) + raw[i:]
    return raw if raw is not None else json.dumps(doc).encode()


def _get(doc: object, path: tuple[str, ...]) -> object:
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc


def _has(doc: object, path: tuple[str, ...]) -> bool:
    return not path or _get(doc, path) is not None


@FUZZ
@given(value=mutated_seed(), record_ms=record_times)
def test_any_mutation_of_the_seed_message_decodes_or_is_refused_with_a_reason(
    value: bytes, record_ms: int
):
    got = outcome(value, record_ms)
    if isinstance(got, Reading):
        assert_valid(got)


@FUZZ
@given(
    where=st.just("device"),  # the one metadata object a reading may carry (README)
    key=st.sampled_from([*SEED, "systolic", "diastolic"]),
)
def test_a_field_name_elsewhere_in_the_message_is_not_a_duplicate(where: str, key: str):
    for extra in ({key: 1}, key, {"serial": "MX-0042", key: "2025-10-26T10:30:15+00:00"}):
        got = outcome(json.dumps({**SEED, where: extra}).encode())
        assert isinstance(got, Reading), (extra, got)
