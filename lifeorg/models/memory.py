"""What the user sent, as filed: memories and their tags."""

from __future__ import annotations

import peewee

from lifeorg.models.base import BaseModel, InstantField, JSONField, StateField, TimestampedModel
from lifeorg.models.states import (
    MEMORY_TRANSITIONS,
    TAG_TRANSITIONS,
    MediaType,
    MemoryStatus,
    TagStatus,
)
from lifeorg.models.user import User


class Memory(TimestampedModel):
    """One thing the user sent (text, photo, album, forward); never dropped."""

    state_field_name = "status"

    owner = peewee.ForeignKeyField(User, backref="memories", on_delete="CASCADE", index=True)
    content = peewee.TextField(default="")
    media_type = peewee.CharField(max_length=16, null=True, choices=[(m, m) for m in MediaType])
    telegram_file_id = peewee.CharField(max_length=255, null=True)
    media_path = peewee.CharField(max_length=512, null=True)
    status = StateField(MemoryStatus, MEMORY_TRANSITIONS, default=MemoryStatus.CONFIRMED)
    pending_expires_at = InstantField(null=True, index=True)
    pinned = peewee.BooleanField(default=False)
    source_chat_id = peewee.BigIntegerField(null=True)
    source_message_id = peewee.BigIntegerField(null=True)
    # Who or what a forwarded message came from, as Telegram described it.
    forward_origin = JSONField(null=True)
    # Telegram's id for an album: every photo of one album files into one memory.
    media_group_id = peewee.CharField(max_length=64, null=True)
    # What an image shows, including any text visible in it, as the vision model read it.
    description = peewee.TextField(null=True)

    class Meta:
        indexes = (
            (("owner", "created_at"), False),
            # Unique: two photos of one album handled at once still make one memory (NULLs
            # never collide, so memories that are not albums are unaffected).
            (("owner", "media_group_id"), True),
            (("source_chat_id", "source_message_id"), False),
        )


class MemoryTag(BaseModel):
    """A tag on a memory: suggested (by the model or the caption) until the user confirms."""

    state_field_name = "status"

    memory = peewee.ForeignKeyField(Memory, backref="tags", on_delete="CASCADE")
    owner = peewee.ForeignKeyField(User, on_delete="CASCADE", index=True)
    tag = peewee.CharField(max_length=64)
    status = StateField(TagStatus, TAG_TRANSITIONS, default=TagStatus.SUGGESTED)
    suggested_at = InstantField(null=True)
    confirmed_at = InstantField(null=True)

    class Meta:
        indexes = (
            (("memory", "tag"), True),
            (("owner", "tag"), False),
        )
