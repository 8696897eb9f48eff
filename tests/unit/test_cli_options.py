"""Shared CLI options: what --help shows is what the README shows and what is accepted."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from vitals.cli import cli
from vitals.cli_options import UpperChoice, plural
from vitals.config import CONSISTENCY_LEVELS


@pytest.mark.parametrize("command", ["consume", "query", "watch", "status", "serve", "init"])
def test_help_shows_the_consistency_levels_as_the_readme_does(command):
    out = CliRunner().invoke(cli, [command, "--help"], terminal_width=200).output
    assert f"--consistency [{'|'.join(CONSISTENCY_LEVELS)}]" in out


@pytest.mark.parametrize("given", ["local_quorum", "LOCAL_QUORUM", "Local_Quorum"])
def test_a_consistency_level_is_accepted_in_any_case_and_read_in_upper_case(given):
    @click.command()
    @click.option("--consistency", type=UpperChoice(CONSISTENCY_LEVELS))
    def show(consistency: str) -> None:
        click.echo(consistency)

    assert CliRunner().invoke(show, ["--consistency", given]).output == "LOCAL_QUORUM\n"


def test_a_wrong_consistency_level_lists_the_choices_in_upper_case():
    res = CliRunner().invoke(cli, ["query", "P1", "--consistency", "most"])
    assert res.exit_code == 2
    assert "'most' is not one of 'ONE', 'TWO', 'THREE', 'QUORUM', 'LOCAL_QUORUM'" in res.output


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 readings"), (1, "1 reading"), (2, "2 readings"), (1500, "1,500 readings")],
)
def test_plural(n, text):
    assert plural(n, "reading") == text
