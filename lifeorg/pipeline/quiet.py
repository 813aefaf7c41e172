"""Quiet hours: when a user does not want unprompted messages (reminders, nudges, digests).

Quiet hours are a local start and end ("22:00" to "07:00" wraps midnight). Replies to what
the user just sent are never held: they are awake.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from lifeorg.models import User


def quiet_until(user: User, now: dt.datetime) -> dt.datetime | None:
    """When the user's quiet hours around ``now`` end; None if ``now`` is not quiet."""
    if not user.quiet_start or not user.quiet_end or user.quiet_start == user.quiet_end:
        return None
    zone = ZoneInfo(user.timezone)
    local = now.astimezone(zone)
    start, end = dt.time.fromisoformat(user.quiet_start), dt.time.fromisoformat(user.quiet_end)
    clock = local.time()
    if start < end:
        quiet = start <= clock < end
        end_day = local.date()
    else:  # wraps midnight
        quiet = clock >= start or clock < end
        end_day = local.date() + dt.timedelta(days=1) if clock >= start else local.date()
    if not quiet:
        return None
    # Through UTC and back: an end time skipped by daylight saving moves forward by the gap.
    return dt.datetime.combine(end_day, end, zone).astimezone(dt.UTC).astimezone(zone)
