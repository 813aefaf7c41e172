"""Things to be told at a time."""

from __future__ import annotations

import peewee

from lifeorg.models.base import InstantField, StateField, TimestampedModel
from lifeorg.models.event import Event
from lifeorg.models.memory import Memory
from lifeorg.models.states import REMINDER_TRANSITIONS, ReminderState
from lifeorg.models.user import User


class Reminder(TimestampedModel):
    """A message to send at ``fire_at``, optionally recurring (RRULE in local time)."""

    state_field_name = "state"

    owner = peewee.ForeignKeyField(User, backref="reminders", on_delete="CASCADE", index=True)
    memory = peewee.ForeignKeyField(Memory, null=True, on_delete="SET NULL", index=True)
    # The event this reminder announces: it goes with the event, and moves with it.
    event = peewee.ForeignKeyField(Event, null=True, on_delete="CASCADE", index=True)
    text = peewee.TextField()
    fire_at = InstantField(index=True)
    recurrence = peewee.TextField(null=True)
    state = StateField(ReminderState, REMINDER_TRANSITIONS, default=ReminderState.SCHEDULED)
    last_fired_at = InstantField(null=True)

    class Meta:
        # The scheduler's claim query: due rows in a firing state, oldest first.
        indexes = ((("state", "fire_at"), False),)


# The due claim's own index: only the reminders still waiting, ordered by when they fire.
# Fired ones (nearly all of them, in time) are not in it, so the claim never walks past them.
Reminder.add_index(
    Reminder.index(Reminder.fire_at, name="reminder_waiting_fire_at").where(
        Reminder.state.in_([ReminderState.SCHEDULED, ReminderState.SNOOZED])
    )
)
