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
            "name, vital, rank (did you mean 'system'?)",
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
