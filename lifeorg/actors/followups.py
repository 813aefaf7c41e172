"""``digest`` and ``nudge``: the messages nobody asked for, sent outside quiet hours."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from lifeorg import runtime
from lifeorg.actors.step import step
from lifeorg.backups import make_backup
from lifeorg.models import Event, Job, Reminder, Task, User
from lifeorg.models.base import utcnow
from lifeorg.models.states import EventStatus, ReminderState, TaskState
from lifeorg.pipeline import replies
from lifeorg.pipeline.formatting import escape, when_text
from lifeorg.pipeline.outbox import say

# A digest lists this many of each kind; the commands list the rest.
DIGEST_ITEMS = 10


@step("digest", time_limit_s=30)
def digest(job: Job) -> dict[str, Any]:
    """Today's reminders and events, and the overdue tasks; nothing is sent for an empty day."""
    user = User.get_or_none(User.id == job.payload["user_id"])
    if user is None or not user.active:
        return {"skipped": "no such active user"}
    zone = ZoneInfo(user.timezone)
    day = dt.date.fromisoformat(job.payload["day"])
    start = dt.datetime.combine(day, dt.time(0), zone)
    end = start + dt.timedelta(days=1)
    reminders = list(
        Reminder.select()
        .where(
            (Reminder.owner == user)
            & Reminder.state.in_([ReminderState.SCHEDULED, ReminderState.SNOOZED])
            & (Reminder.fire_at >= start)
            & (Reminder.fire_at < end)
        )
        .order_by(Reminder.fire_at)
        .limit(DIGEST_ITEMS)
    )
    events = list(
        Event.select()
        .where(
            (Event.owner == user)
            & (Event.status == EventStatus.CONFIRMED)
            & (((Event.starts_at >= start) & (Event.starts_at < end)) | (Event.all_day_date == day))
        )
        .order_by(Event.starts_at)
        .limit(DIGEST_ITEMS)
    )
    overdue = list(
        Task.select()
        .where((Task.owner == user) & (Task.state == TaskState.NOT_DONE) & (Task.due_at < utcnow()))
        .order_by(Task.due_at)
        .limit(DIGEST_ITEMS)
    )
    if not (reminders or events or overdue):
        return {"skipped": "nothing today"}
    lines = [f"☀️ <b>Your {day:%A}</b>"]
    if events:
        lines.append("\n📅 Events")
        lines += [
            f"• {_at(e.starts_at, user) if e.starts_at else 'all day'} {escape(e.description)}"
            for e in events
        ]
    if reminders:
        lines.append("\n⏰ Reminders")
        lines += [f"• {_at(r.fire_at, user)} {escape(r.text)}" for r in reminders]
    if overdue:
        lines.append("\n⚠️ Overdue")
        lines += [
            f"• {escape(t.description)} (due {when_text(t.due_at, user.timezone)})" for t in overdue
        ]
    say(user, "\n".join(lines), key=f"digest:{user.id}:{day}", unprompted=True)
    return {"events": len(events), "reminders": len(reminders), "overdue": len(overdue)}


def _at(moment: dt.datetime, user: User) -> str:
    return f"{moment.astimezone(ZoneInfo(user.timezone)):%H:%M}"


@step("nudge", time_limit_s=30)
def nudge(job: Job) -> dict[str, Any]:
    """Tell the user a task fell overdue, unless it was done or moved meanwhile."""
    task = Task.get_or_none(Task.id == job.payload["task_id"])
    if task is None or task.state != TaskState.NOT_DONE or task.due_at is None:
        return {"skipped": "done or gone"}
    if task.due_at.isoformat() != job.payload["due_at"]:
        return {"skipped": "due date moved"}
    user = task.owner
    text, buttons = replies.task(task, user)
    say(
        user,
        f"⚠️ Overdue\n{text}",
        buttons,
        key=f"nudge:{task.id}:{job.payload['due_at']}",
        unprompted=True,
    )
    return {"nudged": task.id}


def write_backup(job: Job) -> dict[str, Any]:
    """Write the backup (long file work: outside the step's transaction)."""
    made = make_backup(runtime.current().settings)
    return {"location": made.location, "size_bytes": made.size_bytes}


@step("backup", time_limit_s=900, prepare=write_backup)
def backup(job: Job, made: dict[str, Any]) -> dict[str, Any]:
    """Tonight's backup of the database (recorded in the backup table, old ones rotated)."""
    return made
