"""Due reminders: claimed exactly once, and what comes after a reminder fires.

``claim_due`` moves each due reminder out of its waiting state by compare-and-set, in the
same transaction as the job that will send it, so two schedulers running at once still fire
it once (PostgreSQL also skips rows another scheduler has locked). A reminder found more
than ``LATE_AFTER`` past its time (everything was down) is claimed as missed and sent once,
marked late; a recurring one then continues from its next future occurrence, with no burst
of catch-ups.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import peewee
from dateutil.rrule import rrulestr

from lifeorg import ledger
from lifeorg.models import Reminder
from lifeorg.models.base import db, utcnow
from lifeorg.models.states import ReminderState

# Later than this, a reminder is delivered as missed ("late"): a minute's delay is normal.
LATE_AFTER = dt.timedelta(minutes=2)
# Reminders claimed per pass; the next pass takes the rest at once.
CLAIM_BATCH = 200
WAITING = (ReminderState.SCHEDULED, ReminderState.SNOOZED)


def claim_due(now: dt.datetime | None = None, *, batch: int = CLAIM_BATCH) -> list[int]:
    """Claim the reminders due at ``now`` and submit a ``fire_reminder`` job for each."""
    now = now or utcnow()
    claimed = []
    with ledger.unit_of_work(write=True):
        query = (
            Reminder.select(Reminder.id, Reminder.state, Reminder.fire_at, Reminder.owner)
            .where(Reminder.state.in_(WAITING) & (Reminder.fire_at <= now))
            .order_by(Reminder.fire_at)
            .limit(batch)
        )
        if isinstance(db.obj, peewee.PostgresqlDatabase):
            query = query.for_update("FOR UPDATE SKIP LOCKED")
        for row in list(query):
            late = now - row.fire_at > LATE_AFTER
            target = ReminderState.MISSED if late else ReminderState.FIRED
            if row.transition(target, last_fired_at=now):
                ledger.submit(
                    "fire_reminder",
                    f"fire_reminder:{row.id}:{row.fire_at.isoformat()}",
                    {"reminder_id": row.id, "due_at": row.fire_at.isoformat(), "late": late},
                    owner_id=row.owner_id,
                )
                claimed.append(row.id)
    return claimed


def next_due(now: dt.datetime | None = None) -> dt.datetime | None:
    """When the next waiting reminder is due (None when none is waiting)."""
    row = (
        Reminder.select(Reminder.fire_at)
        .where(Reminder.state.in_(WAITING))
        .order_by(Reminder.fire_at)
        .first()
    )
    return row.fire_at if row else None


def next_occurrence(
    rule: str, previous: dt.datetime, tz: str, after: dt.datetime
) -> dt.datetime | None:
    """The first occurrence of ``rule`` strictly after ``after``, expanded in local time.

    ``previous`` anchors the series (its local wall time is kept across daylight saving);
    None when the rule has ended or cannot be read.
    """
    zone = ZoneInfo(tz)
    start = previous.astimezone(zone).replace(tzinfo=None)
    try:
        series = rrulestr(f"RRULE:{rule}", dtstart=start)
        following = series.after(after.astimezone(zone).replace(tzinfo=None), inc=False)
    except (ValueError, TypeError):
        return None
    if following is None:
        return None
    # Through UTC and back: a skipped local time moves forward by the gap, a repeated one
    # takes its first occurrence.
    return following.replace(tzinfo=zone).astimezone(dt.UTC).astimezone(zone)
