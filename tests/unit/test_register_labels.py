"""The patient register's values: labels and field checks (pure logic)."""

from __future__ import annotations

import pytest

from vitals.errors import ConfigError
from vitals.register import MAX_FIELD, Placement, check_field


@pytest.mark.parametrize(
    ("placement", "label"),
    [
        (Placement("P1", "Ward 7", "7", "J. Smith"), "Ward 7 · Bed 7 · J. Smith"),
        (Placement("P1", bed="12"), "Bed 12"),
        (Placement("P1", ward="ICU", name="A. Jones"), "ICU · A. Jones"),
        (Placement("P1"), ""),
    ],
)
def test_a_placement_reads_as_the_boards_show_it(placement, label):
    assert placement.label() == label


def test_a_field_is_stripped():
    assert check_field("bed", "  7A ") == "7A"


def test_an_empty_field_clears():
    assert check_field("name", "") == ""


def test_a_field_longer_than_the_limit_is_refused_with_its_length():
    with pytest.raises(
        ConfigError, match=rf"^name: 'XXXXXXXXXXXXXXXXXXXX'… is 65 characters; at most {MAX_FIELD}$"
    ):
        check_field("name", "X" * 65)


def test_a_control_character_is_refused():
    with pytest.raises(ConfigError, match=r"^ward: 'Ward\\t7' holds a control character"):
        check_field("ward", "Ward\t7")
