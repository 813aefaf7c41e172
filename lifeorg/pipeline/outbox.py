"""Queueing what the bot says: one outbox row per Telegram message, sent by ``notify``.

A row's idempotency key makes saying the same thing twice (a retried step) a no-op, and
the notify job for it is submitted in the same transaction, so a reply is neither lost nor
sent twice. A long text becomes several rows, sent in order: each part's notify submits
the next part's.
"""

from __future__ import annotations

from typing import Any

from lifeorg import ledger
from lifeorg.models import OutboxMessage, User
from lifeorg.pipeline.formatting import split_text
from lifeorg.telegram import Buttons

SEND = "sendMessage"
EDIT = "editMessageText"
ANSWER_CALLBACK = "answerCallbackQuery"


def say(
    user: User,
    text: str,
    buttons: Buttons | None = None,
    *,
    key: str,
    reply_to: int | None = None,
    unprompted: bool = False,
) -> OutboxMessage:
    """Send ``text`` (HTML) to the user's chat, split into parts if it is long.

    ``unprompted`` messages (reminders, nudges, digests) wait out the user's quiet hours.
    """
    parts = split_text(text) or ["…"]
    rows = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        payload: dict[str, Any] = {
            "text": part,
            "buttons": [list(map(list, row)) for row in buttons] if buttons and last else None,
            "reply_to": reply_to if index == 0 else None,
            "next": f"{key}#{index + 1}" if not last else None,
            "unprompted": unprompted,
        }
        rows.append(_queue(user, SEND, f"{key}#{index}" if index else key, payload))
    _submit(rows[0])
    return rows[0]


def edit(user: User, message_id: int, text: str, *, key: str, buttons: Buttons | None = None):
    """Change a message the bot sent (after a button press, say)."""
    payload = {
        "message_id": message_id,
        "text": split_text(text)[0] if text else "…",
        "buttons": [list(map(list, row)) for row in buttons] if buttons else None,
    }
    row = _queue(user, EDIT, key, payload)
    _submit(row)
    return row


def answer_callback(user: User, callback_id: str, text: str | None, *, key: str):
    """Acknowledge a button press (the small notice at the top of the chat)."""
    row = _queue(user, ANSWER_CALLBACK, key, {"callback_id": callback_id, "text": text})
    _submit(row)
    return row


def sent_message_id(key: str) -> int | None:
    """The Telegram id of the message said under ``key``, once it has been sent."""
    row = OutboxMessage.get_or_none(OutboxMessage.idempotency_key == key)
    return row.telegram_message_id if row is not None else None


def _queue(user: User, method: str, key: str, payload: dict[str, Any]) -> OutboxMessage:
    OutboxMessage.insert(
        owner=user.id, chat_id=user.chat_id, idempotency_key=key, method=method, payload=payload
    ).on_conflict_ignore().execute()
    return OutboxMessage.get(OutboxMessage.idempotency_key == key)


def _submit(row: OutboxMessage) -> None:
    ledger.submit(
        "notify", f"notify:{row.idempotency_key}", {"outbox_id": row.id}, owner_id=row.owner_id
    )


def submit_next(row: OutboxMessage) -> None:
    """After a part is sent, queue the part that follows it."""
    following = row.payload.get("next")
    if following:
        nxt = OutboxMessage.get_or_none(OutboxMessage.idempotency_key == following)
        if nxt is not None:
            _submit(nxt)
