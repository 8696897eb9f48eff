"""Generate the README "Configuration" tables from the click commands themselves.

    python tools/gen_options_doc.py           # print the Markdown
    python tools/gen_options_doc.py --write   # replace it in README.md between the markers
    python tools/gen_options_doc.py --check   # exit 1 if README.md differs (tests do this too)

Every command, every option, its ``VITALS_*`` variable, default and help, so the
README cannot drift from ``--help``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START = "<!-- options:start -->"
END = "<!-- options:end -->"


def commands(
    group: click.Group, path: tuple[str, ...] = ("vitals",)
) -> Iterator[tuple[str, click.Command]]:
    """The group itself, then every command below it, depth first, in ``--help`` order."""
    yield " ".join(path), group
    ctx = click.Context(group, info_name=path[-1])
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        if isinstance(cmd, click.Group):
            yield from commands(cmd, (*path, name))
        else:
            yield " ".join((*path, name)), cmd


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


_UNSET = getattr(click.core, "UNSET", None)  # click ≥ 8.2: "no default given"


def _default(p: click.Option, ctx: click.Context) -> str:
    d = p.get_default(ctx, call=False)
    if p.is_flag and not p.count:
        return "on" if d is True else "off"
    if d is None or d is _UNSET or d == "" or callable(d):
        return ""
    return f"`{d}`"


def _envvar(p: click.Option) -> str:
    if not p.envvar:
        return ""
    names = [p.envvar] if isinstance(p.envvar, str) else list(p.envvar)
    return ", ".join(f"`{n}`" for n in names)


def _first_line(cmd: click.Command) -> str:
    return _cell((cmd.help or "").strip().split("\n\n")[0])


def _options(cmd: click.Command) -> list[click.Option]:
    return [
        p
        for p in cmd.params
        if isinstance(p, click.Option) and not p.hidden and p.name not in ("help", "version")
    ]


def _shared() -> list[tuple[str, str, list[click.Option]]]:
    """The connection options many commands share: documented once, referred to by name."""
    from vitals.cli_options import cassandra_options, kafka_options

    def noop(**kw: object) -> None: ...

    return [
        ("Kafka connection", "kafka", _options(click.command()(kafka_options(noop)))),
        ("Cassandra connection", "cassandra", _options(click.command()(cassandra_options(noop)))),
    ]


def _table(options: list[click.Option], ctx: click.Context) -> list[str]:
    out = ["| option | variable | default | meaning |", "|---|---|---|---|"]
    for p in options:
        flags = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
        meaning = _cell(p.help or "")
        if isinstance(p.type, click.Choice):
            meaning += " One of: " + ", ".join(f"`{c}`" for c in p.type.choices) + "."
        out.append(f"| {flags} | {_envvar(p)} | {_default(p, ctx)} | {meaning} |")
    return out


def generate() -> str:
    """The Markdown placed between the README markers."""
    from vitals.cli import cli

    out = [
        "Generated from the commands by `python tools/gen_options_doc.py --write`; "
        "`tests/unit/test_docs.py` fails when this differs from `--help`. "
        "Precedence: flag > environment variable > default.",
    ]
    shared = _shared()
    for name, cmd in commands(cli):
        ctx = click.Context(cmd, info_name=name)
        options = _options(cmd)
        arguments = [p for p in cmd.params if isinstance(p, click.Argument)]
        if not options and not arguments:
            continue
        uses = []
        for title, _anchor, group in shared:
            names = {p.name for p in group}
            if names <= {p.name for p in options}:
                options = [p for p in options if p.name not in names]
                uses.append(title)
        usage = " ".join([name, *(p.human_readable_name for p in arguments)])
        out += ["", f"#### `{usage}`", "", _first_line(cmd), ""]
        if uses:
            out += [f"Also takes the {' and '.join(uses)} options below.", ""]
        out += _table(options, ctx) if options else ["No options of its own."]
    for title, _anchor, group in shared:
        ctx = click.Context(click.Command("shared"))
        out += ["", f"#### {title} options", "", *_table(group, ctx)]
    return "\n".join(out) + "\n"


def current(readme: Path = README) -> str | None:
    """The README's generated section as it is now (None if the markers are missing)."""
    text = readme.read_text()
    if START not in text or END not in text:
        return None
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def write(readme: Path = README) -> bool:
    """Replace the section between the markers; True if the file changed."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: markers {START} / {END} not found; add them first")
    head, rest = text.split(START, 1)
    _old, tail = rest.split(END, 1)
    new = f"{head}{START}\n{generate()}{END}{tail}"
    if new == text:
        return False
    readme.write_text(new)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="update README.md in place")
    mode.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    args = ap.parse_args(argv)
    if args.write:
        print(f"{README}: {'updated' if write() else 'already up to date'}")
        return 0
    if args.check:
        if current() != generate():
            print(
                f"{README}: the Configuration section differs from the CLI; "
                "run `python tools/gen_options_doc.py --write`",
                file=sys.stderr,
            )
            return 1
        return 0
    sys.stdout.write(generate())
    return 0


if __name__ == "__main__":
    sys.exit(main())
