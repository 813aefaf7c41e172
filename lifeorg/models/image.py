"""The images of a memory: one for a photo, several for an album."""

from __future__ import annotations

import peewee

from lifeorg.models.base import BaseModel, InstantField, utcnow
from lifeorg.models.memory import Memory
from lifeorg.models.user import User


class MemoryImage(BaseModel):
    """One stored image: its Telegram file id, and the normalised and model-sized copies."""

    memory = peewee.ForeignKeyField(Memory, backref="images", on_delete="CASCADE")
    owner = peewee.ForeignKeyField(User, on_delete="CASCADE", index=True)
    telegram_file_id = peewee.CharField(max_length=255)
    sha256 = peewee.CharField(max_length=64, index=True)
    path = peewee.CharField(max_length=512)
    model_path = peewee.CharField(max_length=512)
    width = peewee.IntegerField()
    height = peewee.IntegerField()
    created_at = InstantField(default=utcnow)

    class Meta:
        indexes = ((("memory", "telegram_file_id"), True),)
