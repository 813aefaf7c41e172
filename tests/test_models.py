"""The data model on SQLite and PostgreSQL: instants, JSON, constraints, cascades, transitions."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import peewee
import pytest

from lifeorg.errors import InvalidTransition
from lifeorg.models import (
    ALL_MODELS,
    AuditEntry,
    Event,
    Job,
    Memory,
    MemoryTag,
    OutboxMessage,
    Reminder,
    Task,
    User,
)
from lifeorg.models.audit import record
from lifeorg.models.base import StateField, utcnow
from lifeorg.models.states import (
    AuditAction,
    AuditActor,
    EventSource,
    EventStatus,
    JobStatus,
    MemoryStatus,
    ReminderState,
    TaskState,
)

BERLIN = ZoneInfo("Europe/Berlin")


def make_user(telegram_user_id: int = 1001) -> User:
    return User.create(
        telegram_user_id=telegram_user_id,
        chat_id=telegram_user_id,
        timezone="UTC",
        default_time="09:00",
    )


def test_instants_come_back_aware_in_utc(database):
    """Given a local time in Berlin, when stored and read back, it is the same instant in UTC."""
    user = make_user()
    local = dt.datetime(2026, 3, 29, 3, 30, 15, 250000, tzinfo=BERLIN)  # just after DST starts
    reminder = Reminder.create(owner=user, text="call mum", fire_at=local)

    loaded = Reminder.get_by_id(reminder.id)

    assert loaded.fire_at == local
    assert loaded.fire_at.tzinfo == dt.UTC
    assert loaded.fire_at.isoformat() == "2026-03-29T01:30:15.250000+00:00"
    assert loaded.created_at.tzinfo == dt.UTC


def test_naive_datetimes_are_refused(database):
    """A naive datetime has no instant; storing one is an error, not a guess."""
    user = make_user()
    with pytest.raises(ValueError, match="naive"):
        Reminder.create(owner=user, text="x", fire_at=dt.datetime(2026, 1, 1, 9, 0))


def test_instant_comparisons_order_by_time_not_text(database):
    """Due queries compare instants: whole seconds, microseconds and other zones sort correctly."""
    user = make_user()
    base = dt.datetime(2026, 11, 24, 12, 0, 0, tzinfo=dt.UTC)
    times = {
        "whole": base,
        "micro": base + dt.timedelta(microseconds=1),
        "tokyo": (base - dt.timedelta(seconds=1)).astimezone(ZoneInfo("Asia/Tokyo")),
        "later": base + dt.timedelta(seconds=1),
    }
    for text, when in times.items():
        Reminder.create(owner=user, text=text, fire_at=when)

    due = Reminder.select().where(Reminder.fire_at <= base + dt.timedelta(microseconds=1))
    ordered = Reminder.select().order_by(Reminder.fire_at)

    assert {r.text for r in due} == {"whole", "micro", "tokyo"}
    assert [r.text for r in ordered] == ["tokyo", "whole", "micro", "later"]


def test_json_round_trips_unicode_and_nesting(database):
    """Job payloads and audit details keep structure and non-Latin text exactly."""
    payload = {"text": "Zahnarzt 🦷 am Dienstag — «ok»", "ids": [1, 2, 3], "nested": {"a": None}}
    job = Job.create(kind="ping", idempotency_key="k", payload=payload)
    assert Job.get_by_id(job.id).payload == payload


def test_deleting_a_user_deletes_their_data_but_keeps_the_audit_trail(database):
    """Cascades remove every row of the user; audit entries (no FK) survive for /forget."""
    user = make_user()
    memory = Memory.create(owner=user, content="wifi is hunter2")
    MemoryTag.create(memory=memory, owner=user, tag="wifi")
    Task.create(owner=user, memory=memory, description="pay bill")
    Reminder.create(owner=user, memory=memory, text="call", fire_at=utcnow())
    Event.create(owner=user, description="dentist", source_type=EventSource.MANUAL)
    Job.create(kind="ping", idempotency_key="j", owner=user)
    OutboxMessage.create(
        owner=user, chat_id=1, idempotency_key="o", method="sendMessage", payload={}
    )
    record(memory, AuditAction.CREATED, AuditActor.USER)
    other = make_user(2002)
    Memory.create(owner=other, content="not mine")

    user.delete_instance()

    for model in (Memory, MemoryTag, Task, Reminder, Event, Job, OutboxMessage):
        owned = model.select().where(model.owner == user.id).count()
        assert owned == 0, model.__name__
    assert Memory.select().count() == 1
    assert AuditEntry.select().where(AuditEntry.owner_id == user.id).count() == 1


def test_unique_keys_hold(database):
    """A tag is on a memory once; a Telegram user exists once; an idempotency key once."""
    user = make_user()
    memory = Memory.create(owner=user, content="x")
    MemoryTag.create(memory=memory, owner=user, tag="wifi")
    with pytest.raises(peewee.IntegrityError), database.atomic():
        MemoryTag.create(memory=memory, owner=user, tag="wifi")
    with pytest.raises(peewee.IntegrityError), database.atomic():
        make_user()
    OutboxMessage.create(chat_id=1, idempotency_key="reply:1", method="sendMessage", payload={})
    with pytest.raises(peewee.IntegrityError), database.atomic():
        OutboxMessage.create(chat_id=1, idempotency_key="reply:1", method="sendMessage", payload={})


def test_owner_status_and_due_columns_are_indexed(database):
    """The columns every hot query filters on have indexes."""

    def indexed(model) -> set[tuple[str, ...]]:
        return {tuple(i.columns) for i in database.get_indexes(model._meta.table_name)}

    assert ("state", "fire_at") in indexed(Reminder)
    assert ("owner_id",) in indexed(Reminder)
    assert ("owner_id", "state", "due_at") in indexed(Task)
    assert ("status", "lease_until") in indexed(Job)
    assert ("owner_id", "status", "starts_at") in indexed(Event)
    assert ("owner_id", "created_at") in indexed(Memory)
    assert ("status",) in indexed(Memory)


def test_every_status_table_covers_every_state():
    """Each entity's transition table names every state of its enum, and only those."""
    tables = [
        (model, model._meta.fields[model.state_field_name])
        for model in ALL_MODELS
        if model.state_field_name
    ]
    assert {m.__name__ for m, _ in tables} >= {"Task", "Reminder", "Event", "Memory", "Job"}
    for model, field in tables:
        assert isinstance(field, StateField), model.__name__
        assert set(field.transitions) == set(field.enum_class), model.__name__
        for targets in field.transitions.values():
            assert targets <= set(field.enum_class), model.__name__


@pytest.mark.parametrize(
    ("model", "start", "allowed", "forbidden"),
    [
        (Task, TaskState.NOT_DONE, TaskState.DONE, None),
        (Reminder, ReminderState.SCHEDULED, ReminderState.FIRED, ReminderState.SNOOZED),
        (Event, EventStatus.PENDING, EventStatus.CONFIRMED, None),
        (Memory, MemoryStatus.PENDING, MemoryStatus.CONFIRMED, None),
        (Job, JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.COMPLETED),
    ],
)
def test_transitions_follow_the_table(database, model, start, allowed, forbidden):
    """An allowed change is saved; a forbidden one raises and changes nothing."""
    row = _row(model, start)
    if forbidden is not None:
        with pytest.raises(InvalidTransition):
            row.transition(forbidden)
        assert model.get_by_id(row.id).__data__[model.state_field_name] == start
    assert row.transition(allowed) is True
    assert model.get_by_id(row.id).__data__[model.state_field_name] == allowed


def test_terminal_states_refuse_every_change(database):
    """A completed job is final; so is an expired suggestion."""
    job = _row(Job, JobStatus.QUEUED)
    job.transition(JobStatus.PROCESSING)
    job.transition(JobStatus.COMPLETED)
    for target in JobStatus:
        if target != JobStatus.COMPLETED:
            with pytest.raises(InvalidTransition, match="cannot change from completed"):
                job.transition(target)


def test_assignment_is_checked_too(database):
    """Setting the status attribute directly goes through the same table."""
    reminder = _row(Reminder, ReminderState.SCHEDULED)
    with pytest.raises(InvalidTransition):
        reminder.state = ReminderState.SNOOZED
    reminder.state = ReminderState.FIRED
    reminder.save()
    assert Reminder.get_by_id(reminder.id).state == ReminderState.FIRED
    assert Reminder.get_by_id(reminder.id).updated_at >= reminder.created_at


def test_transition_is_compare_and_set(database):
    """Two processes holding the same row: the first change wins, the second learns it lost."""
    task = _row(Task, TaskState.NOT_DONE)
    mine, theirs = Task.get_by_id(task.id), Task.get_by_id(task.id)

    assert theirs.transition(TaskState.DONE, completed_at=utcnow()) is True
    assert mine.transition(TaskState.DONE, completed_at=utcnow()) is False
    assert mine.state == TaskState.NOT_DONE  # it did not pretend to have moved
    assert Task.get_by_id(task.id).state == TaskState.DONE


def test_audit_record_names_entity_actor_and_owner(database):
    """One call records who did what to which row, with the owner taken from the row."""
    user = make_user()
    task = Task.create(owner=user, description="pay bill")
    entry = record(task, AuditAction.UPDATED, AuditActor.LLM, {"field": "due_at"})

    loaded = AuditEntry.get_by_id(entry.id)
    assert (loaded.entity_type, loaded.entity_id) == ("task", str(task.id))
    assert (loaded.action, loaded.actor, loaded.owner_id) == ("updated", "llm", user.id)
    assert loaded.detail == {"field": "due_at"}
    assert loaded.at.tzinfo == dt.UTC


def _row(model, status):
    user = User.get_or_none(User.telegram_user_id == 1001) or make_user()
    values = {
        Task: {"owner": user, "description": "t"},
        Reminder: {"owner": user, "text": "r", "fire_at": utcnow()},
        Event: {"owner": user, "description": "e", "source_type": EventSource.EMAIL},
        Memory: {"owner": user, "content": "m"},
        Job: {"kind": "ping", "idempotency_key": f"k-{status}", "payload": {}},
    }[model]
    return model.create(**values, **{model.state_field_name: status})
