"""NEWS2, the National Early Warning Score 2 (Royal College of Physicians, 2017).

``score(reading)`` bands seven parameters and adds up their points::

    respiration rate  ≤8 → 3   9–11 → 1   12–20 → 0   21–24 → 2   ≥25 → 3
    SpO2 scale 1      ≤91 → 3  92–93 → 2  94–95 → 1   ≥96 → 0
    SpO2 scale 2      ≤83 → 3  84–85 → 2  86–87 → 1   88–92 → 0   ≥93 on air → 0
                      93–94 on oxygen → 1   95–96 on oxygen → 2   ≥97 on oxygen → 3
    air or oxygen     oxygen → 2   air → 0
    systolic BP       ≤90 → 3  91–100 → 2  101–110 → 1  111–219 → 0  ≥220 → 3
    pulse             ≤40 → 3  41–50 → 1   51–90 → 0    91–110 → 1   111–130 → 2  ≥131 → 3
    consciousness     A → 0    C, V, P, U → 3
    temperature       ≤35.0 → 3  35.1–36.0 → 1  36.1–38.0 → 0  38.1–39.0 → 1  ≥39.1 → 2

Values between two bands
    The chart assumes whole numbers, and temperature to one decimal. A value
    between two bands (a heart rate of 90.5, a temperature of 36.05) goes to
    the band it reaches when rounded half up as written: whole numbers at .5
    (90.5 → 91 → 1 point, 90.49 → 90 → 0 points), temperature at the second
    decimal (36.05 → 36.1 → 0 points, 36.049 → 36.0 → 1 point). The code
    compares against the midpoints between bands (``hr < 90.5``,
    ``t < 36.05``), which is exactly that rule for every float and costs no
    rounding. ``round_half_up`` is the same rule for displaying a value;
    ``vitals.rules`` bands its thresholds the same way.

Clinical response (``News2.alert_severity``)
    aggregate ≥7 → ``"high"`` (emergency response); 5–6 → ``"medium"`` (urgent
    response); any single parameter scoring 3 (a *red score*) with an aggregate
    below 5 → ``"low"`` (urgent ward-based response); otherwise ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vitals.readings import Reading

#: The order of ``News2.parts``.
PARAMETERS = (
    "respiratory_rate",
    "spo2",
    "on_oxygen",
    "systolic",
    "heart_rate",
    "consciousness",
    "temperature",
)

#: What each alert severity asks the ward to do (RCP 2017, chart 4).
RESPONSES = {
    "high": "emergency response",
    "medium": "urgent response",
    "low": "red score, urgent ward-based response",
}


@dataclass(frozen=True, slots=True)
class News2:
    """The score of one reading; instances are shared, never mutate them."""

    total: int
    parts: tuple[int, ...]  # points per parameter, in ``PARAMETERS`` order
    red: bool  # some single parameter scored 3
    alert_severity: str | None  # "high" | "medium" | "low" | None, see module docstring

    @property
    def risk(self) -> str:
        """The chart's clinical risk: ``low``, ``low-medium`` (red score), ``medium``, ``high``."""
        if self.total >= 7:
            return "high"
        if self.total >= 5:
            return "medium"
        return "low-medium" if self.red else "low"

    def as_dict(self) -> dict[str, int]:
        return dict(zip(PARAMETERS, self.parts, strict=True))


def _make(parts: tuple[int, ...]) -> News2:
    total = sum(parts)
    red = 3 in parts
    if total >= 7:
        severity: str | None = "high"
    elif total >= 5:
        severity = "medium"
    elif red:
        severity = "low"
    else:
        severity = None
    return News2(total, parts, red, severity)


# One shared News2 per combination of parts (at most 4*4*2*4*4*2*4 = 4096):
# building a frozen dataclass costs more than scoring the reading.
_CACHE: dict[tuple[int, ...], News2] = {}


def score(r: Reading, *, spo2_scale: int = 1) -> News2:
    """NEWS2 of one reading; ``spo2_scale=2`` for hypercapnic respiratory failure.

    ``r`` must carry every parameter: a partial reading is first completed from the
    freshest values (``vitals.freshness``), or its score is incomplete and not computed.
    Consciousness and oxygen never observed (``None``; the seed's messages never carry
    them) score as alert and on air, as the seed's messages always have.
    Raises ``ValueError`` for a reading that lacks one.
    """
    resp, spo2, systolic, pulse, temp = (
        r.respiratory_rate,
        r.spo2,
        r.systolic,
        r.heart_rate,
        r.temperature,
    )
    if resp is None or spo2 is None or systolic is None or pulse is None or temp is None:
        raise ValueError(f"NEWS2 needs every parameter; {r.patient_id} lacks some")
    # Comparisons are against the midpoints between bands: see "Values between two bands".
    v: float = resp
    if 11.5 <= v < 20.5:
        rr = 0
    elif v < 8.5:
        rr = 3
    elif v < 11.5:
        rr = 1
    elif v < 24.5:
        rr = 2
    else:
        rr = 3

    v = spo2
    oxygen = r.on_oxygen
    if spo2_scale == 1:
        if v >= 95.5:
            sp = 0
        elif v >= 93.5:
            sp = 1
        elif v >= 91.5:
            sp = 2
        else:
            sp = 3
    elif spo2_scale == 2:
        if v >= 92.5:
            if not oxygen:
                sp = 0
            elif v < 94.5:
                sp = 1
            elif v < 96.5:
                sp = 2
            else:
                sp = 3
        elif v >= 87.5:
            sp = 0
        elif v >= 85.5:
            sp = 1
        elif v >= 83.5:
            sp = 2
        else:
            sp = 3
    else:
        raise ValueError(f"spo2_scale must be 1 or 2, got {spo2_scale!r}")

    v = systolic
    if 110.5 <= v < 219.5:
        bp = 0
    elif v < 90.5:
        bp = 3
    elif v < 100.5:
        bp = 2
    elif v < 110.5:
        bp = 1
    else:
        bp = 3

    v = pulse
    if 50.5 <= v < 90.5:
        hr = 0
    elif v < 40.5:
        hr = 3
    elif v < 50.5 or v < 110.5:
        hr = 1
    elif v < 130.5:
        hr = 2
    else:
        hr = 3

    if 36.05 <= temp < 38.05:
        t = 0
    elif temp < 35.05:
        t = 3
    elif temp < 36.05 or temp < 39.05:
        t = 1
    else:
        t = 2

    c = r.consciousness
    parts = (rr, sp, 2 if oxygen else 0, bp, hr, 0 if c == "A" or c is None else 3, t)
    n = _CACHE.get(parts)
    if n is None:
        n = _CACHE[parts] = _make(parts)
    return n


def round_half_up(value: float, decimals: int = 0) -> int | float:
    """``value`` rounded half up as written: ``90.5 → 91``, ``36.05 → 36.1`` (one decimal).

    Whole numbers (``decimals=0``) come back as ``int``. Unlike ``round()``, which
    rounds the binary value half to even (``round(36.05, 1) == 36.0``). Fast (~0.3 µs)
    when the value has no more decimals than asked, as readings usually have.
    """
    if isinstance(value, int):
        return value
    text = repr(value)
    if "e" not in text and len(text) - text.find(".") - 1 <= decimals:
        return value
    if decimals == 0:
        if value.is_integer():
            return int(value)
        return int(Decimal(text).quantize(Decimal(1), ROUND_HALF_UP))
    return float(Decimal(text).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP))
