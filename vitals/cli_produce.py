"""``vitals produce``: play bedside monitors (random) or replay a CSV into Kafka."""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import click

from vitals.cli_options import (
    RateLine,
    UserError,
    check_writable,
    install_signals,
    kafka_options,
    labels_option,
    option,
    quiet_option,
    topic_option,
    writing,
)
from vitals.config import KafkaSettings


@click.command()
@option(
    "--mode",
    envvar="VITALS_MODE",
    type=click.Choice(["random", "csv"]),
    default="random",
    help="Simulated patients, or replay of a CSV file.",
)
@option(
    "--patients",
    envvar="VITALS_PATIENTS",
    help="Comma-separated patient ids, e.g. P001,P002 (random mode).",
)
@option(
    "--patient-count",
    envvar="VITALS_PATIENT_COUNT",
    type=click.IntRange(1, 1_000_000),
    help="Simulate N patients P001..PN instead of --patients (default 4).",
)
@option(
    "--interval",
    envvar="VITALS_INTERVAL",
    type=click.FloatRange(0, 3600),
    default=1.0,
    help="Seconds between two readings of one patient (CSV without timestamps: between rows).",
)
@option(
    "--rate",
    envvar="VITALS_RATE",
    type=click.FloatRange(0.001, 10_000_000),
    help="Total readings per second across all patients (load testing); replaces --interval.",
)
@option(
    "--count",
    envvar="VITALS_COUNT",
    type=click.IntRange(0),
    help="Stop after this many readings in total.",
)
@option(
    "--duration",
    envvar="VITALS_DURATION",
    type=click.FloatRange(0),
    help="Stop after this many seconds.",
)
@option("--seed", envvar="VITALS_SEED", type=int, help="Make a random run reproducible.")
@option(
    "--csv",
    "csv_file",
    envvar="VITALS_CSV",
    type=click.Path(dir_okay=False),
    help="CSV to replay (--mode csv): patient_id,heart_rate,spo2,systolic,diastolic,respiratory_rate,temperature[,timestamp,consciousness,on_oxygen].",
)
@option(
    "--speed",
    envvar="VITALS_SPEED",
    type=click.FloatRange(0.001),
    default=1.0,
    help="CSV with timestamps: replay this many times faster than recorded.",
)
@option("--loop", envvar="VITALS_LOOP", is_flag=True, help="Repeat the CSV forever.")
@option(
    "--skip-bad-rows",
    envvar="VITALS_SKIP_BAD_ROWS",
    is_flag=True,
    help="Report and skip invalid CSV rows instead of refusing the file.",
)
@option(
    "--output",
    envvar="VITALS_OUTPUT",
    type=click.Path(dir_okay=False, writable=True),
    help="Random mode: write the readings to this CSV file instead of sending them (no Kafka); needs --duration.",
)
@labels_option
@option(
    "--start",
    envvar="VITALS_START",
    help="Random mode with --output: time of the first reading, ISO 8601 (default: --duration before now).",
)
@option(
    "--simulation",
    envvar="VITALS_SIMULATION",
    type=click.Choice(["ward", "load"]),
    help="Random mode. ward: labelled deteriorations developing over minutes and monitor artifacts (default); load: the load-test walk, an episode every few minutes per patient at 1 Hz, no artifacts or labels (default with --rate).",
)
@option(
    "--profile",
    envvar="VITALS_PROFILE",
    type=click.Choice(["all-six", "monitor", "pulse-oximeter"]),
    default="all-six",
    help="Random mode: what each simulated device sends. all-six: every vital every reading; monitor: HR, SpO2 and RR every reading, blood pressure every 15 min (cuff cycle) and temperature every 4 h of reading time; pulse-oximeter: heart rate and SpO2 only (NEWS2 incomplete).",
)
@option(
    "--episodes-per-hour",
    envvar="VITALS_EPISODES_PER_HOUR",
    type=click.FloatRange(0, 60),
    default=0.125,
    help="Random mode, ward simulation: mean deteriorations per patient per hour (0.125: one per 8 h; a demo may want 2).",
)
@option(
    "--artifacts/--no-artifacts",
    envvar="VITALS_ARTIFACTS",
    default=True,
    help="Random mode: monitor artifacts (probe-motion SpO2 dips, double-counted heart rate, lead-off gaps).",
)
@topic_option
@quiet_option
@kafka_options
@click.pass_context
def produce(
    ctx: click.Context,
    mode: str,
    patients: str | None,
    patient_count: int | None,
    interval: float,
    rate: float | None,
    count: int | None,
    duration: float | None,
    seed: int | None,
    csv_file: str | None,
    speed: float,
    loop: bool,
    skip_bad_rows: bool,
    output: str | None,
    labels: str | None,
    start: str | None,
    simulation: str | None,
    profile: str,
    episodes_per_hour: float,
    artifacts: bool,
    topic: str,
    quiet: bool,
    kafka: KafkaSettings,
) -> None:
    """Send vital-sign readings to Kafka, keyed by patient_id.

    \b
    Examples:
      vitals produce --patients P001,P002,P003 --interval 2
      vitals produce --patient-count 1000 --rate 5000 --count 100000 --quiet
      vitals produce --mode csv --csv sample_data/vitals.csv --speed 10
      vitals produce --patients OX1,OX2 --profile pulse-oximeter
      vitals produce --patient-count 20 --interval 5 --duration 28800 --seed 1 \\
          --output ward.csv --labels ward.json
    """
    from vitals.producer import VitalsProducer, stream_csv, stream_random
    from vitals.simulation import (
        DeviceProfile,
        LabelledWard,
        Profiled,
        simulate,
        write_csv,
        write_labels,
    )
    from vitals.sources import Ward, patient_ids, plan_csv

    src = ctx.get_parameter_source
    if rate is not None and src("interval") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--rate and --interval cannot be used together; pick one.")
    if patients and patient_count:
        raise click.UsageError("--patients and --patient-count cannot be used together.")
    if mode == "csv" and not csv_file:
        raise click.UsageError("--mode csv needs --csv FILE.")
    if mode == "random" and csv_file:
        raise click.UsageError("--csv is only used with --mode csv.")
    for name, value in (("--output", output), ("--labels", labels), ("--start", start)):
        if mode == "csv" and value:
            raise click.UsageError(f"{name} is only used with --mode random.")
    if output and not duration:
        raise click.UsageError("--output needs --duration (seconds of ward to write).")
    if output and rate is not None:
        raise click.UsageError("--output and --rate cannot be used together; use --interval.")
    if start and not output:
        raise click.UsageError("--start is only used with --output (sending starts now).")
    if mode == "csv" and src("profile") is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--profile is only used with --mode random.")
    device = DeviceProfile(profile)
    simulation = simulation or ("load" if rate is not None else "ward")
    if simulation == "load" and (output or labels):
        raise click.UsageError("--output and --labels need --simulation ward.")
    check_writable(output, "--output")
    check_writable(labels, "--labels")  # before sending: it is written at the end
    if output:
        first = parse_start(start) if start else datetime.now(UTC) - timedelta(seconds=duration)
        ward = LabelledWard(
            patient_ids(patients, patient_count),
            start=first.replace(microsecond=0),
            hours=duration / 3600,
            seed=seed,
            artifacts=artifacts,
            episodes_per_hour=episodes_per_hour,
        )
        readings = simulate(ward, interval=interval or 1.0, count=count)
        with writing(output, "--output"):
            rows = write_csv([device.apply(r) for r in readings], output)
        if labels:
            with writing(labels, "--labels"):
                write_labels(ward, labels)
        what = f" and labels to {labels}" if labels else ""
        click.echo(f"wrote {rows:,} readings to {output}{what}", err=True)
        return

    ids = patient_ids(patients, patient_count)  # a bad --patients fails before connecting
    plan = None
    if mode == "csv":
        plan = plan_csv(csv_file, skip_bad_rows=skip_bad_rows)  # fails before anything is sent
        for err in plan.skipped:
            click.echo(f"skipped {err}", err=True)
    stop = threading.Event()
    install_signals(stop.set)
    line = RateLine()
    bar = None
    if plan is not None and quiet and sys.stderr.isatty() and not loop:
        bar = click.progressbar(length=len(plan.rows), label="replaying", file=sys.stderr)
        bar.__enter__()

    t0 = time.monotonic()
    with VitalsProducer(kafka=kafka, topic=topic) as producer:
        stats = producer.stats

        def on_sent(reading: object) -> None:
            if not quiet:
                click.echo(f"SENT {reading.to_json().decode()}")  # type: ignore[attr-defined]
            elif bar is not None:
                bar.update(1)
            elif line.due():
                r = line.rate(stats.sent)
                click.echo(
                    f"sent {stats.sent} ({r:,.0f}/s), acked {stats.acked}, failed {stats.failed}",
                    err=True,
                )

        if plan is None:
            if simulation == "load":
                ward: Ward | LabelledWard = Ward(ids, seed=seed)
            else:
                ward = LabelledWard(
                    ids,
                    start=datetime.now(UTC),
                    hours=(duration or 24 * 3600) / 3600,  # episodes planned over the run
                    seed=seed,
                    artifacts=artifacts,
                    episodes_per_hour=episodes_per_hour,
                )
            stream_random(
                producer,
                Profiled(ward, device),  # type: ignore[arg-type]
                stop=stop,
                interval=interval,
                rate=rate,
                count=count,
                duration=duration,
                on_sent=on_sent,
            )
            if labels and isinstance(ward, LabelledWard):
                with writing(labels, "--labels"):
                    write_labels(ward, labels)
        else:
            stream_csv(
                producer,
                plan,
                stop=stop,
                interval=interval,
                speed=speed,
                loop=loop,
                count=count,
                duration=duration,
                on_sent=on_sent,
            )
    if bar is not None:
        bar.__exit__(None, None, None)
    elapsed = time.monotonic() - t0
    click.echo(
        f"sent {stats.sent} reading{'' if stats.sent == 1 else 's'} to {topic}: "
        f"{stats.acked} acknowledged, "
        f"{stats.failed} failed ({stats.sent / max(elapsed, 1e-9):,.0f}/s)",
        err=True,
    )
    if stats.failed or stats.acked < stats.sent:
        raise UserError(
            f"{stats.sent - stats.acked} readings were not acknowledged by Kafka "
            f"(first error: {stats.first_error}); they were NOT delivered"
        )


def parse_start(text: str) -> datetime:
    """``--start`` as a UTC time, or a usage error saying which form is accepted."""
    from vitals.errors import InvalidReading
    from vitals.readings import parse_timestamp

    try:
        return parse_timestamp(text, "--start")
    except InvalidReading as e:
        raise click.BadParameter(e.reason, param_hint="--start") from None
