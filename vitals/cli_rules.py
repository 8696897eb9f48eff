"""``vitals rules``: check a rules file; replay a recording through it, with the alarm-quality
report an alarm-management committee reads before it changes a setting on a ward."""

from __future__ import annotations

import json

import click

from vitals.cli_options import SEVERITY_COLOUR, labels_option, option, paint, plural, rules_option


@click.group()
def rules() -> None:
    """Check alert rule files and measure them on recordings."""


@rules.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def rules_check(file: str) -> None:
    """Validate a rules file and print the effective rules (exit 2 if invalid).

    Example: vitals rules check my-ward.yaml
    """
    from vitals.rules import load_rules
    from vitals.rules.checks import short_grace_warnings

    ruleset = load_rules(file)
    click.echo(ruleset.describe())
    for warning in short_grace_warnings(ruleset):
        click.echo(f"Warning: {warning}", err=True)
    click.echo(f"{file}: OK")


@rules.command("replay")
@click.argument("file", type=click.Path(dir_okay=False))
@rules_option
@labels_option
@option(
    "--compare",
    envvar="VITALS_COMPARE",
    type=click.Path(dir_okay=False),
    help="A second rules file: print both reports side by side (no events).",
)
@option(
    "--format",
    "fmt",
    envvar="VITALS_FORMAT",
    type=click.Choice(["table", "json"]),
    default="table",
    help="table: events then the report; json: one object per event and line, then the report.",
)
@option(
    "--report-only",
    envvar="VITALS_REPORT_ONLY",
    is_flag=True,
    help="Print the report without the events.",
)
def rules_replay(
    file: str,
    rules_file: str | None,
    labels: str | None,
    compare: str | None,
    fmt: str,
    report_only: bool,
) -> None:
    """Replay a recorded CSV through the rules, exactly as the consumer evaluates it.

    Prints the alert events; with --labels, the alarm-quality report: episodes
    alerted and missed, delay from the first reading beyond a limit, non-actionable
    alerts per patient per 8 h by rule, the most raises of one rule in 10 minutes.

    \b
    Examples:
      vitals rules replay sample_data/ward_8h.csv --labels sample_data/ward_8h.labels.json
      vitals rules replay ward.csv --labels ward.json --rules new.yaml --compare old.yaml
    """
    from vitals.alarm_quality import assess, load_labels
    from vitals.replay import event_dict, read_recording, replay
    from vitals.rules import load_default_rules, load_rules

    readings = read_recording(file)
    truth = load_labels(labels) if labels else None
    sets = [load_rules(rules_file) if rules_file else load_default_rules()]
    if compare:
        sets.append(load_rules(compare))
    reports = []
    for ruleset in sets:
        events = replay(readings, ruleset)
        if not compare and not report_only:
            for e in events:
                if fmt == "json":
                    click.echo(json.dumps(event_dict(e)))
                else:
                    colour = SEVERITY_COLOUR.get(e.severity) if e.kind != "cleared" else "green"
                    click.echo(
                        paint(
                            f"{e.timestamp.isoformat()}  {e.patient_id:<10} {e.kind:<9} "
                            f"{e.severity:<6} {e.rule:<22} {e.value:g}",
                            colour,
                        )
                    )
        reports.append(assess(readings, events, truth, ruleset))
    if fmt == "json":
        click.echo(json.dumps({"report": [r.as_dict() for r in reports]}))
        return
    click.echo(f"\n{plural(len(readings), 'reading')} from {file}")
    click.echo(quality_table(reports))


def quality_table(reports: list) -> str:
    """The reports side by side: one column per rules file, one line per figure."""
    from pathlib import Path

    names = [Path(r.rules).name for r in reports]
    if len(set(names)) < len(names):
        names = [r.rules for r in reports]
    rules = list(dict.fromkeys(rule for r in reports for rule in r.rules_by_count()))
    rows = [dict(r.rows(rules)) for r in reports]
    metrics = list(rows[0])
    width = max(len(m) for m in metrics)
    cols = [max(len(n), *(len(v) for v in rs.values())) for n, rs in zip(names, rows, strict=True)]
    lines = [f"{'':<{width}}  " + "  ".join(f"{n:>{w}}" for n, w in zip(names, cols, strict=True))]
    for m in metrics:
        cells = zip((rs[m] for rs in rows), cols, strict=True)
        lines.append(f"{m:<{width}}  " + "  ".join(f"{v:>{w}}" for v, w in cells))
    return "\n".join(lines)
