"""Local wall-clock times to aware datetimes, with the two daylight-saving rules.

A wall-clock time that does not exist (the spring-forward gap, 02:30 in Europe/Berlin on
the last Sunday of March) moves forward by the length of the gap, so 02:30 becomes 03:30:
the reminder fires as soon after the time the user asked for as the clock allows. A time
that happens twice (the fall-back hour) means its first occurrence (``fold=0``), so the
reminder never fires an hour late.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def resolve_zone(tz: str | dt.tzinfo) -> dt.tzinfo:
    """A tzinfo for an IANA name or an existing tzinfo; raises ValueError if unknown."""
    if isinstance(tz, dt.tzinfo):
        return tz
    try:
        return ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(
            f"unknown time zone {tz!r}; use an IANA name such as Europe/Berlin"
        ) from exc


def localize(wall: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """Attach ``zone`` to a naive wall-clock time: gaps shift forward, repeats take the first."""
    first = wall.replace(tzinfo=zone, fold=0)
    # fold=0 in a gap carries the offset from before the jump; the round trip through UTC
    # lands on the wall time the same instant shows after the jump, i.e. shifted forward.
    return first.astimezone(dt.UTC).astimezone(zone)


def wall_clock(moment: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """``moment`` as a naive wall-clock time in ``zone``."""
    return moment.astimezone(zone).replace(tzinfo=None)
