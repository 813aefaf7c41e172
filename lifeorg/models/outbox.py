"""Outgoing Telegram messages, one row each, so a retry never sends twice."""

from __future__ import annotations

import peewee

from lifeorg.models.base import InstantField, JSONField, StateField, TimestampedModel
from lifeorg.models.states import OUTBOX_TRANSITIONS, OutboxStatus
from lifeorg.models.user import User


class OutboxMessage(TimestampedModel):
    """A message to send: its idempotency key makes a duplicate request a no-op."""

    state_field_name = "status"

    owner = peewee.ForeignKeyField(User, null=True, on_delete="CASCADE", index=True)
    chat_id = peewee.BigIntegerField()
    idempotency_key = peewee.CharField(max_length=255, unique=True)
    method = peewee.CharField(max_length=32)
    payload = JSONField()
    status = StateField(OutboxStatus, OUTBOX_TRANSITIONS, default=OutboxStatus.PENDING)
    attempts = peewee.IntegerField(default=0)
    telegram_message_id = peewee.BigIntegerField(null=True)
    last_error = peewee.TextField(null=True)
    sent_at = InstantField(null=True)
