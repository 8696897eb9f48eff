"""The README's option tables are generated from the CLI, and every command explains itself."""

from __future__ import annotations

import click
import pytest

from tools.gen_options_doc import commands, current, generate
from vitals.cli import cli

LEAVES = [(name, cmd) for name, cmd in commands(cli) if not isinstance(cmd, click.Group)]


def test_readme_configuration_section_matches_the_cli() -> None:
    assert current() is not None, "README.md lacks <!-- options:start --> / <!-- options:end -->"
    assert current() == generate(), (
        "README.md's Configuration section differs from the CLI's options; "
        "run `python tools/gen_options_doc.py --write`"
    )


@pytest.mark.parametrize(("name", "cmd"), LEAVES, ids=[n for n, _ in LEAVES])
def test_every_command_has_help_with_an_example(name: str, cmd: click.Command) -> None:
    assert cmd.help and cmd.help.strip(), f"{name} has no help text"
    assert "Example" in cmd.help, f"{name}'s help has no Example:"


@pytest.mark.parametrize(("name", "cmd"), LEAVES, ids=[n for n, _ in LEAVES])
def test_every_option_has_help_and_shows_its_vitals_variable(name: str, cmd: click.Command) -> None:
    for p in cmd.params:
        if not isinstance(p, click.Option) or p.name in ("help", "version"):
            continue
        assert p.help, f"{name} {p.opts[0]} has no help"
        envvars = [p.envvar] if isinstance(p.envvar, str) else list(p.envvar or [])
        for e in envvars:
            assert e.startswith("VITALS_"), f"{name} {p.opts[0]}: variable {e} lacks VITALS_"
            assert p.show_envvar, f"{name} {p.opts[0]}: --help does not show {e}"
