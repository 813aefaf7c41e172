"""``notify``: send one outbox row through Telegram (or the terminal), within the limits."""

from __future__ import annotations

from typing import Any

from lifeorg import runtime
from lifeorg.actors.step import step
from lifeorg.errors import StepError
from lifeorg.models import Job, OutboxMessage, User
from lifeorg.models.audit import record
from lifeorg.models.base import utcnow
from lifeorg.models.states import AuditAction, AuditActor, OutboxStatus
from lifeorg.pipeline import outbox
from lifeorg.telegram import TelegramBadRequest, TelegramForbidden

# How long a send waits for a turn under the rate limits before it is retried later.
TURN_WAIT_S = 5.0


class NoTurnYet(StepError):
    """The rate limits gave no turn in time; retry shortly."""

    retry_after_s = 1.0


@step("notify", time_limit_s=60)
def notify(job: Job) -> dict[str, Any]:
    """Send the outbox row once; a blocked bot deactivates the user, nothing is retried."""
    row = OutboxMessage.get_or_none(OutboxMessage.id == job.payload["outbox_id"])
    if row is None or row.status != OutboxStatus.PENDING:
        return {"skipped": "already sent or gone"}
    user = User.get_or_none(User.id == row.owner_id)
    if user is not None and not user.active:
        row.transition(OutboxStatus.FAILED, last_error="the user has blocked the bot")
        return {"skipped": "user inactive"}
    rt = runtime.current()
    if row.method != outbox.ANSWER_CALLBACK and not rt.pacer.wait_turn(row.chat_id, TURN_WAIT_S):
        raise NoTurnYet(f"no sending turn for chat {row.chat_id} yet")
    try:
        message_id = _deliver(rt.messenger, row)
    except TelegramForbidden as exc:
        if user is not None:
            user.active = False
            user.save()
            record(user, AuditAction.UPDATED, AuditActor.SYSTEM, {"active": False, "why": "403"})
        row.transition(OutboxStatus.FAILED, last_error=str(exc))
        return {"failed": "blocked"}
    except TelegramBadRequest as exc:
        # Retrying the same request gets the same answer; keep the reason for the operator.
        row.transition(OutboxStatus.FAILED, last_error=str(exc))
        return {"failed": str(exc)}
    row.transition(
        OutboxStatus.SENT,
        sent_at=utcnow(),
        telegram_message_id=message_id,
        attempts=row.attempts + 1,
    )
    outbox.submit_next(row)
    return {"message_id": message_id}


def _deliver(messenger: Any, row: OutboxMessage) -> int | None:
    payload = row.payload
    buttons = payload.get("buttons")
    if row.method == outbox.SEND:
        return messenger.send_message(
            row.chat_id, payload["text"], buttons, payload.get("reply_to")
        )
    if row.method == outbox.EDIT:
        messenger.edit_message_text(row.chat_id, payload["message_id"], payload["text"], buttons)
        return payload["message_id"]
    messenger.answer_callback(payload["callback_id"], payload.get("text"))
    return None
