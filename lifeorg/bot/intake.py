"""Taking in one Telegram update at the edge: check the sender, then hand it to the ledger.

This is all the bot and webhook processes do with an update. An allowed user's update
becomes an ``ingest`` job (committed before this returns: the durable hand-off); a stranger
gets one polite refusal, ever, and nothing of theirs but their id is kept or logged.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import peewee

from lifeorg import ledger
from lifeorg.config import Settings
from lifeorg.models.base import db
from lifeorg.models.conversation import RefusedUser
from lifeorg.telegram import TelegramClient, TelegramError, TelegramForbidden

log = logging.getLogger(__name__)

IGNORED, REFUSED, QUEUED = "ignored", "refused", "queued"
REFUSAL = (
    "Sorry, this is a private organiser and you are not on its list of users. "
    "Nothing you send here is kept."
)
# The parts of an update that carry a sender, in the order Telegram could send them.
SENDER_PARTS = ("message", "edited_message", "callback_query", "my_chat_member")


def accept(update: Any, settings: Settings, client: TelegramClient | None) -> str:
    """Queue an allowed user's update for ``ingest``, refuse a stranger, ignore junk.

    Returns "queued", "refused" or "ignored". Raises the database's error when the job
    cannot be written: the caller must then not acknowledge the update.
    """
    update_id = update.get("update_id") if isinstance(update, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        log.info("ignored an update without an update id")
        return IGNORED
    kind, sender_id = _sender(update)
    if sender_id is None:
        log.info("ignored update %s: no sender", update_id)
        return IGNORED
    with _connection():
        if sender_id not in settings.allowed_users:
            _refuse(update[kind], kind, sender_id, client)
            log.info("refused update %s from user %s (not allowed)", update_id, sender_id)
            return REFUSED
        ledger.submit("ingest", f"update:{update_id}", {"update": update})
    return QUEUED


def _sender(update: dict[str, Any]) -> tuple[str, int | None]:
    """The part of the update that has a sender, and the sender's user id."""
    for kind in SENDER_PARTS:
        part = update.get(kind)
        if isinstance(part, dict) and isinstance(part.get("from"), dict):
            sender_id = part["from"].get("id")
            if isinstance(sender_id, int) and not isinstance(sender_id, bool):
                return kind, sender_id
    return "", None


def _refuse(part: dict[str, Any], kind: str, user_id: int, client: TelegramClient | None) -> None:
    """Tell a stranger once that this organiser is private; a button press always gets a toast."""
    if kind == "callback_query":
        # The spinner on their button keeps turning until the press is answered.
        if client is not None and isinstance(part.get("id"), str):
            _quietly(client.answer_callback, part["id"], REFUSAL)
        return
    chat_id = (part.get("chat") or {}).get("id")
    if kind == "my_chat_member" or not isinstance(chat_id, int) or client is None:
        return  # joining or blocking the bot is not a message to answer
    try:
        with db.atomic():
            RefusedUser.create(telegram_user_id=user_id)
    except peewee.IntegrityError:
        return  # refused before: once is polite, twice is spam
    if not _quietly(client.send_message, chat_id, REFUSAL):
        # Not delivered (Telegram down): forget it, so their next message tries again.
        RefusedUser.delete().where(RefusedUser.telegram_user_id == user_id).execute()


def _quietly(call: Any, *args: Any) -> bool:
    """Make a Telegram call whose failure must not hold up the queue; True if it was done.

    A user who blocked the bot counts as done: nothing more can reach them.
    """
    try:
        call(*args)
    except TelegramForbidden:
        return True
    except TelegramError as exc:
        log.warning("could not answer a stranger: %s", exc)
        return False
    return True


@contextlib.contextmanager
def _connection() -> Iterator[None]:
    """A pooled connection for one update, returned afterwards unless the caller had one open.

    Each update takes its own, so a database restart costs one failed update, not a stale
    connection for the life of the process.
    """
    opened = db.is_closed()
    if opened:
        db.connect()
    try:
        yield
    finally:
        if opened and not db.is_closed():
            if db.in_transaction():
                db.rollback()
            db.close()
