"""The CLI's contract in-process (CliRunner, milliseconds, no servers): one meaning per
``VITALS_*`` variable, and argument mistakes refused with one clear ``Error:`` line before
anything is connected to."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from tools.gen_options_doc import commands
from vitals.cli import cli
from vitals.cli_options import DEPRECATED_ENVVARS, option


def _meaning(p: click.Option) -> dict[str, object]:
    """What an option means, as --help and parsing see it (not where it is declared)."""
    info = p.to_info_dict()
    return {k: info[k] for k in ("help", "default", "type", "is_flag", "multiple", "opts")}


def bindings(group: click.Group) -> dict[str, list[tuple[str, dict[str, object]]]]:
    """Every variable -> the (command, meaning) of each option it sets, over the whole CLI."""
    out: dict[str, list[tuple[str, dict[str, object]]]] = {}
    for name, cmd in commands(group):
        for p in cmd.params:
            if isinstance(p, click.Option) and p.envvar:
                names = [p.envvar] if isinstance(p.envvar, str) else p.envvar
                for e in names:
                    out.setdefault(e, []).append((name, _meaning(p)))
    return out


def double_meanings(group: click.Group) -> dict[str, list[str]]:
    """Variables bound to options that differ in help, default, type or flags."""
    return {
        e: [name for name, _ in uses]
        for e, uses in bindings(group).items()
        if any(m != uses[0][1] for _, m in uses)
    }


def test_every_vitals_variable_has_one_meaning_across_the_cli():
    assert double_meanings(cli) == {}


def test_a_variable_bound_to_two_meanings_is_found():
    @click.group()
    def g() -> None: ...

    @g.command()
    @option("--quiet", envvar="VITALS_X", is_flag=True, help="A rate line instead.")
    def a(quiet: bool) -> None: ...

    @g.command()
    @option("--quiet", envvar="VITALS_X", is_flag=True, help="Print nothing.")
    def b(quiet: bool) -> None: ...

    assert double_meanings(g) == {"VITALS_X": ["vitals a", "vitals b"]}


def test_shared_variables_are_the_ones_the_pipeline_commands_share():
    shared = {e for e, uses in bindings(cli).items() if len(uses) > 1}
    assert {"VITALS_TOPIC", "VITALS_ALERTS_TOPIC", "VITALS_QUIET", "VITALS_STALE_AFTER"} <= shared


@pytest.mark.parametrize(
    ("command", "variable"),
    [("status", "VITALS_STATUS_QUIET"), ("query", "VITALS_QUERY_QUIET")],
)
def test_the_health_check_is_not_silenced_by_the_consumers_quiet(command, variable):
    params = {p.name: p for p in click.Context(cli).command.commands[command].params}
    assert params["quiet"].envvar == variable


def test_watch_and_serve_call_a_patient_stale_after_the_same_time():
    (watch,) = [p for p in cli.commands["watch"].params if p.name == "stale_after"]
    (serve,) = [p for p in cli.commands["serve"].params if p.name == "stale_after"]
    assert _meaning(watch) == _meaning(serve)
    assert watch.default == 30.0


def test_a_deprecated_variable_still_works_and_says_its_new_name():
    res = CliRunner().invoke(
        cli,
        ["watch", "--help"],
        env={"VITALS_WATCH_STALE_AFTER": "45"},
        terminal_width=200,
    )
    assert res.exit_code == 0
    assert "warning: VITALS_WATCH_STALE_AFTER is deprecated; use VITALS_STALE_AFTER" in res.stderr
    assert DEPRECATED_ENVVARS == {
        "VITALS_WATCH_STALE_AFTER": "VITALS_STALE_AFTER",
        "VITALS_STATUS_GROUP": "VITALS_GROUP",
    }


@pytest.mark.parametrize("variable", ["VITALS_GROUP", "VITALS_STATUS_GROUP"])
@pytest.mark.parametrize("command", ["status", "consume"])
def test_one_group_variable_sets_the_group_of_status_and_consume(monkeypatch, variable, command):
    monkeypatch.delenv("VITALS_GROUP", raising=False)
    monkeypatch.delenv("VITALS_STATUS_GROUP", raising=False)
    monkeypatch.setenv(variable, "ward7")
    ctx = cli.commands[command].make_context(command, [])
    assert ctx.params["group"] == "ward7"


def test_the_deprecated_staleness_variable_sets_the_option(monkeypatch):
    monkeypatch.setenv("VITALS_WATCH_STALE_AFTER", "45")
    monkeypatch.delenv("VITALS_STALE_AFTER", raising=False)
    ctx = cli.commands["watch"].make_context("watch", [])
    assert ctx.params["stale_after"] == 45.0


# --- argument mistakes: refused before anything is connected to ----------------------------

# Nothing listens on port 1: a command that got past its argument checks would fail with
# "cannot reach", not with the line expected here.
NOWHERE = {"VITALS_BOOTSTRAP_SERVERS": "127.0.0.1:1", "VITALS_CASSANDRA_PORT": "1"}


def vitals(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args), env=NOWHERE)
    return res.exit_code, res.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["produce", "--mode", "csv", "--csv", "/nonexistent.csv"],
            "Error: /nonexistent.csv: cannot open: No such file or directory",
        ),
        (
            ["produce", "--rate", "10", "--interval", "2"],
            "Error: --rate and --interval cannot be used together; pick one.",
        ),
        (["produce", "--mode", "csv"], "Error: --mode csv needs --csv FILE."),
        (["rules", "check", "/nonexistent.yaml"], "Error: /nonexistent.yaml: "),
        (
            ["produce", "--output", "/nonexistent/dir/o.csv", "--duration", "10"],
            "Error: Invalid value for --output: /nonexistent/dir/o.csv: directory "
            "/nonexistent/dir does not exist; create it or give another path",
        ),
        (  # checked before connecting to Kafka, though it is written after sending
            ["produce", "--labels", "/nonexistent/l.json", "--duration", "10"],
            "Error: Invalid value for --labels: /nonexistent/l.json: directory /nonexistent "
            "does not exist; create it or give another path",
        ),
        (  # a directory that exists but takes no file: the write itself fails
            ["produce", "--output", "/proc/o.csv", "--duration", "10"],
            "Error: Invalid value for --output: /proc/o.csv: cannot be written: No such file or "
            "directory",
        ),
    ],
)
def test_mistakes_get_one_clear_line_and_exit_2(args, message):
    code, err = vitals(*args)
    assert code == 2, err
    assert message in err.splitlines()[-1], err
    assert "Traceback" not in err


RULE = "(1–64 printable ASCII characters, single inner spaces, no '/' or '\\', not '.' or '..')"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["query", ""], "'PATIENT': ''"),
        (["query", "a/b"], "'PATIENT': 'a/b'"),
        (["audit", ".."], "'[PATIENT]': '..'"),
        (["audit", "--patient", "a  b"], "'--patient': 'a  b'"),
        (["patient", "show", ""], "'[PATIENT_ID]': ''"),
        (["patient", "set", "", "--ward", "7A"], "'PATIENT_ID': ''"),
    ],
)
def test_a_patient_id_is_held_to_the_one_rule_before_connecting(args, named):
    code, err = vitals(*args)
    assert code == 2, err
    assert err.splitlines()[-1] == f"Error: Invalid value for {named} is not a patient id {RULE}"


def test_the_help_says_consumers_beyond_the_partitions_sit_idle():
    out = CliRunner().invoke(cli, ["--help"]).output
    assert "as many as you like" not in out
    assert "members beyond that many sit idle" in out


@pytest.mark.parametrize(
    "option", ["--auth", "--tls-cert", "--rules", "--compare", "--labels", "--codes", "--csv"]
)
def test_a_missing_input_file_is_one_error_line_naming_it(option):
    command = {
        "--auth": ["serve"],
        "--tls-cert": ["serve", "--tls-key", "/nonexistent/in.pem"],
        "--rules": ["consume"],
        "--compare": ["rules", "replay", "sample_data/vitals_timed.csv"],
        "--labels": ["rules", "replay", "sample_data/vitals_timed.csv"],
        "--codes": ["gateway"],
        "--csv": ["produce", "--mode", "csv"],
    }[option]
    code, err = vitals(*command, option, "/nonexistent/in.file")
    assert code == 2, err
    assert err.splitlines()[-1].startswith("Error: ") and "/nonexistent/in.file" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["empty.csv", "bom.csv"])
def test_csv_file_mistakes_exit_2(tmp_path, name):
    f = tmp_path / name
    f.write_bytes(b"" if name == "empty.csv" else b"\xef\xbb\xbfpatient_id,heart_rate\nP1,80\n")
    code, err = vitals("produce", "--mode", "csv", "--csv", str(f))
    assert code == 2
    expected = "file is empty" if name == "empty.csv" else "spo2: column missing from the header"
    assert err.startswith(f"Error: {f}:1: ") and expected in err
