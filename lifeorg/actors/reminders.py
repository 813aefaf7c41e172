"""``fire_reminder``: send a claimed reminder, then schedule its next occurrence."""

from __future__ import annotations

import datetime as dt
from typing import Any

from lifeorg import metrics
from lifeorg.actors.step import step
from lifeorg.models import Job, Reminder
from lifeorg.models.audit import record
from lifeorg.models.base import utcnow
from lifeorg.models.states import AuditAction, AuditActor, ReminderState
from lifeorg.pipeline import replies
from lifeorg.pipeline.outbox import say
from lifeorg.scheduler.reminders import next_occurrence


@step("fire_reminder", time_limit_s=30)
def fire_reminder(job: Job) -> dict[str, Any]:
    """Send the reminder once (marked late if it was missed) and continue its series."""
    item = Reminder.get_or_none(Reminder.id == job.payload["reminder_id"])
    if item is None:
        return {"skipped": "deleted"}
    user = item.owner
    due_at = dt.datetime.fromisoformat(job.payload["due_at"])
    late = bool(job.payload.get("late"))
    text, buttons = replies.fired(item, user, late=late, due_at=due_at)
    say(user, text, buttons, key=f"fired:{item.id}:{job.payload['due_at']}", unprompted=True)
    record(
        item, AuditAction.FIRED, AuditActor.SYSTEM, {"due_at": job.payload["due_at"], "late": late}
    )
    following = None
    metrics.observe_reminder_lateness((utcnow() - due_at).total_seconds())
    if item.recurrence:
        following = next_occurrence(item.recurrence, due_at, user.timezone, after=utcnow())
    if following is not None:
        item.transition(ReminderState.SCHEDULED, fire_at=following)
    elif item.state == ReminderState.MISSED:
        item.transition(ReminderState.FIRED)  # delivered, late
    return {"next": following.isoformat() if following else None, "late": late}
