"""Times people type (``2h``, ``now``, ISO), the ranges they make, and the days they touch.

``time_range`` is the one home of the range cap (``MAX_RANGE``, 31 day partitions) that
``vitals query``, ``vitals audit`` and the API share; ``days_newest_first`` lists the UTC
day partitions a range touches; ``utc`` makes the driver's naive UTC times aware.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import overload

from vitals.errors import ConfigError

#: The longest time range one read covers (``vitals query`` and the API): 31 day partitions.
MAX_RANGE = timedelta(days=31)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


_MAX_DAYS = timedelta.max.days


def parse_duration(text: str) -> timedelta:
    """``30s``, ``10m``, ``2h``, ``1d``, ``1w`` or combinations such as ``1h30m``."""
    s = text.strip().lower()
    parts = _DURATION.findall(s)
    if not s or "".join(n + u for n, u in parts) != s:
        raise ConfigError(
            f"{text!r} is not a duration; write a number and a unit s, m, h, d or w, "
            "such as 30m, 2h, 1d or 1h30m"
        )
    try:
        return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    except OverflowError:
        raise ConfigError(
            f"{text!r} is too long a duration; the longest is {_MAX_DAYS} days"
        ) from None


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """A point in time: ``now``, a duration ago (``2h``) or an ISO time (UTC if no zone)."""
    now = now or datetime.now(UTC)
    s = text.strip()
    if s.lower() == "now":
        return now
    if s and s[0].isdigit() and s[-1].lower() in _UNITS and "-" not in s and ":" not in s:
        ago = parse_duration(s)
        try:
            return now - ago
        except OverflowError:
            raise ConfigError(
                f"{text!r} ago is before year 1; give a shorter duration or an ISO time"
            ) from None
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        raise ConfigError(
            f"{text!r} is neither a duration nor a time; write 2h, 30m, 1d (that long ago), "
            "now, or an ISO time such as 2026-11-25T23:30 or 2026-11-25T23:30:00+01:00 "
            "(UTC when no zone is given)"
        ) from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def time_range(since: str, until: str, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """``--since``/``--until`` as UTC times; ``ConfigError`` if reversed or longer than
    ``MAX_RANGE`` (each day is a partition to read: the CLI and the API share the cap)."""
    now = now or datetime.now(UTC)
    start, end = parse_time(since, now=now), parse_time(until, now=now)
    if start > end:
        raise ConfigError(
            f"--since {since} ({start:%Y-%m-%d %H:%M:%S} UTC) is after --until {until} "
            f"({end:%Y-%m-%d %H:%M:%S} UTC); swap them"
        )
    if end - start > MAX_RANGE:
        raise ConfigError(
            f"--since {since} .. --until {until} spans {(end - start).days:,} days; at most "
            f"{MAX_RANGE.days} days are read at a time (one partition per patient per day): "
            f"give --until too, e.g. --since {start:%Y-%m-%d} --until "
            f"{start + MAX_RANGE:%Y-%m-%d}"
        )
    return start, end


def days_newest_first(start: datetime, end: datetime) -> list[date]:
    """The UTC days (partitions) a range touches, newest first."""
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    return [last - timedelta(days=i) for i in range((last - first).days + 1)]


@overload
def utc(ts: datetime) -> datetime: ...
@overload
def utc(ts: None) -> None: ...
@overload
def utc(ts: datetime | None) -> datetime | None: ...
def utc(ts: datetime | None) -> datetime | None:
    """The driver's naive UTC datetimes made aware; an aware time converted to UTC. The one
    home of this rule (the web's reads and the census import it)."""
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
