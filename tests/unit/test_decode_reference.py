"""The fast decoder gives exactly what the straightforward one gave, for every message.

``decode`` skips the exact duplicate-field look when the message's strings are all
accounted for, and validates the vitals without building a dict per reading. The
reference below is the straightforward version it replaced (every message parsed again
with ``object_pairs_hook`` to look for a field given twice; ``build`` over a dict):
on generated messages (fields present, ``null``, of the wrong type, out of range, given
twice at the top or in ``blood_pressure``, unknown, nested, escaped, reordered) both
accept the same ``Reading`` or refuse with the same field and reason.
"""

from __future__ import annotations

import json
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitals.errors import InvalidReading
from vitals.news2 import round_half_up
from vitals.readings import (
    CONSCIOUSNESS,
    LIMITS,
    STATUS_VITALS,
    STATUSES,
    VITALS,
    Reading,
    build,
    check_patient_id,
    decode,
    parse_timestamp,
    record_time,
)
from vitals.readings.model import _check_time
from vitals.readings.wire import MAX_DEPTH, _decode, _depth_exceeds, _explain

EXAMPLES = int(os.environ.get("VITALS_FUZZ_EXAMPLES", "400"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PRODUCED_MS = 1_761_474_615_000  # 2025-10-26T10:30:15Z
FIELDS = ("patient_id", "timestamp", *VITALS, "blood_pressure", "consciousness", "on_oxygen")
FIELDS += ("status",)


# --- the reference: the straightforward decoder and build ---------------------------------


class _Pairs(list):  # type: ignore[type-arg]
    pass


def reference_duplicate(value: bytes) -> str | None:
    root = json.loads(value, object_pairs_hook=_Pairs)
    if not isinstance(root, _Pairs):
        return None
    levels = [("", root)] + [
        ("blood_pressure.", v) for k, v in root if k == "blood_pressure" and isinstance(v, _Pairs)
    ]
    for prefix, level in levels:
        seen: set[str] = set()
        for key, _ in level:
            if key in FIELDS and key in seen:
                return prefix + key
            seen.add(key)
    return None


def reference_build(
    patient_id, timestamp, values, consciousness=None, on_oxygen=None, *, produced_at=None,
    bp_timestamp=None, status=None,
):  # fmt: skip
    check_patient_id(patient_id)
    _check_time(timestamp, produced_at, "timestamp")
    statuses = {}
    for vital, s in (status or {}).items():
        if vital not in STATUS_VITALS:
            raise InvalidReading(
                f"{vital[:40]!r} is not a vital; one of {', '.join(STATUS_VITALS)}", "status"
            )
        if s not in STATUSES:
            raise InvalidReading(
                f"{str(s)[:40]!r} is not a technical status; one of {', '.join(STATUSES)}",
                f"status.{vital}",
            )
        statuses[vital] = s
    if "spo2" not in statuses and values.get("spo2") == 0:
        statuses["spo2"] = "no_signal"
    out = {}
    for field in VITALS:
        value = values.get(field)
        key = "blood_pressure" if field in ("systolic", "diastolic") else field
        if value is not None and key in statuses:
            value = None
        if value is not None:
            low, high = LIMITS[field]
            if not low <= value <= high:
                raise InvalidReading(
                    f"{value!r} is outside the possible range {low:g}..{high:g}", field
                )
        out[field] = value
    sys_, dia = out["systolic"], out["diastolic"]
    if (sys_ is None) != (dia is None):
        missing = "diastolic" if dia is None else "systolic"
        raise InvalidReading(f"{missing} missing; a blood pressure has both", "blood_pressure")
    if sys_ is not None and dia is not None and dia >= sys_:
        raise InvalidReading(f"diastolic {dia:g} is not below systolic {sys_:g}", "blood_pressure")
    if all(v is None for v in out.values()) and not statuses:
        raise InvalidReading(
            "no vital measured; a reading carries at least one of " + ", ".join(VITALS)
        )
    if bp_timestamp is not None:
        if sys_ is None:
            raise InvalidReading("given without a blood pressure", "blood_pressure.timestamp")
        _check_time(bp_timestamp, produced_at, "blood_pressure.timestamp")
    if consciousness is not None and consciousness.upper() in CONSCIOUSNESS:
        consciousness = consciousness.upper()  # ACVPU, either case
    elif consciousness is not None:
        raise InvalidReading(f"{consciousness!r} is not one of A, C, V, P, U", "consciousness")

    def whole(v):
        return None if v is None else math.floor(v + 0.5)

    temp = out["temperature"]
    return Reading(
        patient_id=patient_id,
        timestamp=timestamp,
        heart_rate=whole(out["heart_rate"]),
        spo2=whole(out["spo2"]),
        systolic=whole(sys_),
        diastolic=whole(dia),
        respiratory_rate=whole(out["respiratory_rate"]),
        temperature=None if temp is None else float(round_half_up(temp, 1)),
        consciousness=consciousness,
        on_oxygen=on_oxygen,
        bp_timestamp=bp_timestamp,
        status=tuple(sorted(statuses.items())),
    )


def reference_decode(value: bytes | None, record_ms: int) -> Reading:
    import msgspec

    if not value:
        raise InvalidReading("empty message (null or zero bytes); expected a JSON object")
    if _depth_exceeds(value):
        raise InvalidReading(f"JSON nested more than {MAX_DEPTH} levels deep; a reading is flat")
    try:
        wire = _decode(value)
    except msgspec.ValidationError as e:
        raise InvalidReading(_explain(str(e))) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as u:
            raise InvalidReading(f"not valid UTF-8 (byte {u.start}); expected JSON text") from None
        raise InvalidReading(f"not valid JSON: {e}") from None
    dup = reference_duplicate(value)
    if dup is not None:
        raise InvalidReading("given more than once; which value is meant is ambiguous", dup)
    produced_at = record_time(record_ms)
    if wire.timestamp is not None:
        ts = parse_timestamp(wire.timestamp)
    elif produced_at is not None:
        ts = produced_at
    else:
        raise InvalidReading("missing, and the Kafka record has no timestamp either", "timestamp")
    bp = wire.blood_pressure
    if bp is not None and (
        (bp.systolic is not None and wire.systolic is not None)
        or (bp.diastolic is not None and wire.diastolic is not None)
    ):
        raise InvalidReading(
            "given both nested and as systolic/diastolic at the top level; which value is "
            "meant is ambiguous",
            "blood_pressure",
        )
    values = {
        "heart_rate": wire.heart_rate,
        "spo2": wire.spo2,
        "systolic": bp.systolic if bp and bp.systolic is not None else wire.systolic,
        "diastolic": bp.diastolic if bp and bp.diastolic is not None else wire.diastolic,
        "respiratory_rate": wire.respiratory_rate,
        "temperature": wire.temperature,
    }
    bp_ts = (
        parse_timestamp(bp.timestamp, "blood_pressure.timestamp")
        if bp is not None and bp.timestamp is not None
        else None
    )
    return reference_build(
        wire.patient_id,
        ts,
        values,
        wire.consciousness,  # None: not observed
        wire.on_oxygen,
        produced_at=produced_at,
        bp_timestamp=bp_ts,
        status=wire.status,
    )


def outcome(f, *args, **kw) -> object:
    try:
        return f(*args, **kw)
    except InvalidReading as e:
        return ("refused", e.field, e.reason)


# --- generated messages ---------------------------------------------------------------------

numbers = st.one_of(
    st.integers(-5, 400),
    st.floats(-5, 400),
    st.sampled_from([0, 0.0, -0.0, 0.5, 90.5, 36.05, 36.049, 1e308, float("nan")]),
    st.sampled_from([80, 80.0, 79.5, 80.4, 120]),  # equal and nearly equal pressures
    st.floats(allow_nan=True, allow_infinity=True),
)
times = st.sampled_from(
    [
        "2025-10-26T10:30:15.123456+00:00",
        "2025-10-26T10:30:15+02:00",
        "2025-10-26T12:30:15Z",
        "2025-10-26T10:30:15",  # no zone
        "1999-12-31T23:59:59+00:00",  # before EARLIEST
        "2025-10-26T13:30:15+00:00",  # more than 1 h after the record
        "9999-12-31T23:59:59-05:00",
        "yesterday",
    ]
)
odd = st.one_of(st.none(), st.booleans(), st.text(max_size=8), st.lists(st.integers(), max_size=2))
#: a JSON value for each field: mostly plausible, sometimes null or of another type
values = {
    "patient_id": st.one_of(st.sampled_from(["P001", "bed 7", "..", "a/b", "", "x" * 70]), odd),
    "timestamp": st.one_of(times, odd),
    **{v: st.one_of(numbers, numbers, odd) for v in VITALS},
    "consciousness": st.one_of(st.sampled_from(["A", "V", "U", "a", "X"]), odd),
    "on_oxygen": st.one_of(st.booleans(), odd),
    "status": st.one_of(
        st.dictionaries(
            st.sampled_from([*STATUS_VITALS, "systolic", "pulse"]),
            st.sampled_from([*STATUSES, "off", 1]),
            max_size=3,
        ),
        odd,
    ),
}
bp_values = {
    "systolic": values["systolic"],
    "diastolic": values["diastolic"],
    "timestamp": st.one_of(times, odd),
}


def _pairs(draw, spec: dict, extra_keys: list[str]) -> list[tuple[str, object]]:
    keys = draw(st.lists(st.sampled_from(list(spec)), unique=True))
    pairs = [(k, draw(spec[k])) for k in keys]
    for _ in range(draw(st.integers(0, 2))):  # a field given twice, or an unknown one
        k = draw(st.sampled_from([*spec, *extra_keys]))
        pairs.insert(draw(st.integers(0, len(pairs))), (k, draw(spec.get(k, odd))))
    return pairs


def _dump(pairs: list[tuple[str, object]], escape: bool, spaced: bool) -> str:
    """A JSON object with these pairs in order (duplicates kept), nested pair lists too."""
    sep = ", " if spaced else ","
    colon = " : " if spaced else ":"

    def one(v: object) -> str:
        if isinstance(v, list) and v and all(isinstance(p, tuple) for p in v):
            return _dump(v, escape, spaced)
        return json.dumps(v, ensure_ascii=escape)

    def key(k: str) -> str:
        return "".join(f"\\u{ord(c):04x}" for c in k).join('""') if escape else json.dumps(k)

    return "{" + sep.join(key(k) + colon + one(v) for k, v in pairs) + "}"


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    pairs = _pairs(draw, values, ["device", "meta", "sys"])
    if draw(st.booleans()):  # the seed's nested blood pressure
        bp = _pairs(draw, bp_values, ["cuff"])
        pairs.insert(draw(st.integers(0, len(pairs))), ("blood_pressure", bp))
    if draw(st.booleans()):  # a field's name elsewhere: as a nested key or a string value
        name = draw(st.sampled_from(FIELDS))
        pairs.append(("meta", draw(st.sampled_from([{name: 1}, name, [name, {name: name}]]))))
    return _dump(
        pairs, escape=draw(st.booleans()) and draw(st.booleans()), spaced=draw(st.booleans())
    ).encode()


record_times = st.one_of(st.just(PRODUCED_MS), st.just(-1), st.integers(-(2**63), 2**63 - 1))


@FUZZ
@given(value=messages(), record_ms=record_times)
def test_decode_accepts_and_refuses_exactly_as_the_reference(value: bytes, record_ms: int):
    assert outcome(decode, value, record_ms) == outcome(reference_decode, value, record_ms)


@FUZZ
@given(value=st.binary(max_size=300), record_ms=record_times)
def test_decode_of_any_bytes_is_the_reference_s(value: bytes, record_ms: int):
    assert outcome(decode, value, record_ms) == outcome(reference_decode, value, record_ms)


SEED = {
    "patient_id": "P001",
    "timestamp": "2025-10-26T10:30:15.123456+00:00",
    "heart_rate": 95,
    "spo2": 98,
    "blood_pressure": {"systolic": 120, "diastolic": 80},
    "respiratory_rate": 16,
    "temperature": 36.8,
    "consciousness": "A",
    "on_oxygen": False,
}


@FUZZ
@given(
    where=st.sampled_from(["top", "blood_pressure"]),
    key=st.sampled_from([*FIELDS, "x"]),
    value=st.one_of(st.none(), numbers, st.text(max_size=5)),
)
def test_a_field_given_twice_is_refused_like_the_reference(where: str, key: str, value: object):
    text = json.dumps(SEED)
    extra = f', "{key}": {json.dumps(value)}'
    if where == "top":
        text = text[:-1] + extra + "}"
    else:
        text = text.replace('"diastolic": 80', '"diastolic": 80' + extra)
    got = outcome(decode, text.encode(), PRODUCED_MS)
    assert got == outcome(reference_decode, text.encode(), PRODUCED_MS)


@given(where=st.sampled_from(["top", "blood_pressure"]), key=st.sampled_from(["spo2", "systolic"]))
def test_a_vital_given_twice_with_valid_values_is_refused(where: str, key: str):
    text = json.dumps(SEED)
    if where == "top":
        text = text[:-1] + f', "{key}": 97, "{key}": 96}}'
        field = key
    else:
        text = text.replace('"diastolic": 80', '"diastolic": 80, "systolic": 121')
        field = "blood_pressure.systolic"
    got = outcome(decode, text.encode(), PRODUCED_MS)
    assert got[:2] == ("refused", field), got


def test_the_seed_message_without_duplicates_takes_the_quick_path_and_is_accepted():
    assert decode(json.dumps(SEED).encode(), PRODUCED_MS) == reference_decode(
        json.dumps(SEED).encode(), PRODUCED_MS
    )


@FUZZ
@given(
    vals=st.fixed_dictionaries({}, optional={v: st.one_of(st.none(), numbers) for v in VITALS}),
    status=st.one_of(st.none(), values["status"].filter(lambda s: isinstance(s, dict))),
    consciousness=st.sampled_from(["A", "P", "x"]),
    bp_ts=st.sampled_from([None, "2025-10-26T10:29:00+00:00", "1990-01-01T00:00:00+00:00"]),
)
def test_build_validates_exactly_as_the_reference(vals, status, consciousness, bp_ts):
    at = parse_timestamp("2025-10-26T10:30:15+00:00")
    produced = record_time(PRODUCED_MS)
    bp_at = None if bp_ts is None else parse_timestamp(bp_ts)
    args = ("P001", at, vals, consciousness, True)
    kw = {"produced_at": produced, "bp_timestamp": bp_at, "status": status}
    assert outcome(build, *args, **kw) == outcome(reference_build, *args, **kw)


@FUZZ
@given(
    systolic=st.one_of(st.none(), st.sampled_from([80, 80.0, 79.5, 80.4, 120, 19.9, 320.4])),
    diastolic=st.one_of(st.none(), st.sampled_from([80, 80.0, 79.5, 80.4, 9.9, 250])),
    status=st.sampled_from([None, {"blood_pressure": "invalid"}, {"spo2": "probe_off"}]),
)
def test_blood_pressure_pairs_are_judged_as_the_reference(systolic, diastolic, status):
    at = parse_timestamp("2025-10-26T10:30:15+00:00")
    vals = {"systolic": systolic, "diastolic": diastolic}
    assert outcome(build, "P001", at, vals, status=status) == outcome(
        reference_build, "P001", at, vals, status=status
    )


def test_a_decoded_reading_is_a_frozen_reading_like_one_built_by_its_constructor():
    import dataclasses
    import pickle

    got = decode(json.dumps(SEED).encode(), PRODUCED_MS)
    built = Reading(**{f.name: getattr(got, f.name) for f in dataclasses.fields(Reading)})
    assert type(got) is Reading and got == built and hash(got) == hash(built)
    assert repr(got) == repr(built)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.heart_rate = 50  # type: ignore[misc]
    assert dataclasses.replace(got, heart_rate=50).heart_rate == 50
    assert pickle.loads(pickle.dumps(got)) == got


@FUZZ
@given(
    t=st.one_of(
        st.floats(25, 45),
        st.integers(250, 450).map(lambda t: t / 10),
        st.integers(2500, 4500).map(lambda t: t / 100),
        st.integers(25, 45),
    )
)
def test_a_temperature_is_rounded_to_tenths_as_round_half_up_rounds_it(t: float):
    from vitals.readings.model import _tenths

    got = _tenths(t)
    assert type(got) is float and got == float(round_half_up(t, 1))


def test_the_basis_of_a_complete_reading_is_a_frozen_basis_like_one_built_by_its_constructor():
    import dataclasses

    from vitals.freshness import _ZERO_AGES, Basis, Freshest

    r = decode(json.dumps(SEED).encode(), PRODUCED_MS)
    got = Freshest().update(r)
    built = Basis(r, _ZERO_AGES, ())
    assert type(got) is Basis and got == built and repr(got) == repr(built)
    assert got.complete and not got.borrowed
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.missing = ("spo2",)  # type: ignore[misc]
