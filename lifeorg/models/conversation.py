"""What the conversation must remember: used buttons, and strangers already turned away."""

from __future__ import annotations

import peewee

from lifeorg.models.base import BaseModel, InstantField, utcnow
from lifeorg.models.user import User


class ButtonPress(BaseModel):
    """A button token that has been used: each button works once."""

    token_hash = peewee.CharField(max_length=64, primary_key=True)
    owner = peewee.ForeignKeyField(User, on_delete="CASCADE", index=True)
    pressed_at = InstantField(default=utcnow)


class RefusedUser(BaseModel):
    """A Telegram user not on the allowlist who has had their one polite refusal."""

    telegram_user_id = peewee.BigIntegerField(primary_key=True)
    refused_at = InstantField(default=utcnow)
