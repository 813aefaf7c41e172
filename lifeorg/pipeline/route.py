"""Filing a classified memory by its intent, and replying.

note -> kept, with [Pin] [Delete] [Make task] [Remind me]; task -> a Task with its due
moment; reminder -> a Reminder (or a question: when?); event -> a confirmed manual Event;
complete_task -> ``match_task`` asks which task was done; search -> ``search`` answers.
A message with a moment but no clear intent stays pending with [Note] [Task] [Reminder]:
nothing the user wrote is dropped.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from lifeorg import ledger, runtime
from lifeorg.models import Event, Memory, Reminder, Task, User
from lifeorg.models.audit import record
from lifeorg.models.base import utcnow
from lifeorg.models.states import AuditAction, AuditActor, EventSource, MemoryStatus
from lifeorg.pipeline import replies, search
from lifeorg.pipeline.formatting import escape
from lifeorg.pipeline.outbox import say


def file_memory(memory: Memory, classification: dict[str, Any]) -> str:
    """Act on a memory's classification; returns what it became."""
    user = memory.owner
    intent = classification["intent"]
    when = _instant(classification.get("when"))
    text = (classification.get("text") or memory.content).strip() or memory.content
    key = f"reply:memory:{memory.id}"
    reply_to = memory.source_message_id
    if intent == "note" and when is not None:
        reply, buttons = replies.unclear(memory, user)
        say(user, reply, key=key, buttons=buttons, reply_to=reply_to)
        return "pending"
    _confirm(memory)
    if intent == "task":
        item = create_task(user, memory, text, when, classification.get("recurrence"))
        say(user, *replies.task(item, user), key=key, reply_to=reply_to)
        return f"task {item.id}"
    if intent == "reminder" and when is not None:
        item = create_reminder(user, memory, text, when, classification.get("recurrence"))
        say(user, *replies.reminder(item, user), key=key, reply_to=reply_to)
        return f"reminder {item.id}"
    if intent == "reminder":
        user.awaiting = {"kind": "reminder", "memory": memory.id, "text": text}
        user.save()
        say(user, *replies.ask_when(memory, user, text), key=key, reply_to=reply_to)
        return "asked when"
    if intent == "event" and when is not None:
        item = create_event(user, memory, text, when, all_day=classification.get("all_day"))
        say(user, *replies.event(item, user), key=key, reply_to=reply_to)
        return f"event {item.id}"
    if intent == "complete_task":
        ledger.submit(
            "match_task",
            f"match_task:memory:{memory.id}",
            {"memory_id": memory.id},
            owner_id=user.id,
        )
        return "matching"
    if intent == "search":
        ledger.submit(
            "search",
            f"search:memory:{memory.id}",
            {"memory_id": memory.id, "query": text},
            owner_id=user.id,
        )
        return "searching"
    say(user, *replies.note(memory, user), key=key, reply_to=reply_to)
    return "note"


def _instant(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _confirm(memory: Memory) -> None:
    if memory.status == MemoryStatus.PENDING:
        memory.transition(MemoryStatus.CONFIRMED, pending_expires_at=None)


def _created(item: Any, actor: AuditActor = AuditActor.USER) -> None:
    table = item._meta.table_name
    record(
        item, AuditAction.CREATED, actor, {"undo": {"op": "delete", "model": table, "id": item.id}}
    )


def create_task(
    user: User, memory: Memory | None, text: str, due: dt.datetime | None, rule: str | None
) -> Task:
    """A task for ``user``, audited with how to undo it."""
    item = Task.create(owner=user, memory=memory, description=text, due_at=due, recurrence=rule)
    _created(item)
    return item


def create_reminder(
    user: User, memory: Memory | None, text: str, when: dt.datetime, rule: str | None
) -> Reminder:
    """A reminder for ``user``, audited with how to undo it."""
    item = Reminder.create(owner=user, memory=memory, text=text, fire_at=when, recurrence=rule)
    _created(item)
    return item


def create_event(
    user: User, memory: Memory | None, text: str, when: dt.datetime, *, all_day: bool | None
) -> Event:
    """A confirmed manual event for ``user``, searchable, audited with how to undo it."""
    local_day = when.astimezone(ZoneInfo(user.timezone)).date()
    item = Event.create(
        owner=user,
        memory=memory,
        description=text,
        starts_at=None if all_day else when,
        all_day_date=local_day if all_day else None,
        source_type=EventSource.MANUAL,
    )
    search.index_event(item)
    _created(item)
    return item


def ask_about_match(memory: Memory, result: dict[str, Any]) -> None:
    """Ask which open task a "done" message completes; never completes one silently.

    The memory is a note already; the question stands until ``suggestion_ttl`` passes
    (``pending_expires_at``), and its buttons name the memory and the candidate's place in
    this step's recorded result, so an answered or expired question cannot be answered again.
    """
    user = memory.owner
    key = question_key(memory)
    candidates = result["candidates"]
    chosen = result.get("chosen")
    if not candidates:
        say(
            user,
            "Noted. I found no open task like that, so I kept it as a note.",
            key=key,
            buttons=replies.note(memory, user)[1],
            reply_to=memory.source_message_id,
        )
        return
    memory.pending_expires_at = utcnow() + runtime.current().settings.suggestion_ttl
    memory.save()
    places = {c["task_id"]: place for place, c in enumerate(candidates)}
    if chosen is not None:
        description = candidates[places[chosen]]["description"]
        say(
            user,
            f"Mark “{escape(description)}” as done?",
            key=key,
            reply_to=memory.source_message_id,
            buttons=[
                [
                    replies.button(user, "Yes", replies.MATCH_PICKS[places[chosen]], memory.id),
                    replies.button(user, "No", replies.MATCH_NO, memory.id),
                ]
            ],
        )
        return
    rows = [
        [replies.button(user, c["description"][:60], replies.MATCH_PICKS[place], memory.id)]
        for place, c in enumerate(candidates)
    ]
    rows.append([replies.button(user, "None of these", replies.MATCH_NO, memory.id)])
    say(
        user, "Which task did you finish?", key=key, buttons=rows, reply_to=memory.source_message_id
    )


def question_key(memory: Memory) -> str:
    """The outbox key of the bot's reply to ``memory``: where its open question was asked."""
    return f"reply:memory:{memory.id}"


def answer_search(memory: Memory, result: dict[str, Any]) -> None:
    """Reply with the model's answer (if any) and the hits, each with an excerpt."""
    user = memory.owner
    hits = [h for h in result["hits"] if not (h["kind"] == "memory" and h["id"] == memory.id)]
    lines = []
    if result.get("answer"):
        lines.append(escape(result["answer"]))
    if hits:
        lines.append("Found:" if not lines else "\nFrom:")
        for hit in hits[:5]:
            icon = "📅" if hit["kind"] == "event" else "📝"
            lines.append(f"{icon} {escape(hit['snippet'])}")
    else:
        lines.append("I found nothing about that in what you saved.")
    say(user, "\n".join(lines), key=f"reply:memory:{memory.id}", reply_to=memory.source_message_id)
