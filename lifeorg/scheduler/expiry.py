"""Unanswered suggestions expire; what the user wrote is never deleted.

A memory whose intent the user never chose is kept as a note; an event suggested from
email and never confirmed expires; tags suggested for a photo and never confirmed are
withdrawn. Each is audited as ``expired``.
"""

from __future__ import annotations

import datetime as dt

from lifeorg.models import Event, Memory, MemoryTag
from lifeorg.models.audit import record
from lifeorg.models.base import db, utcnow
from lifeorg.models.states import AuditAction, AuditActor, EventStatus, MemoryStatus, TagStatus
from lifeorg.pipeline import search

# Suggested tags nobody confirmed in this long are noise in the vocabulary.
TAG_SUGGESTION_TTL = dt.timedelta(days=14)
# Rows handled per pass; the next pass takes the rest.
EXPIRY_BATCH = 500


def expire_suggestions(now: dt.datetime | None = None) -> dict[str, int]:
    """Expire what waited too long for the user; returns how many of each."""
    now = now or utcnow()
    counts = {"memories": 0, "events": 0, "tags": 0}
    for memory in (
        Memory.select()
        .where((Memory.status == MemoryStatus.PENDING) & (Memory.pending_expires_at <= now))
        .limit(EXPIRY_BATCH)
    ):
        with db.atomic():
            if memory.transition(MemoryStatus.CONFIRMED, pending_expires_at=None):
                record(memory, AuditAction.EXPIRED, AuditActor.SYSTEM, {"kept_as": "note"})
                counts["memories"] += 1
    for event in (
        Event.select()
        .where((Event.status == EventStatus.PENDING) & (Event.expires_at <= now))
        .limit(EXPIRY_BATCH)
    ):
        with db.atomic():
            if event.transition(EventStatus.EXPIRED):
                search.index_event(event)  # an expired suggestion leaves the search
                record(event, AuditAction.EXPIRED, AuditActor.SYSTEM)
                counts["events"] += 1
    stale = (
        MemoryTag.select()
        .where(
            (MemoryTag.status == TagStatus.SUGGESTED)
            & (MemoryTag.suggested_at <= now - TAG_SUGGESTION_TTL)
        )
        .limit(EXPIRY_BATCH)
    )
    for tag in stale:
        with db.atomic():
            deleted = (
                MemoryTag.delete()
                .where((MemoryTag.id == tag.id) & (MemoryTag.status == TagStatus.SUGGESTED))
                .execute()
            )
            if deleted:
                search.index_memory(Memory.get_by_id(tag.memory_id))
                record(
                    tag,
                    AuditAction.EXPIRED,
                    AuditActor.SYSTEM,
                    {"tag": tag.tag},
                    owner_id=tag.owner_id,
                )
                counts["tags"] += 1
    return counts
