"""Parsing and validating readings: what is accepted, and the reason for what is not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from vitals.errors import CsvError, InvalidReading
from vitals.readings import PATIENT_ID_RULE, decode, read_csv

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


def msg(**changes: object) -> bytes:
    m = {**SEED, **changes}
    return json.dumps({k: v for k, v in m.items() if v is not ...}).encode()


def reason(value: bytes | None) -> str:
    with pytest.raises(InvalidReading) as e:
        decode(value, PRODUCED_MS)
    return str(e.value)


def test_the_seed_message_decodes_to_its_values():
    r = decode(msg(), PRODUCED_MS)
    assert (r.patient_id, r.heart_rate, r.spo2, r.systolic, r.diastolic) == (
        "P001",
        95,
        98,
        120,
        80,
    )
    assert (r.respiratory_rate, r.temperature) == (16, 36.8)
    assert r.timestamp == datetime(2025, 10, 26, 10, 30, 15, 123456, tzinfo=UTC)


def test_flat_blood_pressure_is_accepted():
    r = decode(msg(blood_pressure=..., systolic=131, diastolic=84), PRODUCED_MS)
    assert (r.systolic, r.diastolic) == (131, 84)


def test_a_reading_without_timestamp_takes_the_record_timestamp():
    r = decode(msg(timestamp=...), PRODUCED_MS)
    assert r.timestamp == datetime(2025, 10, 26, 10, 30, 15, tzinfo=UTC)


def test_device_metadata_is_ignored_and_an_unknown_field_refused():
    assert decode(msg(device={"serial": 1}), PRODUCED_MS).heart_rate == 95
    with pytest.raises(InvalidReading, match=r"^ward: unknown field; a reading carries only"):
        decode(msg(ward="7B"), PRODUCED_MS)


def test_fractional_whole_number_vitals_round_half_up():
    assert decode(msg(heart_rate=90.5), PRODUCED_MS).heart_rate == 91
    assert decode(msg(heart_rate=90.49), PRODUCED_MS).heart_rate == 90


def test_a_patient_id_with_quotes_and_cql_is_just_text():
    pid = "P1'; DROP TABLE x;--\""
    assert decode(msg(patient_id=pid), PRODUCED_MS).patient_id == pid


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid UTF-8 (byte 0)"),
        (b"[1]", "expected a JSON object, got an array"),
        (None, "empty message"),
        (b"", "empty message"),
        (msg(patient_id=...), "patient_id: missing"),
        (msg(patient_id=""), "patient_id: '' is not a patient id"),
        (msg(patient_id="P" * 10_000), "is not a patient id (1–64 printable ASCII characters"),
        (msg(patient_id="W3/12"), f"patient_id: 'W3/12' is not a patient id ({PATIENT_ID_RULE})"),
        (msg(patient_id="W3\\12"), "patient_id: 'W3\\\\12' is not a patient id"),
        (msg(patient_id=".."), "patient_id: '..' is not a patient id"),
        (msg(heart_rate="95"), "heart_rate: expected a number, got a string"),
        (msg(heart_rate=True), "heart_rate: expected a number, got a boolean"),
        (msg(heart_rate={}), "heart_rate: expected a number, got a JSON object"),
        (msg(heart_rate=-5), "heart_rate: -5.0 is outside the possible range 0..350"),
        (msg(heart_rate=900), "heart_rate: 900.0 is outside the possible range 0..350"),
        (
            msg(blood_pressure={"systolic": 80, "diastolic": 90}),
            "diastolic 90 is not below systolic 80",
        ),
        (msg(blood_pressure={"systolic": 120}), "blood_pressure: diastolic missing"),
        (
            b'{"patient_id": "P1", "consciousness": "V"}',
            "no vital measured; a reading carries at least one of heart_rate, spo2",
        ),
        (
            b'{"patient_id": "P1", "heart_rate": null, "spo2": null}',
            "no vital measured",
        ),
        (msg(status={"spo2": "loose"}), "status.spo2: 'loose' is not a technical status"),
        (msg(status={"pulse": "probe_off"}), "status: 'pulse' is not a vital"),
        (msg(status=["spo2"]), "status: expected"),
        (
            msg(blood_pressure={"systolic": 120, "diastolic": 80, "timestamp": "x"}),
            "blood_pressure.timestamp: 'x' is not an ISO 8601 time",
        ),
        (b'{"patient_id": "P1", "heart_rate": NaN}', "not valid JSON"),
        (b'{"patient_id": "P1", "heart_rate": Infinity}', "not valid JSON"),
        (
            msg(timestamp="1970-01-01T00:00:00+00:00"),
            "timestamp: 1970-01-01T00:00:00+00:00 is before 2000",
        ),
        (
            msg(timestamp="2999-01-01T00:00:00+00:00"),
            "is more than 1 h after the message was produced",
        ),
        (msg(timestamp="2025-10-26T10:30:15"), "has no time zone"),
        (msg(timestamp="yesterday"), "is not an ISO 8601 time"),
        (msg(consciousness="X"), "consciousness: 'X' is not one of A, C, V, P, U"),
        (
            b'{"patient_id": "P1", "heart_rate": 80, "heart_rate": 200, "spo2": 97, '
            b'"systolic": 120, "diastolic": 80, "respiratory_rate": 15, "temperature": 36.6}',
            "heart_rate: given more than once",
        ),
    ],
)
def test_invalid_messages_say_what_is_wrong(value, expected):
    assert expected in reason(value)


def csv_file(tmp_path, text: str, name: str = "v.csv", newline: str = "\n") -> str:
    p = tmp_path / name
    p.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return str(p)


HEADER = "patient_id,heart_rate,spo2,systolic,diastolic,respiratory_rate,temperature\n"


def test_csv_with_bom_and_windows_line_endings_reads(tmp_path):
    path = csv_file(tmp_path, "\ufeff" + HEADER + "P001,78,98,122,79,15,36.8\n", newline="\r\n")
    ((line, fields),) = list(read_csv(path))
    assert line == 2 and fields["heart_rate"] == 78.0 and fields["patient_id"] == "P001"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "",
            "{p}:1: file is empty; expected a header line: patient_id,heart_rate,spo2,systolic,diastolic,respiratory_rate,temperature",
        ),
        ("patient_id,heart_rate\nP1,80\n", "{p}:1: spo2: column missing from the header"),
        (HEADER.strip() + ",ward\nP1,80,98,120,80,15,36.8,7B\n", "{p}:1: ward: unknown column"),
    ],
)
def test_bad_csv_headers_fail_at_once(tmp_path, text, expected):
    path = csv_file(tmp_path, text)
    with pytest.raises(CsvError) as e:
        list(read_csv(path))
    assert str(e.value).startswith(expected.format(p=path))


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("P1,ninety,98,120,80,15,36.8", "{p}:2: heart_rate: 'ninety' is not a number"),
        ("P1,80,98,120,80,15", "{p}:2: has 6 fields, the header has 7"),
        ("P1,80,98,120,80,15,36.8,extra", "{p}:2: has 8 fields, the header has 7"),
        ("P1,80,98,120,80,15,nan", "{p}:2: temperature: 'nan' is not a finite number"),
        ("P1,80,98,120,80,15,60", "{p}:2: temperature: 60.0 is outside the possible range 25..45"),
        ("W3/12,80,98,120,80,15,36.8", "{p}:2: patient_id: 'W3/12' is not a patient id (1–64"),
    ],
)
def test_bad_csv_rows_name_file_line_and_field(tmp_path, row, expected):
    path = csv_file(tmp_path, HEADER + row + "\n")
    ((_line, err),) = list(read_csv(path))
    assert isinstance(err, CsvError)
    assert str(err) == expected.format(p=path) or str(err).startswith(expected.format(p=path))


# --- what real payloads contain (issue: one bad message stops the whole ward) -------------


@pytest.mark.parametrize(
    "extra",
    [
        {"device": {"last_alarm": "spo2"}},  # a vital's name as a string value
        {"device": {"serial": "MX-0042", "timestamp": "2025-10-26T10:30:00Z"}},  # a nested key
        {"device": {"meta": {"blood_pressure": {"systolic": 1}}}},  # two levels down
        {"device": '"heart_rate": 1'},  # a field's name, quoted, inside a string
    ],
)
def test_a_fields_name_elsewhere_in_the_message_is_not_a_duplicate(extra):
    r = decode(json.dumps({**SEED, **extra}).encode(), PRODUCED_MS)
    assert (r.heart_rate, r.timestamp.isoformat()) == (95, SEED["timestamp"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (msg()[:-1] + b', "spo2": 80}', "spo2: given more than once"),
        (msg()[:-1] + b', "heart\\u005frate": 80}', "heart_rate: given more than once"),
        (
            msg(blood_pressure=...)[:-1]
            + b', "blood_pressure": {"systolic": 120, "systolic": 90, "diastolic": 80}}',
            "blood_pressure.systolic: given more than once",
        ),
    ],
)
def test_a_field_given_twice_at_the_readings_level_is_ambiguous(value, expected):
    assert expected in reason(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b'{"patient_id": "BAD\xff\xfe", "heart_rate": 80}', "not valid UTF-8 (byte 19)"),
        (
            msg(patient_id="\ud800"),
            "not valid JSON",
        ),  # json.dumps writes the lone surrogate escaped
        (msg()[:-1] + b', "n": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "nested more than 64"),
        (msg()[:-1] + b', "n": ' + b"{" * 65 + b"}" * 65 + b"}", "nested more than 64"),
        (msg(timestamp="9999-12-31T23:59:59-05:00"), "out of the range of dates"),
        (msg(heart_rate=10**400), "heart_rate"),
    ],
)
def test_inputs_that_once_escaped_as_other_exceptions_are_invalid_readings(value, expected):
    assert expected in reason(value)


def test_brackets_inside_strings_do_not_count_as_nesting():
    r = decode(msg(device="[" * 5000 + "{" * 5000), PRODUCED_MS)
    assert r.patient_id == "P001"


@pytest.mark.parametrize("record_ms", [2**63 - 1, 10**16, -(2**63)])
def test_a_record_time_beyond_any_calendar_is_treated_as_absent(record_ms):
    r = decode(msg(), record_ms)  # the reading carries its own time
    assert r.timestamp.isoformat() == SEED["timestamp"]
    assert "timestamp: missing" in reason_at(msg(timestamp=...), record_ms)


def reason_at(value: bytes, record_ms: int) -> str:
    with pytest.raises(InvalidReading) as e:
        decode(value, record_ms)
    return str(e.value)


@pytest.mark.parametrize(
    ("text", "newline"),
    [
        (HEADER.replace(",", ";") + "P001;78;98;122;79;15;36,8\n", "\n"),  # Excel, European locale
        ("\ufeff" + HEADER.replace(",", ";") + "P001;78;98;122;79;15;36,8\n", "\r\n"),
        (HEADER.replace(",", "\t") + "P001\t78\t98\t122\t79\t15\t36.8\n", "\n"),
        ("sep=;\n" + HEADER.replace(",", ";") + "P001;78;98;122;79;15;36.8\n", "\r\n"),
        (HEADER + 'P001,78,98,122,79,15,"36.8"\n', "\n"),
    ],
)
def test_csv_dialects_a_spreadsheet_writes_are_read(tmp_path, text, newline):
    path = csv_file(tmp_path, text, newline=newline)
    ((line, fields),) = list(read_csv(path))
    assert isinstance(fields, dict), fields
    assert (fields["patient_id"], fields["heart_rate"], fields["temperature"]) == ("P001", 78, 36.8)
    assert line == (3 if text.startswith("sep=") else 2)


def test_a_decimal_comma_in_a_comma_separated_file_is_a_field_count_error(tmp_path):
    path = csv_file(tmp_path, HEADER + "P001,78,98,122,79,15,36,8\n")
    ((_line, err),) = list(read_csv(path))
    assert str(err) == f"{path}:2: has 8 fields, the header has 7"


def test_an_unknown_separator_is_named_instead_of_a_missing_column(tmp_path):
    path = csv_file(tmp_path, HEADER.replace(",", "|") + "P001|78|98|122|79|15|36.8\n")
    with pytest.raises(CsvError) as e:
        list(read_csv(path))
    assert str(e.value).startswith(f"{path}:1: the header 'patient_id|heart_rate|spo2|systolic|")
    assert "is not separated by a comma, semicolon or tab" in str(e.value)


def test_a_csv_row_dated_beyond_what_the_consumer_accepts_fails_before_sending(tmp_path):
    ahead = datetime.now(UTC).replace(year=datetime.now(UTC).year + 5).isoformat()
    path = csv_file(
        tmp_path, HEADER.strip() + ",timestamp\n" + f"P001,78,98,122,79,15,36.8,{ahead}\n"
    )
    ((_line, err),) = list(read_csv(path))
    assert isinstance(err, CsvError)
    assert str(err).startswith(f"{path}:2: timestamp: {ahead} is more than 1 h after")


# --- readings as monitors send them: any subset of the vitals ------------------------------


def test_a_pulse_oximeter_reading_carries_heart_rate_and_spo2_only():
    r = decode(b'{"patient_id": "P9", "heart_rate": 72, "spo2": 96}', PRODUCED_MS)
    assert (r.heart_rate, r.spo2) == (72, 96)
    assert (r.systolic, r.diastolic, r.respiratory_rate, r.temperature) == (None,) * 4
    assert r.measured() == ("heart_rate", "spo2") and not r.complete


def test_null_means_not_measured_and_null_consciousness_and_oxygen_not_observed():
    r = decode(msg(temperature=None, consciousness=None, on_oxygen=None), PRODUCED_MS)
    assert r.temperature is None and (r.consciousness, r.on_oxygen) == (None, None)
    assert r.heart_rate == 95


def test_a_blood_pressure_carries_its_own_measurement_time():
    bp = {"systolic": 118, "diastolic": 76, "timestamp": "2025-10-26T10:20:00+00:00"}
    r = decode(
        b'{"patient_id": "P9", "blood_pressure": ' + json.dumps(bp).encode() + b"}", PRODUCED_MS
    )
    assert (r.systolic, r.diastolic) == (118, 76)
    assert r.bp_timestamp == datetime(2025, 10, 26, 10, 20, tzinfo=UTC)
    assert json.loads(r.to_json())["blood_pressure"]["timestamp"] == "2025-10-26T10:20:00+00:00"


def test_heart_rate_zero_is_kept_because_it_means_asystole_not_a_device_error():
    assert decode(msg(heart_rate=0), PRODUCED_MS).heart_rate == 0


def test_spo2_zero_is_no_perfusion_signal_a_technical_status_not_a_saturation():
    r = decode(msg(spo2=0), PRODUCED_MS)
    assert r.spo2 is None and r.status == (("spo2", "no_signal"),)


def test_a_vital_with_a_technical_status_is_not_measured_even_if_a_value_came_with_it():
    r = decode(msg(spo2=88, status={"spo2": "probe_off", "heart_rate": "leads_off"}), PRODUCED_MS)
    assert (r.spo2, r.heart_rate) == (None, None)
    assert r.status == (("heart_rate", "leads_off"), ("spo2", "probe_off"))
    assert r.systolic == 120


def test_a_reading_with_only_a_technical_status_is_valid():
    r = decode(b'{"patient_id": "P9", "status": {"spo2": "probe_off"}}', PRODUCED_MS)
    assert r.measured() == () and r.status == (("spo2", "probe_off"),)


def test_a_partial_reading_round_trips_through_the_wire_format():
    r = decode(
        b'{"patient_id": "P9", "heart_rate": 72, "status": {"spo2": "probe_off"}}', PRODUCED_MS
    )
    again = decode(r.to_json(), PRODUCED_MS)
    assert again == r
    assert "systolic" not in r.to_json().decode() and "temperature" not in r.to_json().decode()
    assert r.line().endswith("HR:72 SpO2:- BP:- RR:- T:- spo2:probe_off")


def test_a_blank_csv_cell_is_not_measured(tmp_path):
    path = csv_file(tmp_path, HEADER + "P001,78,98,,,15,\n")
    ((_line, fields),) = list(read_csv(path))
    assert isinstance(fields, dict), fields
    assert (fields["systolic"], fields["temperature"], fields["heart_rate"]) == (None, None, 78)


def test_a_csv_row_with_no_vital_at_all_is_refused(tmp_path):
    path = csv_file(tmp_path, HEADER + "P001,,,,,,\n")
    ((_line, err),) = list(read_csv(path))
    assert str(err).startswith(f"{path}:2: no vital measured")


@pytest.mark.parametrize(("ahead", "refused"), [(59, False), (61, True), (7 * 60, True)])
def test_a_reading_dated_over_an_hour_after_its_record_is_dead_lettered(ahead, refused):
    produced = datetime.fromtimestamp(PRODUCED_MS / 1000, UTC)
    value = msg(timestamp=(produced + timedelta(minutes=ahead)).isoformat())
    if refused:  # its write time would hide every correct reading until then
        assert "is more than 1 h after the message was produced" in reason(value)
    else:
        assert decode(value, PRODUCED_MS).timestamp == produced + timedelta(minutes=ahead)
