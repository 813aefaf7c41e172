"""A person on the allowlist, with their settings."""

from __future__ import annotations

import peewee

from lifeorg.models.base import InstantField, JSONField, TimestampedModel


class User(TimestampedModel):
    """A Telegram user of this instance; every other row belongs to one."""

    telegram_user_id = peewee.BigIntegerField(unique=True)
    chat_id = peewee.BigIntegerField(null=True)
    display_name = peewee.CharField(max_length=255, default="")
    language_code = peewee.CharField(max_length=16, null=True)
    # IANA zone name; local time exists only at the edges (parsing and showing).
    timezone = peewee.CharField(max_length=64)
    # "HH:MM": used when a date has no time, and for the daily digest.
    default_time = peewee.CharField(max_length=5)
    # Quiet hours "HH:MM" to "HH:MM" in local time, may wrap midnight; both null = none.
    quiet_start = peewee.CharField(max_length=5, null=True)
    quiet_end = peewee.CharField(max_length=5, null=True)
    # False once the user blocked the bot (Telegram answered 403).
    active = peewee.BooleanField(default=True, index=True)
    # Set once the user has chosen a time zone during /start.
    onboarded_at = InstantField(null=True)
    # A question the bot asked and the user's next message answers, e.g.
    # {"kind": "reminder_time", "id": 5}; null when nothing is pending.
    awaiting = JSONField(null=True)

    class Meta:
        table_name = "users"  # "user" is reserved in PostgreSQL
