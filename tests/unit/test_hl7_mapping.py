"""HL7 v2 ORU^R01 (IHE PCD-01) → wire readings: patient, codes, units, times, statuses."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitals.errors import ConfigError
from vitals.hl7_mapping import (
    MappingError,
    MappingOptions,
    load_table,
    map_message,
    parse,
    timezone,
)
from vitals.readings import PATIENT_ID_RULE

ROOT = Path(__file__).resolve().parents[2]
TABLE = load_table()
OPTS = MappingOptions(table=TABLE)
MSH = "MSH|^~\\&|MON|ICU|VITALS|H|20261129120000+0000||ORU^R01^ORU_R01|C1|P|2.6"
PID = "PID|||P001^^^H^MR~N-77^^^NHS^NH||Doe^Jane"
OBR = "OBR|1|C1|C1|182777000^monitoring of patient^SNOMED-CT|||20261129115900+0000"


def obx(code: str, value: str, unit: str = "", status: str = "R", when: str = "", flag: str = ""):
    return f"OBX|1|NM|{code}|1.1.1.1|{value}|{unit}||{flag}|||{status}|||{when}"


def mapped(*segments: str, opts: MappingOptions = OPTS, msh: str = MSH, pid: str = PID):
    return map_message(parse("\r".join([msh, pid, OBR, *segments])), opts)


def one(*segments: str, **kw):
    m = mapped(*segments, **kw)
    assert len(m.readings) == 1, m.readings
    return m.readings[0].to_wire()


def test_the_shipped_full_sample_gives_one_reading_with_all_six_vitals_in_utc():
    text = (ROOT / "sample_data/hl7/pcd01_full.hl7").read_text()
    m = map_message(parse(text), OPTS)
    assert m.control_id == "GE-000123"
    assert [r.to_wire() for r in m.readings] == [
        {
            "patient_id": "P001",
            "timestamp": "2026-11-29T10:29:58+00:00",
            "heart_rate": 72,
            "spo2": 97,
            "blood_pressure": {"systolic": 120, "diastolic": 80},
            "respiratory_rate": 16,
            "temperature": 36.8,
        }
    ]
    assert m.unknown_codes == {"150023^MDC": 1}  # the NIBP mean is not a vital of vitals


def test_the_shipped_partial_sample_gives_blood_pressure_at_its_own_time_and_a_status():
    text = (ROOT / "sample_data/hl7/pcd01_partial.hl7").read_text()
    m = map_message(parse(text), OPTS)
    assert [r.to_wire() for r in m.readings] == [
        {
            "patient_id": "P002",
            "timestamp": "2026-11-29T10:07:12+00:00",
            "blood_pressure": {"systolic": 135, "diastolic": 75},
        },
        {
            "patient_id": "P002",
            "timestamp": "2026-11-29T10:10:00+00:00",
            "heart_rate": 88,
            "respiratory_rate": 18,
            "status": {"spo2": "invalid"},
        },
    ]
    assert m.unknown_codes == {"188448^MDC": 1}


def test_observation_time_is_obx14_else_obr7_else_msh7():
    with_obx14 = one(obx("147842^HR^MDC", "70", when="20261129115800+0000"))
    assert with_obx14["timestamp"] == "2026-11-29T11:58:00+00:00"
    from_obr = one(obx("147842^HR^MDC", "70"))
    assert from_obr["timestamp"] == "2026-11-29T11:59:00+00:00"
    m = map_message(parse("\r".join([MSH, PID, obx("147842^HR^MDC", "70")])), OPTS)
    assert m.readings[0].to_wire()["timestamp"] == "2026-11-29T12:00:00+00:00"


def test_hl7_zone_offsets_are_converted_to_utc():
    r = one(obx("147842^HR^MDC", "70", when="20261130003000+0100"))
    assert r["timestamp"] == "2026-11-29T23:30:00+00:00"


def test_a_time_without_zone_takes_the_zone_of_msh7():
    msh = MSH.replace("20261129120000+0000", "20261129120000-0500")
    r = one(obx("147842^HR^MDC", "70", when="20261129115800"), msh=msh)
    assert r["timestamp"] == "2026-11-29T16:58:00+00:00"


def test_a_time_without_any_zone_takes_the_configured_zone():
    msh = MSH.replace("20261129120000+0000", "20260701120000")
    opts = MappingOptions(table=TABLE, default_tz=timezone("Europe/London"))
    r = one(obx("147842^HR^MDC", "70", when="20260701115800"), msh=msh, opts=opts)
    assert r["timestamp"] == "2026-07-01T10:58:00+00:00"  # BST is UTC+1


@pytest.mark.parametrize(
    ("code", "value", "unit", "field", "expected"),
    [
        (
            "147842^MDC_ECG_HEART_RATE^MDC",
            "72",
            "264864^MDC_DIM_BEAT_PER_MIN^MDC",
            "heart_rate",
            72,
        ),
        ("147842^MDC_ECG_HEART_RATE^MDC", "72.5", "/min^^UCUM", "heart_rate", 73),
        ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "96", "%", "spo2", 96),
        (
            "151562^MDC_RESP_RATE^MDC",
            "14",
            "264928^MDC_DIM_RESP_PER_MIN^MDC",
            "respiratory_rate",
            14,
        ),
        ("151594^MDC_CO2_RESP_RATE^MDC", "12", "/min", "respiratory_rate", 12),
        ("150364^MDC_TEMP_BODY^MDC", "37.25", "268192^MDC_DIM_DEGC^MDC", "temperature", 37.3),
        ("150364^MDC_TEMP_BODY^MDC", "98.6", "266560^MDC_DIM_FAHR^MDC", "temperature", 37.0),
        ("188424^MDC_TEMP_ORAL^MDC", "101.3", "[degF]", "temperature", 38.5),
        ("0002-4182^HR^MDIL", "64", "", "heart_rate", 64),
    ],
)
def test_codes_and_units_map_to_the_vital_in_its_unit(code, value, unit, field, expected):
    assert one(obx(code, value, unit))[field] == expected


def test_kilopascals_are_converted_to_millimetres_of_mercury():
    r = one(
        obx("150021^SYS^MDC", "16", "kPa"),
        obx("150022^DIA^MDC", "10.7", "265987^MDC_DIM_KILO_PASCAL^MDC"),
    )
    assert r["blood_pressure"] == {"systolic": 120, "diastolic": 80}


def test_ecg_heart_rate_wins_over_the_oximeter_pulse_rate_at_the_same_time():
    r = one(obx("149530^PR^MDC", "71"), obx("147842^HR^MDC", "72"))
    assert r["heart_rate"] == 72


def test_the_oximeter_pulse_rate_is_used_when_the_ecg_heart_rate_is_invalid():
    r = one(obx("147842^HR^MDC", "", status="X"), obx("149530^PR^MDC", "71"))
    assert r["heart_rate"] == 71 and "status" not in r


@pytest.mark.parametrize(
    ("value", "status"),
    [("", "R"), ("97", "X"), ("", "X")],
    ids=["empty value", "status X", "both"],
)
def test_an_obx_that_cannot_be_obtained_becomes_an_invalid_status_never_a_value(value, status):
    m = mapped(obx("147842^HR^MDC", "70"), obx("150456^SPO2^MDC", value, "%", status=status))
    assert m.readings[0].to_wire() == {
        "patient_id": "P001",
        "timestamp": "2026-11-29T11:59:00+00:00",
        "heart_rate": 70,
        "status": {"spo2": "invalid"},
    }
    assert m.invalid == 1


def test_a_technical_flag_in_obx8_becomes_that_status():
    r = one(obx("147842^HR^MDC", "0", flag="LEADS_OFF"))
    assert r == {
        "patient_id": "P001",
        "timestamp": "2026-11-29T11:59:00+00:00",
        "status": {"heart_rate": "leads_off"},
    }


def test_deleted_or_wrong_observations_are_ignored_and_counted():
    m = mapped(obx("147842^HR^MDC", "70"), obx("150456^SPO2^MDC", "97", status="W"))
    assert "spo2" not in m.readings[0].to_wire() and m.ignored == 1


@pytest.mark.parametrize(
    ("segments", "where", "reason"),
    [
        (
            [obx("147842^HR^MDC", "70"), obx("150021^SYS^MDC", "120", "mmHg")],
            "OBX[2]-5",
            "blood_pressure: diastolic missing; a blood pressure has both",
        ),
        (
            [obx("147842^HR^MDC", "70"), obx("150022^DIA^MDC", "80", "mmHg")],
            "OBX[2]-5",
            "blood_pressure: systolic missing; a blood pressure has both",
        ),
    ],
    ids=["systolic alone", "diastolic alone"],
)
def test_one_pressure_without_the_other_is_refused_naming_its_obx_as_the_json_is(
    segments, where, reason
):
    """The consumer dead-letters ``{"blood_pressure": {"systolic": 120}}``: the gateway
    answers AE for the same reading instead of publishing a technical alarm."""
    with pytest.raises(MappingError) as e:
        mapped(*segments)
    assert (e.value.where, e.value.reason, e.value.code) == (where, reason, 102)


@pytest.mark.parametrize("invalid", ["150021^SYS^MDC", "150022^DIA^MDC"])
def test_a_pressure_the_device_marks_invalid_makes_the_blood_pressure_invalid(invalid):
    other = "150022^DIA^MDC" if invalid.startswith("150021") else "150021^SYS^MDC"
    r = one(obx(invalid, "", "mmHg", status="X"), obx(other, "80", "mmHg"))
    assert r["status"] == {"blood_pressure": "invalid"} and "blood_pressure" not in r


def test_unknown_codes_are_ignored_and_counted_and_device_rows_are_silent():
    m = mapped(
        "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
        obx("150023^MEAN^MDC", "93"),
        obx("150023^MEAN^MDC", "94", when="20261129115930+0000"),
        obx("147842^HR^MDC", "70"),
    )
    assert m.unknown_codes == {"150023^MDC": 2}
    assert [r.to_wire()["heart_rate"] for r in m.readings] == [70]


def test_a_message_with_only_unknown_codes_gives_no_reading():
    assert mapped(obx("150023^MEAN^MDC", "93")).readings == []


def test_repeated_observation_groups_with_several_times_give_several_readings_in_time_order():
    m = mapped(
        obx("147842^HR^MDC", "72", when="20261129115830+0000"),
        obx("150456^SPO2^MDC", "97", when="20261129115830+0000"),
        obx("147842^HR^MDC", "70", when="20261129115800+0000"),
        obx("150456^SPO2^MDC", "96", when="20261129115800+0000"),
    )
    assert [(r.timestamp, r.values) for r in m.readings] == [
        (datetime(2026, 11, 29, 11, 58, tzinfo=UTC), {"heart_rate": 70, "spo2": 96}),
        (datetime(2026, 11, 29, 11, 58, 30, tzinfo=UTC), {"heart_rate": 72, "spo2": 97}),
    ]


def test_the_patient_comes_from_the_configured_identifier_type_and_component():
    by_type = MappingOptions(table=TABLE, patient_id_type="NH")
    assert one(obx("147842^HR^MDC", "70"), opts=by_type)["patient_id"] == "N-77"
    by_component = MappingOptions(table=TABLE, patient_component=4)
    assert one(obx("147842^HR^MDC", "70"), opts=by_component)["patient_id"] == "H"


@pytest.mark.parametrize(
    ("segments", "where", "reason"),
    [
        ([obx("147842^HR^MDC", "seventy")], "OBX[1]-5", "'seventy' is not a number"),
        (
            [obx("147842^HR^MDC", "70", "furlongs")],
            "OBX[1]-6",
            "'furlongs' is not in the unit table",
        ),
        ([obx("147842^HR^MDC", "70", "%")], "OBX[1]-6", "'%' is not a unit of heart_rate"),
        ([obx("147842^HR^MDC", "70", when="2026-11-29")], "OBX[1]-14", "is not an HL7 time"),
    ],
)
def test_an_observation_that_cannot_be_read_refuses_the_message_naming_the_field(
    segments, where, reason
):
    with pytest.raises(MappingError) as e:
        mapped(*segments)
    assert e.value.where == where and reason in e.value.reason


def test_a_message_without_a_patient_is_refused():
    with pytest.raises(MappingError, match="PID: no PID segment"):
        map_message(parse("\r".join([MSH, OBR, obx("147842^HR^MDC", "70")])), OPTS)


def test_a_message_of_another_type_is_refused():
    msh = MSH.replace("ORU^R01^ORU_R01", "ADT^A01^ADT_A01")
    with pytest.raises(
        MappingError, match="MSH-9: message type 'ADT\\^A01\\^ADT_A01' is not ORU\\^R01"
    ):
        mapped(obx("147842^HR^MDC", "70"), msh=msh)


@pytest.mark.parametrize("text", ["", "hello", "PID|||P1", "MSH"])
def test_text_that_is_not_hl7_is_refused(text):
    with pytest.raises(MappingError):
        map_message(parse(text), OPTS)


def test_a_vendor_table_adds_codes_and_names_its_mistakes(tmp_path):
    f = tmp_path / "codes.yaml"
    f.write_text('observations:\n  - {code: "X-HR", system: ACME, vital: heart_rate, rank: 1}\n')
    table = load_table(f)
    assert table.lookup("X-HR", "acme").vital == "heart_rate"
    assert table.lookup("147842", "MDC").vital == "heart_rate"  # the shipped codes stay
    f.write_text('observations:\n  - {code: "X", vital: pulse}\n')
    with pytest.raises(
        ConfigError, match=r"codes.yaml:2: observations\[1\].vital: 'pulse' is not one of"
    ):
        load_table(f)


_HL7_CHARS = st.sampled_from([*"|^~\\&\rMSHPIDOBXR0123456789.+-XZ ", "ORU", "R01", "NM"])


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    tail=st.lists(_HL7_CHARS, max_size=200).map("".join),
    obx=st.lists(st.text(max_size=12), max_size=16),
)
def test_mapping_any_text_either_gives_readings_or_raises_mapping_error(tail, obx):
    texts = [
        MSH + tail,
        "\r".join([MSH, PID, OBR, "OBX|" + "|".join(obx)]),
        "\r".join([MSH, PID + tail, OBR, obx_line(obx)]),
    ]
    for text in texts:
        with contextlib.suppress(MappingError):  # anything else escaping fails the test
            map_message(parse(text), OPTS)


def obx_line(parts: list[str]) -> str:
    fields = ["OBX", "1", "NM", "147842^HR^MDC", "1", *parts]
    return "|".join(fields)


@pytest.mark.parametrize(
    ("segments", "where", "reason"),
    [
        (
            [obx("150456^SpO2^MDC", "97"), obx("147842^HR^MDC", "-40")],
            "OBX[2]-5",
            "heart_rate: -40.0 is outside the possible range 0..350",
        ),
        ([obx("150344^TEMP^MDC", "60", "Cel")], "OBX[1]-5", "temperature: 60.0 is outside"),
        (
            [obx("150021^NIBP_SYS^MDC", "80", "mmHg"), obx("150022^NIBP_DIA^MDC", "120", "mmHg")],
            "OBX[1]-5",
            "blood_pressure: diastolic 120 is not below systolic 80",
        ),
    ],
)
def test_a_value_the_consumer_would_dead_letter_refuses_the_message_naming_the_obx(
    segments, where, reason
):
    with pytest.raises(MappingError) as e:
        mapped(*segments)
    assert e.value.where == where and e.value.reason.startswith(reason)
    assert e.value.code == 102


def test_a_reading_dated_over_an_hour_after_its_arrival_is_refused_as_the_consumer_would():
    segments = [obx("147842^HR^MDC", "70", when="20261129150000+0000")]
    assert mapped(*segments).readings  # without an arrival time the time is not judged
    msg = parse("\r".join([MSH, PID, OBR, *segments]))
    with pytest.raises(MappingError) as e:
        map_message(msg, OPTS, received_at=datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    assert e.value.where == "OBX[1]-14" and "more than 1 h after" in e.value.reason


@pytest.mark.parametrize(
    ("pid", "shown"),
    [
        ("W3/12", "'W3/12'"),  # a URL would split it
        ("W3\\E\\12", "'W3\\\\12'"),  # \E\ is a backslash once unescaped
        ("A\\F\\B/1", "'A|B/1'"),  # shown unescaped
        ("..", "'..'"),
        ("Bed  7", "'Bed  7'"),  # two inner spaces
        ("P" * 65, "'" + "P" * 20 + "…'"),  # longer than MAX_PATIENT_ID
        ("Zoë", "'Zoë'"),  # not ASCII
    ],
)
def test_a_patient_id_outside_the_one_rule_is_refused_at_pid_3_1(pid, shown):
    with pytest.raises(MappingError) as e:
        mapped(obx("147842^HR^MDC", "70"), pid=f"PID|||{pid}^^^H^MR")
    assert e.value.where == "PID-3.1" and e.value.code == 102
    assert e.value.reason == f"patient_id: {shown} is not a patient id ({PATIENT_ID_RULE})"


def test_the_patient_id_is_judged_in_a_message_without_readings_too():
    with pytest.raises(MappingError, match=r"^PID-3\.4: patient_id: '\.\.' is not a patient id"):
        mapped(pid="PID|||P1^^^..^MR", opts=MappingOptions(table=TABLE, patient_component=4))


# --- several patients in one message (ORU^R01 PATIENT_RESULT groups) ----------------------


def two_patients(second_pid: str = "PID|||PB2^^^H^MR") -> str:
    return "\r".join(
        [
            MSH,
            "PID|||PA1^^^H^MR",
            OBR,
            obx("147842^HR^MDC", "70", when="20261129115000+0000"),
            second_pid,
            OBR,
            obx("147842^HR^MDC", "155", when="20261129115500+0000"),
            obx("150456^SPO2^MDC", "82", "%", when="20261129115500+0000"),
        ]
    )


def test_each_obx_belongs_to_the_patient_of_the_pid_before_it():
    m = map_message(parse(two_patients()), OPTS)
    assert [r.to_wire() for r in m.readings] == [
        {"patient_id": "PA1", "timestamp": "2026-11-29T11:50:00+00:00", "heart_rate": 70},
        {
            "patient_id": "PB2",
            "timestamp": "2026-11-29T11:55:00+00:00",
            "heart_rate": 155,
            "spo2": 82,
        },
    ]


def test_two_patients_observed_at_the_same_time_give_one_reading_each():
    text = two_patients().replace("20261129115000", "20261129115500")
    m = map_message(parse(text), OPTS)
    assert [(r.patient_id, r.values) for r in m.readings] == [
        ("PA1", {"heart_rate": 70}),
        ("PB2", {"heart_rate": 155, "spo2": 82}),
    ]


def test_an_obx_without_its_own_time_takes_the_obr7_of_its_own_patient_group():
    text = "\r".join(
        [
            MSH,
            "PID|||PA1",
            OBR,  # OBR-7 11:59
            obx("147842^HR^MDC", "70"),
            "PID|||PB2",
            obx("147842^HR^MDC", "90"),  # no OBR in this group: MSH-7, not PA1's OBR-7
        ]
    )
    m = map_message(parse(text), OPTS)
    assert [(r.patient_id, r.timestamp.isoformat()) for r in m.readings] == [
        ("PA1", "2026-11-29T11:59:00+00:00"),
        ("PB2", "2026-11-29T12:00:00+00:00"),
    ]


def test_the_second_patient_id_is_held_to_the_rule_and_named_pid_2():
    with pytest.raises(MappingError) as e:
        map_message(parse(two_patients("PID|||W3/12^^^H^MR")), OPTS)
    assert e.value.where == "PID[2]-3.1" and e.value.code == 102


def test_an_obx_before_any_pid_is_refused_naming_it():
    text = "\r".join([MSH, OBR, obx("147842^HR^MDC", "70"), PID, obx("147842^HR^MDC", "71")])
    with pytest.raises(MappingError) as e:
        map_message(parse(text), OPTS)
    assert (e.value.where, e.value.code) == ("OBX[1]", 100)
    assert e.value.reason.startswith("OBX before any PID: it belongs to no patient")


# --- observation times: precision and zones ----------------------------------------------


@pytest.mark.parametrize("when", ["2026", "202611", "20261129", "2026112911", "2026+0100"])
def test_an_obx14_less_precise_than_the_minute_is_refused(when):
    with pytest.raises(MappingError) as e:
        mapped(obx("147842^HR^MDC", "70", when=when))
    assert (e.value.where, e.value.code) == ("OBX[1]-14", 102)
    assert e.value.reason == (
        f"{when!r} is less precise than the minute; an observation time needs at least YYYYMMDDHHMM"
    )


def test_a_time_to_the_minute_is_an_observation_time():
    r = one(obx("147842^HR^MDC", "70", when="202611291158+0000"))
    assert r["timestamp"] == "2026-11-29T11:58:00+00:00"


def test_an_imprecise_obr7_is_refused_only_where_an_obx_takes_its_time():
    obr = OBR.replace("20261129115900+0000", "20261129")
    msg = "\r".join([MSH, PID, obr, obx("147842^HR^MDC", "70", when="20261129115800+0000")])
    assert map_message(parse(msg), OPTS).readings  # every OBX has its own time
    with pytest.raises(MappingError) as e:
        map_message(parse("\r".join([MSH, PID, obr, obx("147842^HR^MDC", "70")])), OPTS)
    assert e.value.where == "OBR[1]-7" and "less precise than the minute" in e.value.reason


def test_an_imprecise_msh7_is_refused_where_an_obx_takes_its_time():
    msh = MSH.replace("20261129120000+0000", "20261129+0000")
    with pytest.raises(MappingError) as e:
        map_message(parse("\r".join([msh, PID, obx("147842^HR^MDC", "70")])), OPTS)
    assert e.value.where == "MSH-7" and "less precise than the minute" in e.value.reason


@pytest.mark.parametrize(
    "when",
    ["20261025013000", "20260329013000"],
    ids=["repeated when the clocks go back", "skipped when they go forward"],
)
def test_a_local_time_at_a_clock_change_is_refused_not_guessed(when):
    msh = MSH.replace("20261129120000+0000", "20261129120000")
    opts = MappingOptions(table=TABLE, default_tz=timezone("Europe/London"))
    with pytest.raises(MappingError) as e:
        mapped(obx("147842^HR^MDC", "70", when=when), msh=msh, opts=opts)
    assert e.value.where == "OBX[1]-14"
    assert "no UTC offset and is ambiguous or does not exist in Europe/London" in e.value.reason
    r = one(obx("147842^HR^MDC", "70", when=when + "+0100"), msh=msh, opts=opts)
    assert r["timestamp"] == f"2026-{when[4:6]}-{when[6:8]}T00:30:00+00:00"


def test_an_offset_that_is_not_a_utc_offset_is_refused():
    with pytest.raises(MappingError) as e:
        mapped(obx("147842^HR^MDC", "70", when="20261129115800+0199"))
    assert e.value.where == "OBX[1]-14" and "is not a UTC offset" in e.value.reason


# --- HL7 escape sequences ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "patient"),
    [
        ("A\\F\\B", "A|B"),
        ("A\\S\\B\\T\\C\\R\\D", "A^B&C~D"),
        ("P\\X41\\1", "PA1"),
        ("PLAIN-1", "PLAIN-1"),
    ],
)
def test_the_patient_id_is_unescaped_before_the_rule(sent, patient):
    assert one(obx("147842^HR^MDC", "70"), pid=f"PID|||{sent}^^^H^MR")["patient_id"] == patient


@pytest.mark.parametrize("sent", ["P\\H\\1", "P\\Zx\\1", "P\\.br\\1", "P1\\", "P\\\\1"])
def test_a_patient_id_with_an_escape_we_do_not_read_is_refused_never_shortened(sent):
    """python-hl7 drops sequences it does not know (``P\\H\\1`` → ``P_1``, ``P\\Zx\\1`` → ``P1``):
    an id read with a part dropped could name another patient."""
    with pytest.raises(MappingError) as e:
        mapped(obx("147842^HR^MDC", "70"), pid=f"PID|||{sent}^^^H^MR")
    assert (e.value.where, e.value.code) == ("PID-3.1", 102)
    assert "has an HL7 escape sequence this gateway does not read" in e.value.reason


# --- contradictions within one message ----------------------------------------------------

AT_1815 = "20261129181500+0000"


def same_patient_twice(first: str, second: str) -> str:
    return "\r".join(
        [
            MSH.replace("20261129120000", "20261129182000"),
            "PID|||H14^^^H^MR",
            obx("147842^HR^MDC", first, when=AT_1815),
            "PID|||H14^^^H^MR",
            obx("147842^HR^MDC", second, when=AT_1815),
        ]
    )


def test_two_values_of_one_vital_at_one_time_for_one_patient_are_refused_naming_the_second():
    with pytest.raises(MappingError) as e:
        map_message(parse(same_patient_twice("87", "160")), OPTS)
    assert (e.value.where, e.value.code) == ("OBX[2]-5", 205)
    assert e.value.reason == (
        "heart_rate at 2026-11-29 18:15:00 UTC is 160 here but 87 in OBX[1]: conflicting "
        "values of one vital at one observation time"
    )


def test_the_same_value_repeated_at_one_time_is_one_observation():
    m = map_message(parse(same_patient_twice("87", "87")), OPTS)
    assert [(r.patient_id, r.values) for r in m.readings] == [("H14", {"heart_rate": 87})]


def test_a_pressure_whose_halves_are_a_second_apart_is_refused_saying_they_must_share_a_time():
    with pytest.raises(MappingError) as e:
        mapped(
            obx("150021^SYS^MDC", "120", "mmHg", when="20261129115900+0000"),
            obx("150022^DIA^MDC", "80", "mmHg", when="20261129115901+0000"),
        )
    assert (e.value.where, e.value.code) == ("OBX[2]-14", 102)
    assert e.value.reason == (
        "systolic (OBX[1]) at 2026-11-29 11:59:00 UTC and diastolic (OBX[2]) at "
        "2026-11-29 11:59:01 UTC: systolic and diastolic must share an observation time "
        "(one blood pressure)"
    )
    assert "missing" not in e.value.reason


def test_a_lone_escape_character_is_shown_once_not_escaped_twice():
    with pytest.raises(MappingError) as e:
        mapped(obx("147842^HR^MDC", "70"), pid="PID|||A\\B^^^H^MR")
    assert e.value.reason.startswith("'A\\B' has an HL7 escape sequence")
