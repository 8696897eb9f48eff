"""The HL7 code table of ``vitals gateway --codes``: unknown keys refused at start (FILE:LINE,
exit 2), as ``vitals rules check`` refuses them in a rules file; and the ACK's ERR text
written with the message's own delimiters."""

from __future__ import annotations

from pathlib import Path

import hl7
import pytest
from click.testing import CliRunner

from vitals.cli import cli
from vitals.config import KafkaSettings
from vitals.errors import InputFileError
from vitals.gateway import Gateway, GatewaySettings
from vitals.hl7_mapping import MappingError, MappingOptions, load_table
from vitals.readings import STATUSES

ROOT = Path(__file__).resolve().parents[2]
ENTRY = '{code: "X-HR", system: ACME, vital: heart_rate, rank: 1}'


def gateway(*args: str) -> tuple[int, str]:
    """``vitals gateway`` in-process; refused before it listens or connects to Kafka."""
    r = CliRunner().invoke(
        cli, ["gateway", "--port", "0", "--bootstrap-servers", "192.0.2.1:1", *args]
    )
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.output.strip()


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (
            f"observation:\n  - {ENTRY}\n",
            1,
            "observation: unknown key in an HL7 code table; expected observations, units, "
            "technical_flags (did you mean 'observations'?)",
        ),
        (
            f"observations:\n  - {ENTRY}\nunit:\n  bpm: bpm\n",
            3,
            "unit: unknown key in an HL7 code table; expected observations, units, "
            "technical_flags (did you mean 'units'?)",
        ),
        (
            'observations:\n  - {code: "X-HR", sytem: ACME, vital: heart_rate}\n',
            2,
            "sytem: unknown key in an observation of an HL7 code table; expected code, system, "
            "name, vital, rank, override (did you mean 'system'?)",
        ),
    ],
    ids=["observation", "unit", "sytem"],
)
def test_an_unknown_key_in_a_code_table_is_refused_at_start_naming_file_line_and_keys(
    tmp_path, text, line, expected
):
    f = tmp_path / "site_codes.yaml"
    f.write_text(text)
    with pytest.raises(InputFileError) as e:
        load_table(f)
    assert str(e.value) == f"{f}:{line}: {expected}"
    assert gateway("--codes", str(f)) == (2, f"Error: {f}:{line}: {expected}")


def test_a_rules_file_given_as_code_table_is_refused_at_start():
    rules = ROOT / "vitals/default_rules.yaml"
    code, out = gateway("--codes", str(rules))
    assert code == 2
    assert out.startswith(f"Error: {rules}:")
    assert out.endswith(
        ": unknown key in an HL7 code table; expected observations, units, technical_flags"
    )


def test_a_table_with_only_known_keys_loads():
    table = load_table(ROOT / "vitals/hl7_codes.yaml")  # the shipped table as a --codes file
    assert table.lookup("147842", "MDC").vital == "heart_rate"


# --- the ACK's MSA-3 and ERR text ------------------------------------------------------------


def ack_for(message: str, error: MappingError) -> str:
    gw = Gateway(GatewaySettings(MappingOptions(table=load_table())), KafkaSettings())
    return gw._ack(hl7.parse(message), "AE", error).decode()


def test_err_text_escapes_each_delimiter_once():
    error = MappingError("patient_id: 'A|B/C' is not a patient id (no '/' or '\\')", "PID-3.1", 102)
    ack = ack_for("MSH|^~\\&|MON|ICU|VITALS|H|20261129120000||ORU^R01|C1|P|2.6\rPID|||X", error)
    msa, err = ack.strip("\r").split("\r")[1:]
    assert err == (
        "ERR||PID^1^3^1^1|102^Data type error^HL70357|E||||"
        "PID-3.1: patient_id: 'A\\F\\B/C' is not a patient id (no '/' or '\\E\\')"
    )
    parsed = hl7.parse(ack)  # what the sender reads back, once unescaped: the reason itself
    assert parsed.unescape(str(parsed.segment("ERR")(8))) == str(error)
    assert msa.startswith("MSA|AE|C1|PID-3.1: patient_id: 'A\\F\\B/C'")


def test_err_is_written_with_the_message_s_own_delimiters():
    message = "MSH#!~$&#MON#ICU#VITALS#H#20261129120000##ORU!R01#C2#P#2.6\rPID###X"
    error = MappingError("value 'a#b!c$d' is not a number", "OBX[2]-5", 102)
    err = ack_for(message, error).strip("\r").split("\r")[-1]
    assert err == (
        "ERR##OBX!2!5#102!Data type error!HL70357#E####"
        "OBX[2]-5: value 'a$F$b$S$c$E$d' is not a number"
    )


# --- every mistake of a site table in one pass; remapping refused --------------------------

SITE_WITH_MISTAKES = """\
observations:
  - {code: "X-HR", system: ACME, vital: heart_rate, colour: red}
  - {code: "X-BP", system: ACME, vital: sistolic}
  - {code: "X-RR", system: ACME, vital: respiratory_rate, rank: one}
units:
  "X-MMHG": mmhg
  "X-PCT": percent
  "X-PC": procent
technical_flags:
  LEADSOFF: leadsoff
"""


def test_every_mistake_of_a_code_table_is_reported_in_one_pass(tmp_path):
    f = tmp_path / "site_codes.yaml"
    f.write_text(SITE_WITH_MISTAKES)
    with pytest.raises(InputFileError) as e:
        load_table(f)
    assert str(e.value) == "\n".join(
        [
            f"{f}: 6 mistakes:",
            f"  {f}:2: colour: unknown key in an observation of an HL7 code table; expected "
            "code, system, name, vital, rank, override",
            f"  {f}:3: observations[2].vital: 'sistolic' is not one of heart_rate, spo2, "
            "systolic, diastolic, respiratory_rate, temperature (did you mean 'systolic'?)",
            f"  {f}:4: observations[3].rank: 'one' is not a whole number",
            f"  {f}:6: units[X-MMHG]: 'mmhg' is not one of bpm, per_min, percent, mmHg, kPa, "
            "Cel, degF (did you mean 'mmHg'?)",
            f"  {f}:8: units[X-PC]: 'procent' is not one of bpm, per_min, percent, mmHg, kPa, "
            "Cel, degF (did you mean 'percent'?)",
            f"  {f}:10: technical_flags[LEADSOFF]: 'leadsoff' is not one of "
            + ", ".join(STATUSES)
            + " (did you mean 'leads_off'?)",
        ]
    )
    code, out = gateway("--codes", str(f))
    assert code == 2 and out.count(f"  {f}:") == 6


def test_a_site_entry_giving_a_shipped_code_another_vital_is_refused_unless_it_says_override(
    tmp_path,
):
    f = tmp_path / "site_codes.yaml"
    f.write_text('observations:\n  - {code: "147842", system: MDC, vital: spo2}\n')
    with pytest.raises(InputFileError) as e:
        load_table(f)
    assert str(e.value) == (
        f"{f}:2: observations[1].vital: code 147842^MDC (MDC_ECG_HEART_RATE) is heart_rate in "
        "the shipped table, not spo2; add 'override: true' to this entry if the site really "
        "means it"
    )
    f.write_text('observations:\n  - {code: "147842", vital: spo2}\n')  # any system
    with pytest.raises(InputFileError, match="is heart_rate in the shipped table"):
        load_table(f)
    # the same vital (a new rank) is no remapping; override: true is the site's word
    f.write_text('observations:\n  - {code: "147842", system: MDC, vital: heart_rate, rank: 5}\n')
    assert load_table(f).lookup("147842", "MDC").rank == 5
    f.write_text('observations:\n  - {code: "147842", system: MDC, vital: spo2, override: true}\n')
    assert load_table(f).lookup("147842", "MDC").vital == "spo2"


@pytest.mark.parametrize(
    ("units", "reason"),
    [
        (
            '"bpm": mmHg',
            "units[bpm]: 'mmHg' is not a unit of heart_rate, which 'bpm' measures (it is "
            "'bpm'); a unit is mapped only to a unit of the same quantity",
        ),
        (
            '"266016": percent',
            "units[266016]: 'percent' is not a unit of diastolic, systolic, which '266016' "
            "measures (it is 'mmHg'); a unit is mapped only to a unit of the same quantity",
        ),
        (
            '"DEGF": Cel',  # not in the shipped table, but its name is a unit: same quantity
            None,
        ),
        (
            '"KPA": bpm',
            "units[KPA]: 'bpm' is not a unit of diastolic, systolic, which 'KPA' measures (it "
            "is 'kPa'); a unit is mapped only to a unit of the same quantity",
        ),
    ],
)
def test_a_unit_is_mapped_only_to_a_unit_of_its_own_quantity(tmp_path, units, reason):
    f = tmp_path / "site_codes.yaml"
    f.write_text(f"units:\n  {units}\n")
    if reason is None:
        load_table(f)
        return
    with pytest.raises(InputFileError) as e:
        load_table(f)
    assert str(e.value) == f"{f}:2: {reason}"
