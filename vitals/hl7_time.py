"""HL7 v2 times (DTM) → timezone-aware datetimes, with their precision and zone rules.

HL7 v2.6 2A.3.22 DTM: ``YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]``: every part after the
year is optional, so ``2026`` is a valid time meaning "some time in 2026". An observation
time must say at least the minute (``YYYYMMDDHHMM``): a reading filed at 1 January 00:00
because the device sent ``2026`` would be shown on the board and scored as if it were
measured then. ``parse_time`` reads any DTM; ``Stamp.precise`` says whether it reaches the
minute, and the mapping refuses an imprecise one where it is used as an observation time.

Zones: a time with an offset (``+0100``, ``-0500``; hours ≤ 14, minutes < 60) is that
instant. A time without one is in the sender's zone (HL7 v2.6 2A.3.22: "the time zone of
the sender"): the offset of MSH-7 if MSH-7 has one, else the configured zone
(``vitals gateway --timezone``, default UTC). In a zone with clock changes a local time
without an offset can be ambiguous (the hour repeated when the clocks go back) or not exist
(the hour skipped when they go forward): such a time is refused, never guessed, since a
wrong guess by one hour files a reading over another of the same patient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

import hl7

__all__ = ["MINUTE_DIGITS", "HL7TimeError", "Stamp", "parse_time"]

_DTM = re.compile(  # YYYY[MM[DD[HH[MM[SS[.S…]]]]]] [+/-HHMM]
    r"(\d{4}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,4})?)?)?)?)?)?)(?:([+-])(\d{2})(\d{2}))?"
)
MINUTE_DIGITS = 12  # YYYYMMDDHHMM: the least precision of an observation time


class HL7TimeError(ValueError):
    """``text`` is not a usable HL7 time; ``reason`` says why (the caller names the field)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Stamp:
    """An HL7 time read: ``when`` (timezone-aware), the ``text`` as sent, ``precise``: it
    gives at least the minute."""

    when: datetime
    text: str
    precise: bool


def parse_time(text: str, zone: tzinfo) -> Stamp:
    """The DTM ``text``; without an offset it is read in ``zone`` (see the module doc).

    Raises ``HL7TimeError`` for text that is not a DTM, an offset out of range, or a local
    time that is ambiguous or skipped in ``zone`` at a clock change.
    """
    m = _DTM.fullmatch(text)
    if m is None:
        raise HL7TimeError(f"{text!r} is not an HL7 time (YYYYMMDDHHMM[SS][+ZZZZ])")
    digits, sign, hh, mm = m.groups()
    if sign and (int(hh) > 14 or int(mm) > 59):
        raise HL7TimeError(
            f"{text!r}: offset {sign}{hh}{mm} is not a UTC offset (+/-HHMM, hours 00–14)"
        )
    try:
        t = hl7.parse_datetime(text)
    except (ValueError, OverflowError):
        raise HL7TimeError(f"{text!r} is not a date and time") from None
    if t.tzinfo is None:
        t = _local(t, zone, text)
    return Stamp(t, text, len(digits.partition(".")[0]) >= MINUTE_DIGITS)


def _local(t: datetime, zone: tzinfo, text: str) -> datetime:
    first, second = t.replace(tzinfo=zone, fold=0), t.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():  # repeated or skipped at a clock change
        raise HL7TimeError(
            f"{text!r} has no UTC offset and is ambiguous or does not exist in {zone} "
            "(a clock change); the sender must send times with their offset (+ZZZZ)"
        )
    return first
