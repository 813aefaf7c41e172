"""Taking in one Telegram update: exactly once, for an allowed user, losing nothing.

A message becomes a memory (text or caption, links, forward origin, photo file id); the
photos of an album become one memory; an edited message updates its memory; a command
or a button press goes to its handler; the answer to a question the bot asked goes back
to that question. Anything else is logged and ignored.
"""

from __future__ import annotations

import logging
from typing import Any

import peewee

from lifeorg import ledger, runtime
from lifeorg.config import Settings
from lifeorg.models import Memory, ProcessedUpdate, User
from lifeorg.models.audit import record
from lifeorg.models.base import db, utcnow
from lifeorg.models.states import AuditAction, AuditActor, MediaType, MemoryStatus
from lifeorg.pipeline import (
    actions,
    commands,
    email_events,  # noqa: F401  (its [Confirm] [Reject] buttons)
    replies,
    search,
)
from lifeorg.pipeline.outbox import say

log = logging.getLogger(__name__)

# Telegram caps a message at 4096 characters; the terminal chat does not, so cap it here.
MAX_CONTENT = 20_000


def take_update(update: dict[str, Any], settings: Settings) -> str:
    """Handle one update once; returns what happened, for the ledger."""
    update_id = update.get("update_id")
    if not isinstance(update_id, int):
        return "ignored: no update id"
    sender = _sender(update)
    try:
        with db.atomic():
            ProcessedUpdate.create(update_id=update_id, telegram_user_id=sender.get("id"))
    except peewee.IntegrityError:
        return "duplicate update"
    if not isinstance(sender.get("id"), int) or sender.get("is_bot"):
        return "ignored: no human sender"
    if sender["id"] not in settings.allowed_users:
        return "ignored: sender not allowed"  # the bot already refused them
    if "message" in update:
        return take_message(update["message"], update_id, settings)
    if "edited_message" in update:
        return take_edit(update["edited_message"], settings)
    if "callback_query" in update:
        callback = update["callback_query"]
        user = user_for(callback["from"], (callback.get("message") or {}).get("chat"), settings)
        return actions.press(user, callback, update_id)
    if "my_chat_member" in update:
        return take_membership(update["my_chat_member"], settings)
    return "ignored: unsupported update"


def _sender(update: dict[str, Any]) -> dict[str, Any]:
    for kind in ("message", "edited_message", "callback_query", "my_chat_member"):
        part = update.get(kind)
        if isinstance(part, dict) and isinstance(part.get("from"), dict):
            return part["from"]
    return {}


def user_for(sender: dict[str, Any], chat: dict[str, Any] | None, settings: Settings) -> User:
    """The user for a sender, created with the configured defaults on first contact."""
    chat_id = (chat or {}).get("id", sender["id"])
    user = User.get_or_none(User.telegram_user_id == sender["id"])
    if user is None:
        User.insert(
            telegram_user_id=sender["id"],
            chat_id=chat_id,
            display_name=str(sender.get("first_name", ""))[:255],
            language_code=sender.get("language_code"),
            timezone=settings.timezone,
            default_time=settings.default_reminder_time,
        ).on_conflict_ignore().execute()
        user = User.get(User.telegram_user_id == sender["id"])
        record(user, AuditAction.CREATED, AuditActor.USER, owner_id=user.id)
    elif user.chat_id != chat_id or not user.active:
        user.chat_id, user.active = chat_id, True  # they wrote to us: not blocked any more
        user.save()
    return user


def take_message(message: dict[str, Any], update_id: int, settings: Settings) -> str:
    """A new message: a command, an answer to a question, or something to file."""
    user = user_for(message["from"], message.get("chat"), settings)
    whole = str(message.get("text") or message.get("caption") or "") or _shared(message)
    text = whole[:MAX_CONTENT]
    photo = _largest_photo(message)
    if text.startswith("/") and not message.get("forward_origin"):
        return commands.handle(user, text, message)
    if user.awaiting and text and photo is None and actions.answer(user, text, message):
        return "answered a question"
    group = message.get("media_group_id")
    if group is not None:
        joined = _join_album(user, str(group), text)
        if joined is not None:
            _tag(joined, photo)
            return f"album part of memory {joined.id}"
    memory = _new_memory(user, message, text, photo, group)
    if memory is None:  # a concurrent part of the same album made it first
        joined = _join_album(user, str(group), text)
        _tag(joined, photo)
        return f"album part of memory {joined.id}"
    _tag(memory, photo)
    if len(whole) > MAX_CONTENT:
        say(
            user,
            f"✂️ That message has {len(whole):,} characters; I kept the first {MAX_CONTENT:,}. "
            "Send the rest as another message.",
            key=f"reply:cut:{memory.id}",
            reply_to=message.get("message_id"),
        )
    if not text:
        # Without text it is a note; a photo's reply comes with its tags (tag_image).
        kind = _unreadable_kind(message) if photo is None else None
        memory.transition(MemoryStatus.CONFIRMED, pending_expires_at=None, content=kind or "")
        if photo is None:
            reply, buttons = replies.note(memory, user)
            if kind:
                reply = (
                    f"📝 I noted that you sent {kind}, but I can only read text and photos: "
                    "send what matters in it as text."
                )
            say(
                user,
                reply,
                buttons,
                key=f"reply:memory:{memory.id}",
                reply_to=message.get("message_id"),
            )
        return f"memory {memory.id} ({'photo' if photo else kind or 'no text'})"
    ledger.submit(
        "classify", f"classify:memory:{memory.id}", {"memory_id": memory.id}, owner_id=user.id
    )
    return f"memory {memory.id}"


# What a message without text or photo is, as the user would say it; its file stays on
# Telegram's servers under the memory's file id.
_UNREADABLE = {
    "voice": "a voice message",
    "audio": "an audio file",
    "video": "a video",
    "video_note": "a video message",
    "animation": "a GIF",
    "sticker": "a sticker",
    "document": "a file",
    "poll": "a poll",
    "dice": "a dice roll",
}


def _unreadable_kind(message: dict[str, Any]) -> str | None:
    """What the message holds that cannot be read ("a voice message"), or None."""
    for field, label in _UNREADABLE.items():
        if message.get(field):
            return label
    return None


def _shared(message: dict[str, Any]) -> str:
    """A shared place or contact, as text worth keeping (and searching)."""
    venue, place, contact = (message.get(k) or {} for k in ("venue", "location", "contact"))
    if venue:
        return " ".join(str(venue.get(k) or "") for k in ("title", "address")).strip()
    if place.get("latitude") is not None and place.get("longitude") is not None:
        return f"📍 {place['latitude']:.5f}, {place['longitude']:.5f}"
    if contact:
        name = " ".join(str(contact.get(k) or "") for k in ("first_name", "last_name")).strip()
        return f"👤 {name} {contact.get('phone_number') or ''}".strip()
    return ""


def _tag(memory: Memory, photo: str | None) -> None:
    """Have the photo stored, described and tagged (one job per image of an album)."""
    if photo is not None:
        ledger.submit(
            "tag_image",
            f"tag_image:{memory.id}:{photo}",
            {"memory_id": memory.id, "file_id": photo},
            owner_id=memory.owner_id,
        )


def _largest_photo(message: dict[str, Any]) -> str | None:
    """The file id of the message's image: its largest photo size, or an image sent as a file."""
    sizes = message.get("photo") or []
    if sizes:
        return max(sizes, key=lambda size: size.get("file_size") or 0).get("file_id")
    document = message.get("document") or {}
    if str(document.get("mime_type", "")).startswith("image/"):
        return document.get("file_id")
    return None


def _new_memory(
    user: User, message: dict[str, Any], text: str, photo: str | None, group: Any
) -> Memory | None:
    try:
        with db.atomic():
            memory = Memory.create(
                owner=user,
                content=text,
                media_type=MediaType.IMAGE if photo else None,
                telegram_file_id=photo,
                status=MemoryStatus.PENDING,
                pending_expires_at=utcnow() + runtime.current().settings.suggestion_ttl,
                source_chat_id=(message.get("chat") or {}).get("id"),
                source_message_id=message.get("message_id"),
                forward_origin=message.get("forward_origin"),
                media_group_id=str(group) if group is not None else None,
            )
    except peewee.IntegrityError:
        return None
    search.index_memory(memory)
    record(
        memory,
        AuditAction.CREATED,
        AuditActor.USER,
        {"undo": {"op": "delete", "model": "memory", "id": memory.id}},
    )
    return memory


def _join_album(user: User, group: str, caption: str) -> Memory | None:
    memory = Memory.get_or_none((Memory.owner == user) & (Memory.media_group_id == group))
    if memory is not None and caption and caption not in memory.content:
        memory.content = f"{memory.content}\n{caption}".strip()
        memory.save()
        search.index_memory(memory)
    return memory


def take_edit(message: dict[str, Any], settings: Settings) -> str:
    """An edited message updates the memory it made."""
    user = user_for(message["from"], message.get("chat"), settings)
    memory = Memory.get_or_none(
        (Memory.owner == user)
        & (Memory.source_chat_id == (message.get("chat") or {}).get("id"))
        & (Memory.source_message_id == message.get("message_id"))
    )
    text = str(message.get("text") or message.get("caption") or "")[:MAX_CONTENT]
    if memory is None or not text or text == memory.content:
        return "edit ignored"
    before = memory.content
    memory.content = text
    memory.save()
    search.index_memory(memory)
    record(
        memory,
        AuditAction.UPDATED,
        AuditActor.USER,
        {
            "undo": {
                "op": "update",
                "model": "memory",
                "id": memory.id,
                "values": {"content": before},
            }
        },
    )
    say(
        user,
        "✏️ Updated the saved text.",
        key=f"edit:{memory.id}:{message.get('edit_date')}",
        reply_to=message.get("message_id"),
    )
    return f"memory {memory.id} edited"


def take_membership(member: dict[str, Any], settings: Settings) -> str:
    """Blocking the bot deactivates the user; unblocking reactivates them."""
    user = User.get_or_none(User.telegram_user_id == member["from"]["id"])
    if user is None:
        return "membership of an unknown user"
    status = (member.get("new_chat_member") or {}).get("status")
    active = status not in ("kicked", "left")
    if user.active != active:
        user.active = active
        user.save()
        record(user, AuditAction.UPDATED, AuditActor.USER, {"active": active})
    return f"user {'active' if active else 'inactive'}"
