"""Events found in email: suggested to their owner, added only when the owner confirms.

Each found event becomes a pending Event and one message, "From email “X”: … Add?" with
[Confirm] [Reject]; a confirmed event gets a reminder ``event_reminder_minutes`` before it;
an ignored suggestion expires (``scheduler/expiry.py``). An invite seen again (same UID)
updates the event it proposed when its SEQUENCE is not older, and a cancellation withdraws
it. Nothing in a mail can do more than this: mail is untrusted data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from lifeorg import runtime
from lifeorg.models import Event, Reminder, User
from lifeorg.models.audit import record
from lifeorg.models.base import utcnow
from lifeorg.models.states import (
    AuditAction,
    AuditActor,
    EventSource,
    EventStatus,
    ReminderState,
)
from lifeorg.pipeline import actions, buttons, replies, search
from lifeorg.pipeline.formatting import escape, when_text
from lifeorg.pipeline.outbox import edit, say, sent_message_id
from lifeorg.scheduler.expiry import event_suggestion_key

EVENT_CONFIRM, EVENT_REJECT = "econf", "erej"
# Titles and places come from strangers' mail: cut them to what a chat message can show.
MAX_TITLE = 200
MAX_LOCATION = 200
MAX_SUBJECT = 120


def take(user: User, found: list[dict[str, Any]], *, subject: str, message_id: str) -> dict:
    """Suggest, update or withdraw events for what one mail holds; returns what happened."""
    outcome = {"suggested": 0, "updated": 0, "cancelled": 0, "ignored": 0}
    for index, item in enumerate(found):
        ref = _source_ref(item, message_id, index)
        known = Event.get_or_none((Event.owner == user) & (Event.source_ref == ref))
        if known is None:
            # The same booking mailed twice, or a cancellation in words: by title and time.
            known = _same_event(user, item)
        if known is None and item["status"] != "cancelled":
            _suggest(user, item, ref, subject)
            outcome["suggested"] += 1
            continue
        if known is None or int(item.get("sequence") or 0) < known.source_sequence:
            outcome["ignored"] += 1  # a cancellation of nothing, or older news
        elif item["status"] == "cancelled":
            outcome["cancelled" if _cancel(user, known) else "ignored"] += 1
        elif _update(user, known, item):
            outcome["updated"] += 1
        else:
            outcome["ignored"] += 1
    return outcome


def _source_ref(item: dict[str, Any], message_id: str, index: int) -> str:
    """An invite is the same event in every mail that carries its UID; else mail + place."""
    ref = f"uid:{item['uid']}" if item.get("uid") else f"mail:{message_id}#{index}"
    return ref[:998]


def _times(item: dict[str, Any], user: User) -> dict[str, Any]:
    """The Event columns for a found event's times (all-day events keep only their day)."""
    start = dt.datetime.fromisoformat(item["start"]) if item.get("start") else None
    end = dt.datetime.fromisoformat(item["end"]) if item.get("end") else None
    if item.get("all_day") and start is not None:
        day = start.astimezone(ZoneInfo(user.timezone)).date() if start.tzinfo else start.date()
        return {"starts_at": None, "ends_at": None, "all_day_date": day}
    return {"starts_at": start, "ends_at": end, "all_day_date": None}


def _same_event(user: User, item: dict[str, Any]) -> Event | None:
    """An email event already proposed with this title and time (the same booking mailed
    twice, under two Message-IDs)."""
    times = _times(item, user)
    query = Event.select().where(
        (Event.owner == user)
        & (Event.source_type == EventSource.EMAIL)
        & (Event.description == _title(item))
        & Event.status.in_([EventStatus.PENDING, EventStatus.CONFIRMED])
    )
    for event in query:
        if (event.starts_at, event.all_day_date) == (times["starts_at"], times["all_day_date"]):
            return event
    return None


def _title(item: dict[str, Any]) -> str:
    return " ".join(str(item.get("title") or "Event").split())[:MAX_TITLE]


def _suggest(user: User, item: dict[str, Any], ref: str, subject: str) -> Event:
    now = utcnow()
    times = _times(item, user)
    expires = now + runtime.current().settings.suggestion_ttl
    if times["starts_at"] is not None and now < times["starts_at"] < expires:
        expires = times["starts_at"]  # a suggestion is moot once the event has begun
    event = Event.create(
        owner=user,
        description=_title(item),
        location=(" ".join(str(item["location"]).split())[:MAX_LOCATION] or None)
        if item.get("location")
        else None,
        source_type=EventSource.EMAIL,
        source_ref=ref,
        source_sequence=int(item.get("sequence") or 0),
        status=EventStatus.PENDING,
        expires_at=expires,
        **times,
    )
    search.index_event(event)
    record(event, AuditAction.CREATED, AuditActor.SYSTEM, {"source": item.get("source")})
    text, rows = suggestion(event, user, subject)
    say(user, text, rows, key=event_suggestion_key(event.id), unprompted=True)
    return event


def suggestion(event: Event, user: User, subject: str | None = None) -> replies.Reply:
    """The question about a pending event: what, when, where, and [Confirm] [Reject]."""
    origin = (
        f"📧 From email “{escape(subject[:MAX_SUBJECT])}”:\n" if subject else "📧 From email:\n"
    )
    text, _ = replies.event(event, user)
    return f"📧 From email{origin}:\n{text}\nAdd it?", [
        [
            replies.button(user, "Confirm", EVENT_CONFIRM, event.id),
            replies.button(user, "Reject", EVENT_REJECT, event.id),
        ]
    ]


def _update(user: User, event: Event, item: dict[str, Any]) -> bool:
    """A newer version of an invite: new times, title or place; False if nothing changed."""
    changes = {"description": _title(item), "location": item.get("location"), **_times(item, user)}
    changed = {k: v for k, v in changes.items() if getattr(event, k) != v}
    event.source_sequence = int(item.get("sequence") or 0)
    if not changed or event.status not in (EventStatus.PENDING, EventStatus.CONFIRMED):
        event.save()
        return False
    for name, value in changed.items():
        setattr(event, name, value)
    event.save()
    search.index_event(event)
    record(event, AuditAction.UPDATED, AuditActor.SYSTEM, {"changed": sorted(changed)})
    if event.status == EventStatus.PENDING:
        _redraw_suggestion(user, event, f"update:event:{event.id}:{event.source_sequence}")
    else:
        move_reminders(event, user)
        text, rows = replies.event(event, user)
        say(
            user,
            f"🔄 Changed by the organiser:\n{text}",
            rows,
            key=f"moved:event:{event.id}:{event.source_sequence}",
            unprompted=True,
        )
    return True


def _cancel(user: User, event: Event) -> bool:
    """The organiser cancelled: the event is withdrawn and its reminder with it."""
    if event.status not in (EventStatus.PENDING, EventStatus.CONFIRMED):
        return False
    was_pending = event.status == EventStatus.PENDING
    event.transition(EventStatus.REJECTED, expires_at=None)
    search.index_event(event)
    _cancel_reminders(event)
    record(event, AuditAction.REJECTED, AuditActor.SYSTEM, {"cancelled_by": "organiser"})
    text = f"❌ Cancelled by the organiser: “{escape(event.description)}”"
    if was_pending:
        asked = sent_message_id(event_suggestion_key(event.id))
        if asked is not None:
            edit(user, asked, text, key=f"cancelled:event:{event.id}")
            return True
    say(user, text, key=f"cancelled:event:{event.id}", unprompted=True)
    return True


def _redraw_suggestion(user: User, event: Event, key: str) -> None:
    text, rows = suggestion(event, user)
    asked = sent_message_id(event_suggestion_key(event.id))
    if asked is not None:
        edit(user, asked, text, key=key, buttons=rows)
    else:
        say(user, text, rows, key=key, unprompted=True)


def reminder_time(event: Event, user: User) -> dt.datetime | None:
    """When a confirmed event is announced: ``event_reminder_minutes`` before a timed one,
    the user's default time on the day of an all-day one; None once that has passed."""
    zone = ZoneInfo(user.timezone)
    if event.all_day_date is not None:
        default = dt.time.fromisoformat(user.default_time)
        moment = dt.datetime.combine(event.all_day_date, default, zone)
    elif event.starts_at is not None:
        lead = dt.timedelta(minutes=runtime.current().settings.event_reminder_minutes)
        moment = event.starts_at - lead
    else:
        return None
    return moment if moment > utcnow() else None


def move_reminders(event: Event, user: User) -> None:
    """Keep an event's pending reminder at the right distance from its (new) time."""
    when = reminder_time(event, user)
    pending = Reminder.select().where(
        (Reminder.event == event) & (Reminder.state == ReminderState.SCHEDULED)
    )
    if when is None:
        _cancel_reminders(event)
        return
    for reminder in pending:
        reminder.fire_at = when
        reminder.text = _reminder_text(event, user)
        reminder.save()


def _cancel_reminders(event: Event) -> None:
    for reminder in Reminder.select().where(
        (Reminder.event == event) & (Reminder.state == ReminderState.SCHEDULED)
    ):
        reminder.transition(ReminderState.CANCELLED)


def _reminder_text(event: Event, user: User) -> str:
    if event.starts_at is None:
        return f"Today: {event.description}"
    local = event.starts_at.astimezone(ZoneInfo(user.timezone))
    place = f" ({event.location})" if event.location else ""
    return f"{event.description} at {local:%H:%M}{place}"


def _decide(user: User, event_id: int, target: EventStatus, action: AuditAction) -> Event:
    """Move the user's pending suggestion to ``target``; a decided or expired one refuses."""
    event = actions.owned(Event, user, event_id)
    if event.status == EventStatus.EXPIRED:
        raise buttons.ButtonRejected("That suggestion expired.")
    if event.status != EventStatus.PENDING or not event.transition(target, expires_at=None):
        raise buttons.ButtonRejected("That was decided already.")
    search.index_event(event)
    record(event, action, AuditActor.USER)
    return event


def _confirm(user: User, event_id: int) -> tuple[str, actions.Redraw]:
    event = _decide(user, event_id, EventStatus.CONFIRMED, AuditAction.CONFIRMED)
    text, rows = replies.event(event, user)
    when = reminder_time(event, user)
    if when is not None:
        Reminder.create(owner=user, event=event, text=_reminder_text(event, user), fire_at=when)
        text += f"\n⏰ I'll remind you {when_text(when, user.timezone)}."
    return "Added.", (f"✅ Added.\n{text}", rows)


def _reject(user: User, event_id: int) -> tuple[str, actions.Redraw]:
    event = _decide(user, event_id, EventStatus.REJECTED, AuditAction.REJECTED)
    return "Not added.", (f"Not added: “{escape(event.description)}”", None)


actions.register(EVENT_CONFIRM, _confirm)
actions.register(EVENT_REJECT, _reject)
