"""Unanswered suggestions expire, audited; nothing the user wrote is deleted."""

from __future__ import annotations

import datetime as dt

from lifeorg.models import AuditEntry, Event, Memory, MemoryTag, User
from lifeorg.models.base import utcnow
from lifeorg.models.states import EventSource, EventStatus, MemoryStatus, TagStatus
from lifeorg.pipeline.search import index_event, index_memory, search
from lifeorg.scheduler.expiry import TAG_SUGGESTION_TTL, expire_suggestions


def expired_audits() -> int:
    return AuditEntry.select().where(AuditEntry.action == "expired").count()


def test_pending_things_expire_and_the_users_words_stay(database):
    """A pending memory becomes a note; a pending event expires (and leaves search); stale
    suggested tags are withdrawn; fresh ones and confirmed ones stay."""
    user = User.create(telegram_user_id=1, chat_id=1, timezone="UTC", default_time="09:00")
    now = utcnow()
    old = Memory.create(
        owner=user,
        content="the quarterly report friday",
        status=MemoryStatus.PENDING,
        pending_expires_at=now - dt.timedelta(1),
    )
    fresh = Memory.create(
        owner=user,
        content="still deciding",
        status=MemoryStatus.PENDING,
        pending_expires_at=now + dt.timedelta(days=1),
    )
    event = Event.create(
        owner=user,
        description="flight to Lisbon",
        status=EventStatus.PENDING,
        source_type=EventSource.EMAIL,
        expires_at=now - dt.timedelta(hours=1),
    )
    index_event(event)
    photo = Memory.create(owner=user, content="")
    stale = MemoryTag.create(
        memory=photo,
        owner=user,
        tag="blurry",
        status=TagStatus.SUGGESTED,
        suggested_at=now - TAG_SUGGESTION_TTL - dt.timedelta(hours=1),
    )
    kept = MemoryTag.create(
        memory=photo,
        owner=user,
        tag="cat",
        status=TagStatus.CONFIRMED,
        suggested_at=now - TAG_SUGGESTION_TTL * 2,
        confirmed_at=now,
    )
    index_memory(photo)

    counts = expire_suggestions(now)

    assert counts == {"memories": 1, "events": 1, "tags": 1}
    assert Memory.get_by_id(old.id).status == MemoryStatus.CONFIRMED  # kept, as a note
    assert Memory.get_by_id(fresh.id).status == MemoryStatus.PENDING
    assert Event.get_by_id(event.id).status == EventStatus.EXPIRED
    assert search(user.id, "lisbon") == []
    assert [t.id for t in MemoryTag.select()] == [kept.id]
    assert MemoryTag.get_or_none(MemoryTag.id == stale.id) is None
    assert expired_audits() == 3
    assert expire_suggestions(now) == {"memories": 0, "events": 0, "tags": 0}
