"""Unanswered suggestions expire, audited; nothing the user wrote is deleted."""

from __future__ import annotations

import datetime as dt

from lifeorg import ledger, runtime
from lifeorg.models import AuditEntry, Event, Memory, MemoryTag, Task, User
from lifeorg.models.base import utcnow
from lifeorg.models.states import EventSource, EventStatus, MemoryStatus, TagStatus, TaskState
from lifeorg.pipeline import route
from lifeorg.pipeline.search import index_event, index_memory, search
from lifeorg.scheduler.expiry import expire_suggestions
from tests.conftest import make_settings
from tests.test_conversation import ME


def expired_audits() -> int:
    return AuditEntry.select().where(AuditEntry.action == "expired").count()


def test_pending_things_expire_and_the_users_words_stay(database, tmp_path):
    """A pending memory becomes a note; a pending event expires (and leaves search); stale
    suggested tags are withdrawn; fresh ones and confirmed ones stay."""
    user = User.create(telegram_user_id=1, chat_id=1, timezone="UTC", default_time="09:00")
    now = utcnow()
    settings = make_settings(tmp_path)
    ttl = settings.tag_suggestion_ttl
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
        suggested_at=now - ttl - dt.timedelta(hours=1),
    )
    kept = MemoryTag.create(
        memory=photo,
        owner=user,
        tag="cat",
        status=TagStatus.CONFIRMED,
        suggested_at=now - ttl * 2,
        confirmed_at=now,
    )
    index_memory(photo)

    counts = expire_suggestions(now, settings)

    assert counts == {"memories": 1, "questions": 0, "events": 1, "tags": 1}
    assert Memory.get_by_id(old.id).status == MemoryStatus.CONFIRMED  # kept, as a note
    assert Memory.get_by_id(fresh.id).status == MemoryStatus.PENDING
    assert Event.get_by_id(event.id).status == EventStatus.EXPIRED
    assert search(user.id, "lisbon") == []
    assert [t.id for t in MemoryTag.select()] == [kept.id]
    assert MemoryTag.get_or_none(MemoryTag.id == stale.id) is None
    assert expired_audits() == 3
    assert expire_suggestions(now, settings) == {
        "memories": 0,
        "questions": 0,
        "events": 0,
        "tags": 0,
    }


def test_tag_lifetime_is_configuration(database, tmp_path):
    """A suggested tag older than tag_suggestion_ttl_days goes; the default keeps it."""
    user = User.create(telegram_user_id=1, chat_id=1, timezone="UTC", default_time="09:00")
    photo = Memory.create(owner=user, content="")
    now = utcnow()
    MemoryTag.create(
        memory=photo,
        owner=user,
        tag="beach",
        status=TagStatus.SUGGESTED,
        suggested_at=now - dt.timedelta(days=2),
    )
    assert expire_suggestions(now, make_settings(tmp_path))["tags"] == 0
    short = make_settings(tmp_path, tag_suggestion_ttl_days=1)
    assert expire_suggestions(now, short)["tags"] == 1
    assert MemoryTag.select().count() == 0


def _ask_about_the_milk(chat) -> tuple[Task, Memory]:
    chat.send("buy milk")
    task = Task.get()
    chat.send("I bought the milk")
    assert "Mark “buy milk” as done?" in chat.last()["text"]
    return task, Memory.select().order_by(Memory.id.desc()).get()


def test_a_task_question_stands_for_the_configured_time(chat, monkeypatch):
    """LIFEORG_SUGGESTION_TTL_DAYS sets how long "Mark X as done?" waits."""
    monkeypatch.setattr(runtime.current().settings, "suggestion_ttl_days", 2.0)
    before = utcnow()
    _, memory = _ask_about_the_milk(chat)
    waits = memory.pending_expires_at - before
    assert dt.timedelta(days=2) <= waits < dt.timedelta(days=2, minutes=1)
    assert memory.status == MemoryStatus.CONFIRMED  # already a note while it waits


def test_an_unanswered_task_question_expires_and_its_buttons_stop(chat):
    """After the lifetime the question closes, audited; [Yes] then completes nothing."""
    task, memory = _ask_about_the_milk(chat)
    later = utcnow() + runtime.current().settings.suggestion_ttl + dt.timedelta(minutes=1)
    assert expire_suggestions(utcnow())["questions"] == 0  # not yet
    assert expire_suggestions(later)["questions"] == 1
    chat.settle()
    withdrawn = chat.last()
    assert withdrawn["edit"] and withdrawn["buttons"] == []
    assert "expired" in withdrawn["text"]
    assert expired_audits() == 1
    chat.press("Yes")
    assert "expired" in chat.messenger.answers[-1][1]
    assert Task.get_by_id(task.id).state == TaskState.NOT_DONE
    assert Memory.get_by_id(memory.id).content == "I bought the milk"
    assert expire_suggestions(later)["questions"] == 0


def test_an_answered_task_question_never_expires_nor_answers_twice(chat):
    """[Yes] closes the question: the expiry pass leaves it, and [No] does nothing after."""
    task, _ = _ask_about_the_milk(chat)
    chat.press("Yes")
    assert Task.get_by_id(task.id).state == TaskState.DONE
    later = utcnow() + runtime.current().settings.suggestion_ttl * 2
    assert expire_suggestions(later)["questions"] == 0
    chat.press("No")
    assert "answered already" in chat.messenger.answers[-1][1]
    assert expired_audits() == 0


def test_several_candidates_each_complete_their_own_task(chat):
    """ "Which task?" lists the candidates; the one pressed is the one completed."""
    chat.send("call the bank about the card")
    chat.send("call the bank about the mortgage")
    chat.send("I called the bank")
    assert "Which task did you finish?" in chat.last()["text"]
    chat.press("call the bank about the mortgage")
    done = [t.description for t in Task.select().where(Task.state == TaskState.DONE)]
    assert done == ["call the bank about the mortgage"]
    chat.press("call the bank about the card")
    assert "answered already" in chat.messenger.answers[-1][1]
    assert Task.select().where(Task.state == TaskState.DONE).count() == 1


def test_an_expired_intent_question_loses_its_buttons(chat):
    """A pending memory kept as a note on expiry: its [Note] [Task] [Reminder] go."""
    chat.send("hello")  # the user, onboarded by their first message
    user = User.get(User.telegram_user_id == ME)
    with ledger.unit_of_work(write=True):
        memory = Memory.create(
            owner=user,
            content="the quarterly numbers friday",
            status=MemoryStatus.PENDING,
            pending_expires_at=utcnow() + dt.timedelta(days=7),
        )
        when = (utcnow() + dt.timedelta(days=3)).isoformat()
        assert route.file_memory(memory, {"intent": "note", "when": when}) == "pending"
    chat.settle()
    assert [b[0] for row in chat.last()["buttons"] for b in row] == ["Note", "Task", "Reminder"]
    assert expire_suggestions(utcnow() + dt.timedelta(days=8))["memories"] == 1
    chat.settle()
    assert chat.last()["edit"] and chat.last()["buttons"] == []
    assert "Kept as a note" in chat.last()["text"]
    chat.press("Task")
    assert "decided already" in chat.messenger.answers[-1][1]
    assert Task.select().count() == 0
    assert Memory.get_by_id(memory.id).status == MemoryStatus.CONFIRMED
