"""What the buttons do, and answers to the questions the bot asked ("when?").

Every press is verified (signed for this user, unused) and checked against the entity's
owner before anything changes; a rejected press changes nothing and says why. Each change
is audited with how to undo it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from lifeorg import runtime
from lifeorg.models import Event, Job, Memory, Reminder, Task, User
from lifeorg.models.audit import record
from lifeorg.models.base import utcnow
from lifeorg.models.states import (
    AuditAction,
    AuditActor,
    MemoryStatus,
    ReminderState,
    TaskState,
)
from lifeorg.pipeline import buttons, replies, route, search
from lifeorg.pipeline.formatting import escape
from lifeorg.pipeline.outbox import answer_callback, edit, say
from lifeorg.pipeline.parse import parse_message
from lifeorg.scheduler.reminders import next_occurrence

# The quick answers to "when should I remind you?": hours from now, or a local time.
SOON_HOUR = dt.timedelta(hours=1)
EVENING = dt.time(19, 0)


def press(user: User, callback: dict[str, Any], update_id: int) -> str:
    """Handle a button press: verify it, act, redraw the message, acknowledge."""
    callback_id = str(callback.get("id", update_id))
    message = callback.get("message") or {}
    message_id = message.get("message_id")
    key = f"press:{update_id}"
    try:
        pressed = buttons.verify(
            runtime.current().settings.button_key(), user, callback.get("data")
        )
        handler = _HANDLERS.get(pressed.action)
        if handler is None:
            raise buttons.ButtonRejected("That button does nothing any more.")
        buttons.use(pressed, user)
        notice, redraw = handler(user, pressed.entity_id)
    except buttons.ButtonRejected as rejected:
        answer_callback(user, callback_id, str(rejected), key=f"{key}:answer")
        return f"press rejected: {rejected}"
    answer_callback(user, callback_id, notice, key=f"{key}:answer")
    if redraw is not None and message_id is not None:
        text, new_buttons = redraw
        edit(user, message_id, text, key=f"{key}:edit", buttons=new_buttons)
    return f"pressed {pressed.action} {pressed.entity_id}"


Redraw = tuple[str, Any] | None
Handler = Callable[[User, int], tuple[str, Redraw]]


def owned(model: Any, user: User, entity_id: int) -> Any:
    """The user's own row, or a rejection: another user's id does nothing."""
    row = model.get_or_none((model.id == entity_id) & (model.owner == user))
    if row is None:
        raise buttons.ButtonRejected("That is gone, or not yours.")
    return row


def _audit(row: Any, action: AuditAction, undo: dict[str, Any], **detail: Any) -> None:
    record(row, action, AuditActor.USER, {**detail, "undo": undo})


def _pin(user: User, memory_id: int) -> tuple[str, Redraw]:
    memory = owned(Memory, user, memory_id)
    memory.pinned = not memory.pinned
    memory.save()
    _audit(
        memory,
        AuditAction.UPDATED,
        {
            "op": "update",
            "model": "memory",
            "id": memory.id,
            "values": {"pinned": not memory.pinned},
        },
    )
    return ("Pinned." if memory.pinned else "Unpinned."), replies.note(memory, user)


def _delete(model: Any, notice: str) -> Handler:
    """A handler deleting the user's row of ``model``, audited with the row to restore."""

    def delete(user: User, entity_id: int) -> tuple[str, Redraw]:
        row = owned(model, user, entity_id)
        snapshot = row.__data__.copy()
        row.delete_instance()
        table = model._meta.table_name
        undo = {"op": "restore", "model": table, "values": _jsonable(snapshot)}
        record(row, AuditAction.DELETED, AuditActor.USER, {"undo": undo}, owner_id=user.id)
        return "Deleted.", (notice, None)

    return delete


def _ask_time(model: Any, kind: str, question: Callable[[Any], str]) -> Handler:
    """A handler asking for a new moment for the user's row; the answer sets it."""

    def ask(user: User, entity_id: int) -> tuple[str, Redraw]:
        row = owned(model, user, entity_id)
        user.awaiting = {"kind": kind, "id": row.id}
        user.save()
        return "Send the new time", (question(row), None)

    return ask


def _make_task(user: User, memory_id: int) -> tuple[str, Redraw]:
    memory = owned(Memory, user, memory_id)
    item = route.create_task(user, memory, memory.content, None, None)
    return "Task created.", replies.task(item, user)


def _remind_me(user: User, memory_id: int) -> tuple[str, Redraw]:
    memory = owned(Memory, user, memory_id)
    user.awaiting = {"kind": "reminder", "memory": memory.id, "text": memory.content}
    user.save()
    return "When?", replies.ask_when(memory, user, memory.content[:80])


def _task_done(user: User, task_id: int) -> tuple[str, Redraw]:
    item = owned(Task, user, task_id)
    if item.state == TaskState.DONE:
        return "Already done.", replies.task(item, user)
    following = None
    if item.recurrence and item.due_at is not None:
        after = max(utcnow(), item.due_at)
        following = next_occurrence(item.recurrence, item.due_at, user.timezone, after=after)
    if following is not None:
        # A recurring task done this time is due again at its next occurrence.
        before = item.due_at
        item.due_at = following
        item.save()
        _audit(
            item,
            AuditAction.UPDATED,
            {
                "op": "update",
                "model": "task",
                "id": item.id,
                "values": {"due_at": before.isoformat()},
            },
            done_for=before.isoformat(),
        )
        return f"Done! Next due {replies._moment(following, user)}", replies.task(item, user)
    item.transition(TaskState.DONE, completed_at=utcnow())
    _audit(
        item,
        AuditAction.UPDATED,
        {
            "op": "update",
            "model": "task",
            "id": item.id,
            "values": {"state": "NOT_DONE", "completed_at": None},
        },
        state="DONE",
    )
    return "Done! ✅", replies.task(item, user)


def _reminder_cancel(user: User, reminder_id: int) -> tuple[str, Redraw]:
    item = owned(Reminder, user, reminder_id)
    if item.state != ReminderState.CANCELLED:
        previous = str(item.state)
        item.transition(ReminderState.CANCELLED)
        _audit(
            item,
            AuditAction.UPDATED,
            {"op": "update", "model": "reminder", "id": item.id, "values": {"state": previous}},
            state="cancelled",
        )
    return "Cancelled.", replies.reminder(item, user)


def _open_question(user: User, memory_id: int) -> Memory:
    """The memory whose "which task?" question still stands; closes it."""
    memory = owned(Memory, user, memory_id)
    closed = (
        Memory.update(pending_expires_at=None)
        .where(
            (Memory.id == memory.id)
            & (Memory.status == MemoryStatus.CONFIRMED)
            & Memory.pending_expires_at.is_null(False)
        )
        .execute()
    )
    if not closed:
        raise buttons.ButtonRejected("That question was answered already, or it expired.")
    return memory


def _match_pick(place: int) -> Handler:
    """Complete the candidate task shown at ``place`` in the question about the memory."""

    def pick(user: User, memory_id: int) -> tuple[str, Redraw]:
        memory = _open_question(user, memory_id)
        asked = Job.get_or_none(Job.idempotency_key == f"match_task:memory:{memory.id}")
        candidates = ((asked.result or {}) if asked else {}).get("candidates") or []
        if place >= len(candidates):
            raise buttons.ButtonRejected("That button is not one of mine.")
        return _task_done(user, candidates[place]["task_id"])

    return pick


def _match_no(user: User, memory_id: int) -> tuple[str, Redraw]:
    memory = _open_question(user, memory_id)
    return "Kept as a note.", replies.note(memory, user)


def _decide(intent: str) -> Handler:
    def decide(user: User, memory_id: int) -> tuple[str, Redraw]:
        memory = owned(Memory, user, memory_id)
        if memory.status != MemoryStatus.PENDING:
            raise buttons.ButtonRejected("That was decided already.")
        parsed = _parse(user, memory.content)
        when = parsed.when.isoformat() if parsed.when else None
        text = parsed.text or memory.content
        route.file_memory(
            memory,
            {
                "intent": intent,
                "when": when,
                "text": text,
                "recurrence": parsed.recurrence,
                "all_day": parsed.all_day,
                "decided": True,
            },
        )
        return "OK.", ("👍 Filed.", None)

    return decide


def _soon(choice: str) -> Handler:
    def soon(user: User, memory_id: int) -> tuple[str, Redraw]:
        memory = owned(Memory, user, memory_id)
        when = _quick_time(user, choice)
        text = (
            (user.awaiting or {}).get("text")
            if (user.awaiting or {}).get("memory") == memory.id
            else None
        )
        item = route.create_reminder(user, memory, text or memory.content, when, None)
        user.awaiting = None
        user.save()
        return "Reminder set.", replies.reminder(item, user)

    return soon


def _quick_time(user: User, choice: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(user.timezone)
    now = utcnow().astimezone(zone)
    if choice == replies.SOON_HOUR:
        return (now + SOON_HOUR).replace(second=0, microsecond=0)
    if choice == replies.SOON_EVENING:
        day = now.date() if now.time() < EVENING else now.date() + dt.timedelta(days=1)
        return dt.datetime.combine(day, EVENING, zone)
    default = dt.time.fromisoformat(user.default_time)
    return dt.datetime.combine(now.date() + dt.timedelta(days=1), default, zone)


def _fired_done(user: User, reminder_id: int) -> tuple[str, Redraw]:
    item = owned(Reminder, user, reminder_id)
    return "Done ✅", (f"✅ {escape(item.text)}", None)


SNOOZES = {
    replies.SNOOZE_10: dt.timedelta(minutes=10),
    replies.SNOOZE_60: dt.timedelta(hours=1),
    replies.SNOOZE_TOMORROW: dt.timedelta(days=1),
}


def _snooze(choice: str) -> Handler:
    def snooze(user: User, reminder_id: int) -> tuple[str, Redraw]:
        item = owned(Reminder, user, reminder_id)
        when = (utcnow() + SNOOZES[choice]).replace(second=0, microsecond=0)
        if choice == replies.SNOOZE_TOMORROW:  # tomorrow at the time it was set for
            zone = ZoneInfo(user.timezone)
            local = item.fire_at.astimezone(zone).time()
            when = dt.datetime.combine(
                (utcnow().astimezone(zone) + SNOOZES[choice]).date(), local, zone
            )
        if item.recurrence or item.state != ReminderState.FIRED:
            # A recurring reminder keeps its series; the snooze is a one-off of its own.
            item = route.create_reminder(user, item.memory, item.text, when, None)
        else:
            item.transition(ReminderState.SNOOZED, fire_at=when)
            _audit(
                item,
                AuditAction.UPDATED,
                {"op": "update", "model": "reminder", "id": item.id, "values": {"state": "fired"}},
                state="snoozed",
            )
        return f"Snoozed until {replies._moment(when, user)}", (
            f"💤 {escape(item.text)}\nSnoozed until {replies._moment(when, user)}",
            None,
        )

    return snooze


_HANDLERS: dict[str, Handler] = {
    replies.PIN: _pin,
    replies.DELETE_MEMORY: _delete(Memory, "🗑 Deleted."),
    replies.MAKE_TASK: _make_task,
    replies.REMIND_ME: _remind_me,
    replies.TASK_DONE: _task_done,
    replies.TASK_DUE: _ask_time(
        Task,
        "task_due",
        lambda t: f"📆 When is “{escape(t.description)}” due? Send a date or time.",
    ),
    replies.TASK_DELETE: _delete(Task, "🗑 Task deleted."),
    replies.REMINDER_CANCEL: _reminder_cancel,
    replies.REMINDER_TIME: _ask_time(
        Reminder,
        "reminder_time",
        lambda r: f"⏰ When should I remind you about “{escape(r.text)}”? Send a time.",
    ),
    replies.EVENT_DELETE: _delete(Event, "🗑 Event deleted."),
    replies.EVENT_TIME: _ask_time(
        Event,
        "event_time",
        lambda e: f"📅 When is “{escape(e.description)}”? Send a date and time.",
    ),
    replies.MATCH_NO: _match_no,
    **{action: _match_pick(place) for place, action in enumerate(replies.MATCH_PICKS)},
    replies.AS_NOTE: _decide("note"),
    replies.AS_TASK: _decide("task"),
    replies.AS_REMINDER: _decide("reminder"),
    replies.SOON_HOUR: _soon(replies.SOON_HOUR),
    replies.SOON_EVENING: _soon(replies.SOON_EVENING),
    replies.SOON_TOMORROW: _soon(replies.SOON_TOMORROW),
    replies.FIRED_DONE: _fired_done,
    replies.SNOOZE_10: _snooze(replies.SNOOZE_10),
    replies.SNOOZE_60: _snooze(replies.SNOOZE_60),
    replies.SNOOZE_TOMORROW: _snooze(replies.SNOOZE_TOMORROW),
}


Answer = Callable[[User, str, dict[str, Any]], bool]
_ANSWERS: dict[str, Answer] = {}


def register(action: str, handler: Handler) -> None:
    """Add the handler of a button action defined by another module; raises on a clash."""
    if _HANDLERS.setdefault(action, handler) is not handler:
        raise ValueError(f"button action {action!r} is taken")


def register_answer(kind: str, hook: Answer) -> None:
    """Add the handler of answers to a question kind from another module; raises on a clash."""
    if _ANSWERS.setdefault(kind, hook) is not hook:
        raise ValueError(f"question kind {kind!r} is taken")


def _parse(user: User, text: str):
    return parse_message(text, utcnow(), user.timezone, dt.time.fromisoformat(user.default_time))


def answer(user: User, text: str, message: dict[str, Any]) -> bool:
    """Treat ``text`` as the answer to the bot's pending question; False if it is not one."""
    awaiting = user.awaiting or {}
    hook = _ANSWERS.get(awaiting.get("kind"))
    if hook is not None:
        return hook(user, text, message)
    parsed = _parse(user, text)
    user.awaiting = None
    user.save()
    if parsed.when is None:
        return False  # not a time: file the message as usual and drop the question
    key = f"reply:answer:{message.get('message_id')}:{message.get('chat', {}).get('id')}"
    reply_to = message.get("message_id")
    kind = awaiting.get("kind")
    if kind == "reminder":
        memory = Memory.get_or_none((Memory.id == awaiting.get("memory")) & (Memory.owner == user))
        item = route.create_reminder(
            user, memory, awaiting.get("text") or parsed.text, parsed.when, parsed.recurrence
        )
        say(user, *replies.reminder(item, user), key=key, reply_to=reply_to)
        return True
    model, field = {
        "reminder_time": (Reminder, "fire_at"),
        "task_due": (Task, "due_at"),
        "event_time": (Event, "starts_at"),
    }.get(kind, (None, None))
    row = (
        model.get_or_none((model.id == awaiting.get("id")) & (model.owner == user))
        if model
        else None
    )
    if row is None:
        return False
    before = getattr(row, field)
    setattr(row, field, parsed.when)
    if model is Reminder and row.state != ReminderState.SCHEDULED:
        row.state = ReminderState.SCHEDULED
    if model is Event:
        row.all_day_date = None
    row.save()
    if model is Event:
        search.index_event(row)
    _audit(
        row,
        AuditAction.UPDATED,
        {
            "op": "update",
            "model": row._meta.table_name,
            "id": row.id,
            "values": {field: before.isoformat() if before else None},
        },
    )
    drawn = {Reminder: replies.reminder, Task: replies.task, Event: replies.event}[model](row, user)
    say(user, *drawn, key=key, reply_to=reply_to)
    return True


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """A row's values as JSON: instants as ISO text, enums as their value."""
    out = {}
    for name, value in values.items():
        if isinstance(value, dt.datetime | dt.date):
            out[name] = value.isoformat()
        else:
            out[name] = str(value) if hasattr(value, "value") else value
    return out
