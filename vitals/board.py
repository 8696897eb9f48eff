"""The ``vitals watch`` board as text: a pure function of the data, easy to test.

One row per patient of the census (who is monitored now: ``vitals.census``), sickest first,
as many as fit the terminal and a last line ``… N more · M alerting`` for the rest: newest value of each vital and its age,
NEWS2, a sparkline of heart rate and SpO2 over the trend window (ending at the
patient's newest reading), and the active alerts; an acknowledged alert says by
whom (``(ack alice)``, dimmed) and ranks below unacknowledged ones. Once any patient is in
the register (``vitals patient set``), a PLACE column says where each one lies. Colour is a
parameter; the CLI turns it on only on a terminal without ``NO_COLOR``. Every alert
also carries its severity as a word, so nothing depends on colour alone. Columns
are as wide as their widest cell, so a long age (``12m STALE``, ``123d STALE``)
never shifts the columns after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import click

from vitals import freshness
from vitals.freshness import DEFAULT_WINDOWS
from vitals.queries import SEVERITY_RANK, PatientView, sickest_first

BARS = "▁▂▃▄▅▆▇█"
SEVERITY_COLOUR = {"high": "red", "medium": "yellow", "low": "cyan"}
SEVERITY_LABEL = {"high": "HIGH", "medium": "MED", "low": "LOW"}
#: Fixed scales, so rows compare at a glance: bottom bar = at or below lo, top = at or above hi.
HR_SCALE = (40, 160)
SPO2_SCALE = (85, 100)
TREND_WIDTH = 16
PLACE_WIDTH = 28  # the register's "Ward 7 · Bed 7 · J. Smith", cut with … beyond

# ANSI for a full-screen refresh over a plain terminal (no curses needed).
ALT_SCREEN_ON = "\x1b[?1049h"
ALT_SCREEN_OFF = "\x1b[?1049l"
HIDE_CURSOR = "\x1b[?25l"
SHOW_CURSOR = "\x1b[?25h"
HOME = "\x1b[H"
CLEAR_SCREEN = "\x1b[2J"
CLEAR_LINE_END = "\x1b[K"
CLEAR_BELOW = "\x1b[J"


def sparkline(
    series: Sequence[tuple[datetime, float]],
    start: datetime,
    end: datetime,
    *,
    width: int = TREND_WIDTH,
    scale: tuple[float, float],
) -> str:
    """``width`` bars over [start, end]; each bar is the mean of its time slice, blank if none."""
    if width <= 0:
        return ""
    span = (end - start).total_seconds()
    sums = [0.0] * width
    counts = [0] * width
    for ts, value in series:
        if ts < start or ts > end:
            continue
        i = (
            width - 1
            if span <= 0
            else min(width - 1, int((ts - start).total_seconds() / span * width))
        )
        sums[i] += value
        counts[i] += 1
    lo, hi = scale
    out = []
    for s, n in zip(sums, counts, strict=True):
        if not n:
            out.append(" ")
            continue
        frac = (min(max(s / n, lo), hi) - lo) / (hi - lo)
        out.append(BARS[round(frac * (len(BARS) - 1))])
    return "".join(out)


def age_text(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _style(
    text: str, colour: str | None, on: bool, *, bold: bool = False, dim: bool = False
) -> str:
    if not on or not colour:
        return text
    return click.style(text, fg=colour, bold=bold or None, dim=dim or None)


def _age(p: PatientView, now: datetime, stale_after: float) -> tuple[str, bool]:
    """The age cell (``12m STALE``) and whether the patient is stale."""
    if p.timestamp is None:
        return "-", True
    if freshness.ahead(p.timestamp, now=now):  # a device clock ahead: never shown as fresh
        return age_text(-freshness.age(p.timestamp, now=now)) + " AHEAD", True
    stale = freshness.stale(p.timestamp, now=now, after=stale_after)
    return age_text(freshness.age(p.timestamp, now=now)) + (" STALE" if stale else ""), stale


def _older_than_window(p: PatientView, now: datetime) -> dict[str, str]:
    """``{vital: '?'}`` for the vitals not current at ``now``: measured longer ago than their
    NEWS2 freshness window, or dated ahead of ``now`` (``vitals.freshness.stale``, the
    definition the API's ``measured.<parameter>.stale`` uses)."""
    out = {}
    for vital, at in p.measured_at.items():
        window = DEFAULT_WINDOWS["blood_pressure" if vital == "systolic" else vital]
        if freshness.stale(at, now=now, after=window):
            out[vital] = "?"
    return out


def _num(v: object, fmt: str = "{}") -> str:
    return "-" if v is None else fmt.format(v)


def render(
    patients: Sequence[PatientView],
    *,
    now: datetime,
    minutes: float = 10.0,
    colour: bool = False,
    width: int = 200,
    height: int | None = None,
    stale_after: float = 60.0,
    title: str = "vitals watch",
    notice: str | None = None,
    empty: str | None = None,
) -> list[str]:
    """The board's lines, sickest first; at most ``height`` lines, none wider than ``width``.

    ``empty``: the line shown when there is no patient (default: no readings yet)."""
    rows = sickest_first(patients)
    alerting = sum(1 for p in rows if p.alerts)
    acked = sum(1 for p in rows if p.alerts and not p.worst_unacknowledged)
    head = (
        f"{title} · {len(rows)} patient{'s' if len(rows) != 1 else ''} · {alerting} alerting"
        f"{f' ({acked} acknowledged)' if acked else ''} · "
        f"{now:%Y-%m-%d %H:%M:%S} UTC · trend {minutes:g} min · Ctrl+C quits"
    )
    lines = [head[:width]]
    if notice:
        lines.append(_style(notice[:width], "yellow", colour, bold=True))
    if not rows:
        empty = empty or "no readings yet (is `vitals consume` running, and `vitals produce`?)"
        lines.append(empty[:width])
        return lines

    pid_w = min(20, max(7, *(len(p.patient_id) for p in rows)))
    place_w = max((min(PLACE_WIDTH, len(p.place)) for p in rows), default=0)
    if place_w:  # shown once any patient is in the register
        pid_w += 1 + max(place_w, len("PLACE"))
    age_w = max(9, *(len(_age(p, now, stale_after)[0]) for p in rows))
    trend_hr = f"HR {minutes:g}m"
    head_pid = "PATIENT" if not place_w else f"{'PATIENT':<{pid_w - place_w - 1}} PLACE"
    columns = (
        f"{head_pid:<{pid_w}} {'NEWS2':>5} {'HR':>4} {'SpO2':>4}  {'BP':>7} {'RR':>3} "
        f"{'TEMP':>5} {'AGE':<{age_w}} {trend_hr:<{TREND_WIDTH}} {'SpO2 trend':<{TREND_WIDTH}} "
        "ALERTS"
    )
    lines.append(columns[:width])
    window = timedelta(minutes=minutes)
    shown, rest = fit(rows, None if height is None else height - len(lines))
    for p in shown:
        widths = (pid_w, place_w, age_w)
        lines.append(_row(p, now, window, widths, colour, width, stale_after))
    if rest:
        lines.append(rest[:width])
    return lines


def fit(rows: Sequence[PatientView], room: int | None) -> tuple[list[PatientView], str]:
    """The first of ``rows`` (sickest first) that fit ``room`` lines, and the line that
    stands for the others: ``… 7 more · 2 alerting`` (``alerting``: of those not shown, the
    patients with an active alert), or "" when all fit (``room`` None: no limit). At least one
    patient is shown, so a terminal of a few lines still shows the sickest."""
    if room is None or len(rows) <= room:
        return list(rows), ""
    shown = list(rows[: max(1, room - 1)])
    hidden = rows[len(shown) :]
    alerting = sum(1 for p in hidden if p.alerts)
    return shown, f"… {len(hidden)} more · {alerting} alerting"


def _row(
    p: PatientView,
    now: datetime,
    window: timedelta,
    widths: tuple[int, int, int],
    colour: bool,
    width: int,
    stale_after: float,
) -> str:
    pid_w, place_w, age_w = widths
    worst = max(p.alerts, key=lambda a: SEVERITY_RANK.get(a.severity, 0), default=None)
    worst_colour = SEVERITY_COLOUR.get(worst.severity) if worst else None
    if place_w:
        id_w = pid_w - max(place_w, len("PLACE")) - 1
        place = p.place if len(p.place) <= place_w else p.place[: place_w - 1] + "…"
        pid = f"{p.patient_id[:id_w]:<{id_w}} {place or '-'}"
    else:
        pid = p.patient_id[:pid_w]
    o2 = "+" if p.on_oxygen else " "
    old = _older_than_window(p, now)  # shown with '?': not current
    bp = "-" if p.systolic is None else f"{p.systolic}/{_num(p.diastolic)}"
    bp += "?" if "systolic" in old else ""
    age, stale = _age(p, now, stale_after)
    end = p.timestamp or now
    hr_line = sparkline(p.hr_series, end - window, end, scale=HR_SCALE)
    spo2_line = sparkline(p.spo2_series, end - window, end, scale=SPO2_SCALE)
    news2 = "inc" if p.news2_incomplete else _num(p.news2)  # some parameter not fresh
    news2_colour = None
    if p.news2 is not None and p.news2 >= 7:
        news2_colour = "red"
    elif p.news2 is not None and p.news2 >= 5:
        news2_colour = "yellow"

    plain_cells = [
        f"{pid:<{pid_w}}",
        f"{news2:>5}",
        f"{_num(p.heart_rate) + old.get('heart_rate', ''):>4}",
        f"{_num(p.spo2) + old.get('spo2', ''):>4}{o2}",
        f"{bp:>7}",
        f"{_num(p.respiratory_rate) + old.get('respiratory_rate', ''):>3}",
        f"{_num(p.temperature, '{:.1f}') + old.get('temperature', ''):>5}",
        f"{age:<{age_w}}",
        f"{hr_line:<{TREND_WIDTH}}",
        f"{spo2_line:<{TREND_WIDTH}}",
    ]
    used = len(" ".join(plain_cells)) + 1
    if used > width:
        return " ".join(plain_cells)[:width]
    styled = list(plain_cells)
    styled[0] = _style(plain_cells[0], worst_colour, colour, bold=True)
    styled[1] = _style(plain_cells[1], news2_colour, colour, bold=True)
    if stale:
        styled[7] = _style(plain_cells[7], "magenta", colour)
    room = width - used
    alerts = []
    ordered = sorted(p.alerts, key=lambda a: a.acked_by is not None)  # unacknowledged first
    for a in ordered:
        text = f"{SEVERITY_LABEL.get(a.severity, a.severity.upper())} {a.message}"
        if a.acked_by is not None:
            text += f" (ack {a.acked_by})"
        if room <= 0:
            break
        piece = text if len(text) <= room else text[: max(0, room - 1)] + "…"
        room -= len(piece) + 3
        acked = a.acked_by is not None
        alerts.append(
            _style(
                piece,
                SEVERITY_COLOUR.get(a.severity),
                colour,
                bold=a.severity == "high" and not acked,
                dim=acked,
            )
        )
    return (" ".join(styled) + " " + " · ".join(alerts)).rstrip()


def frame(lines: Sequence[str], *, first: bool) -> str:
    """One screen update: home, each line cleared to its end, the rest below cleared."""
    start = CLEAR_SCREEN + HOME if first else HOME
    return start + "\n".join(f"{ln}{CLEAR_LINE_END}" for ln in lines) + CLEAR_BELOW
