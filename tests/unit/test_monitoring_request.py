"""Ending a patient's monitoring checks the patient id by the one rule every reading's id
passes (``vitals.readings.PATIENT_ID_RULE``), before anything is written."""

import pytest

from vitals.errors import ConfigError
from vitals.monitoring import check_request
from vitals.readings import PATIENT_ID_RULE


@pytest.mark.parametrize(
    ("patient_id", "shown"),
    [
        ("", "''"),
        ("P" * 65, "'PPPPPPPPPPPPPPPPPPPP…'"),
        ("W3/12", "'W3/12'"),
        ("W3\\12", "'W3\\\\12'"),
        ("..", "'..'"),
        ("bed\t7", "'bed\\t7'"),
        ("bed  7", "'bed  7'"),
    ],
)
def test_ending_monitoring_refuses_an_id_no_reading_could_carry(patient_id, shown):
    with pytest.raises(ConfigError) as e:
        check_request(patient_id, by="nurse Ada")
    assert str(e.value) == f"{shown} is not a patient id ({PATIENT_ID_RULE})"


@pytest.mark.parametrize("patient_id", ["P1", "W3 bed-7", "P" * 64, "a.b"])
def test_ending_monitoring_accepts_every_id_a_reading_may_carry(patient_id):
    check_request(patient_id, by="nurse Ada")  # no error


def test_ending_monitoring_names_who_ends_it():
    with pytest.raises(ConfigError, match="say who ends the monitoring"):
        check_request("P1", by="  ")
