"""The search index's documents: one row per memory or event, holding its searchable text."""

from __future__ import annotations

import peewee

from lifeorg.models.base import BaseModel, InstantField, utcnow
from lifeorg.models.event import Event
from lifeorg.models.memory import Memory
from lifeorg.models.user import User


class SearchDoc(BaseModel):
    """A memory's or an event's text as shown (``body``) and as indexed (``terms``).

    The id puts the owner in its high bits (see ``lifeorg.pipeline.search``), so each
    owner's documents are one id range. The full-text index itself is kept by the database
    from ``terms`` and is no model: an FTS5 table on SQLite, a tsvector table on PostgreSQL
    (migration 0002).
    """

    id = peewee.BigIntegerField(primary_key=True)
    owner = peewee.ForeignKeyField(User, on_delete="CASCADE", index=True)
    memory = peewee.ForeignKeyField(Memory, null=True, on_delete="CASCADE", unique=True)
    event = peewee.ForeignKeyField(Event, null=True, on_delete="CASCADE", unique=True)
    body = peewee.TextField()
    terms = peewee.TextField()
    updated_at = InstantField(default=utcnow)
