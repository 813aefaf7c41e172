"""Things to do."""

from __future__ import annotations

import peewee

from lifeorg.models.base import InstantField, StateField, TimestampedModel
from lifeorg.models.memory import Memory
from lifeorg.models.states import TASK_TRANSITIONS, TaskState
from lifeorg.models.user import User


class Task(TimestampedModel):
    """A thing to do, with an optional due instant and RRULE recurrence."""

    state_field_name = "state"

    owner = peewee.ForeignKeyField(User, backref="tasks", on_delete="CASCADE", index=True)
    memory = peewee.ForeignKeyField(Memory, null=True, on_delete="SET NULL", index=True)
    description = peewee.TextField()
    due_at = InstantField(null=True, index=True)
    recurrence = peewee.TextField(null=True)
    state = StateField(TaskState, TASK_TRANSITIONS, default=TaskState.NOT_DONE)
    completed_at = InstantField(null=True)

    class Meta:
        indexes = ((("owner", "state", "due_at"), False),)
