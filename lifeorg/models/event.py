"""Things that happen at a time: entered by the user or found in email."""

from __future__ import annotations

import peewee

from lifeorg.models.base import InstantField, StateField, TimestampedModel
from lifeorg.models.memory import Memory
from lifeorg.models.states import EVENT_TRANSITIONS, EventSource, EventStatus
from lifeorg.models.user import User


class Event(TimestampedModel):
    """An event: timed (starts_at/ends_at) or all-day (all_day_date)."""

    state_field_name = "status"

    owner = peewee.ForeignKeyField(User, backref="events", on_delete="CASCADE", index=True)
    description = peewee.TextField()
    starts_at = InstantField(null=True, index=True)
    ends_at = InstantField(null=True)
    all_day_date = peewee.DateField(null=True)
    location = peewee.TextField(null=True)
    source_type = peewee.CharField(max_length=16, choices=[(s, s) for s in EventSource])
    # The email's Message-ID (with the ICS UID when a mail holds several events).
    source_ref = peewee.CharField(max_length=998, null=True, index=True)
    # An invite's SEQUENCE: an update with a lower one is older news and changes nothing.
    source_sequence = peewee.IntegerField(default=0)
    memory = peewee.ForeignKeyField(Memory, null=True, on_delete="SET NULL", index=True)
    status = StateField(EventStatus, EVENT_TRANSITIONS, default=EventStatus.CONFIRMED)
    expires_at = InstantField(null=True, index=True)

    class Meta:
        indexes = ((("owner", "status", "starts_at"), False),)
