"""Unanswered suggestions expire; what the user wrote is never deleted.

A memory whose intent the user never chose is kept as a note; a "which task did you
finish?" question is closed (the memory already is a note); an event suggested from email
and never confirmed expires; tags suggested for a photo and never confirmed are withdrawn.
Each is audited as ``expired``, and a question's message loses its buttons and says so.
How long each waits is configuration (``suggestion_ttl_days``, ``tag_suggestion_ttl_days``).
"""

from __future__ import annotations

import datetime as dt

from lifeorg import ledger, runtime
from lifeorg.config import Settings
from lifeorg.models import Event, Memory, MemoryTag, User
from lifeorg.models.audit import record
from lifeorg.models.base import utcnow
from lifeorg.models.states import AuditAction, AuditActor, EventStatus, MemoryStatus, TagStatus
from lifeorg.pipeline import search
from lifeorg.pipeline.formatting import escape
from lifeorg.pipeline.outbox import edit, sent_message_id

# Rows handled per pass and kind; the next pass takes the rest.
EXPIRY_BATCH = 500
# The outbox key of the message that suggested an email event (kept here and in the mail
# flow by importing this function, so the two never drift).
EVENT_SUGGESTION_KEY = "suggest:event:{id}"


def event_suggestion_key(event_id: int) -> str:
    """The outbox key of the message suggesting this event."""
    return EVENT_SUGGESTION_KEY.format(id=event_id)


def expire_suggestions(
    now: dt.datetime | None = None, settings: Settings | None = None
) -> dict[str, int]:
    """Expire what waited too long for the user; returns how many of each."""
    now = now or utcnow()
    settings = settings or runtime.current().settings
    return {
        "memories": _expire_intents(now),
        "questions": _expire_questions(now),
        "events": _expire_events(now),
        "tags": _expire_tags(now - settings.tag_suggestion_ttl),
    }


def _expire_intents(now: dt.datetime) -> int:
    """Pending memories whose intent was never chosen are kept as notes."""
    count = 0
    due = (Memory.status == MemoryStatus.PENDING) & (Memory.pending_expires_at <= now)
    for memory in Memory.select().where(due).limit(EXPIRY_BATCH):
        with ledger.unit_of_work(write=True):
            if memory.transition(MemoryStatus.CONFIRMED, pending_expires_at=None):
                record(memory, AuditAction.EXPIRED, AuditActor.SYSTEM, {"kept_as": "note"})
                _withdraw(memory.owner, f"reply:memory:{memory.id}", "📝 Kept as a note.")
                count += 1
    return count


def _expire_questions(now: dt.datetime) -> int:
    """Open "which task did you finish?" questions close; their memory stays a note."""
    count = 0
    due = (Memory.status == MemoryStatus.CONFIRMED) & (Memory.pending_expires_at <= now)
    for memory in Memory.select().where(due).limit(EXPIRY_BATCH):
        with ledger.unit_of_work(write=True):
            closed = (
                Memory.update(pending_expires_at=None)
                .where((Memory.id == memory.id) & Memory.pending_expires_at.is_null(False))
                .execute()
            )
            if closed:
                record(memory, AuditAction.EXPIRED, AuditActor.SYSTEM, {"question": "task"})
                _withdraw(memory.owner, f"reply:memory:{memory.id}", "📝 Kept as a note.")
                count += 1
    return count


def _expire_events(now: dt.datetime) -> int:
    """Event suggestions nobody confirmed expire and leave the search."""
    count = 0
    due = (Event.status == EventStatus.PENDING) & (Event.expires_at <= now)
    for event in Event.select().where(due).limit(EXPIRY_BATCH):
        with ledger.unit_of_work(write=True):
            if event.transition(EventStatus.EXPIRED):
                search.index_event(event)  # an expired suggestion leaves the search
                record(event, AuditAction.EXPIRED, AuditActor.SYSTEM)
                _withdraw(
                    event.owner,
                    event_suggestion_key(event.id),
                    f"⌛ Not added: “{escape(event.description)}” waited too long.",
                )
                count += 1
    return count


def _expire_tags(suggested_before: dt.datetime) -> int:
    """Suggested tags nobody confirmed are noise in the vocabulary: withdraw them."""
    count = 0
    stale = (MemoryTag.status == TagStatus.SUGGESTED) & (MemoryTag.suggested_at <= suggested_before)
    for tag in MemoryTag.select().where(stale).limit(EXPIRY_BATCH):
        with ledger.unit_of_work(write=True):
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
                count += 1
    return count


def _withdraw(user: User, key: str, text: str) -> None:
    """Take the buttons off the message that asked (when it was sent) and say why."""
    asked = sent_message_id(key)
    if asked is not None:
        edit(
            user,
            asked,
            f"{text}\n<i>(The question expired.)</i>",
            key=f"expired:{key}",
        )
