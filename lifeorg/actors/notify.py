"""``notify``: send one outbox row through Telegram (or the terminal), within the limits."""

from __future__ import annotations

from typing import Any

from lifeorg import metrics, runtime
from lifeorg.actors.step import step
from lifeorg.errors import StepDeferred
from lifeorg.models import Job, OutboxMessage, User
from lifeorg.models.audit import record
from lifeorg.models.base import utcnow
from lifeorg.models.states import AuditAction, AuditActor, OutboxStatus
from lifeorg.pipeline import outbox
from lifeorg.pipeline.quiet import quiet_until
from lifeorg.telegram import TelegramBadRequest, TelegramForbidden, TelegramRetryAfter

# How long a send waits for a turn under the rate limits before it is deferred.
TURN_WAIT_S = 5.0
# When a deferred send tries again.
DEFER_S = 1.0


def send(job: Job) -> dict[str, Any]:
    """Deliver the row (outside any transaction: it waits on the limits and the network)."""
    row = OutboxMessage.get_or_none(OutboxMessage.id == job.payload["outbox_id"])
    if row is None or row.status != OutboxStatus.PENDING:
        return {"skipped": "already sent or gone"}
    user = User.get_or_none(User.id == row.owner_id)
    if user is not None and not user.active:
        return {"failed": "the user has blocked the bot"}
    if user is not None and row.payload.get("unprompted"):
        ends = quiet_until(user, utcnow())
        if ends is not None:
            raise StepDeferred(
                f"quiet hours until {ends.isoformat()}", (ends - utcnow()).total_seconds()
            )
    rt = runtime.current()
    if row.method != outbox.ANSWER_CALLBACK and not rt.pacer.wait_turn(row.chat_id, TURN_WAIT_S):
        raise StepDeferred(f"no sending turn for chat {row.chat_id} yet", DEFER_S)
    try:
        message_id = _deliver(rt.messenger, row)
    except TelegramForbidden as exc:
        metrics.count_notification(row.method, "blocked")
        return {"failed": str(exc), "blocked": True}
    except TelegramBadRequest as exc:
        metrics.count_notification(row.method, "rejected")
        # Retrying the same request gets the same answer; keep the reason for the operator.
        return {"failed": str(exc)}
    except TelegramRetryAfter:
        metrics.count_notification(row.method, "rate_limited")
        raise
    except Exception:
        metrics.count_notification(row.method, "error")
        raise
    metrics.count_notification(row.method, "sent")
    # Recorded at once, on its own: a worker killed before the step commits must not leave
    # the row pending, or the retry would send the message a second time. What remains is
    # the moment between Telegram's answer and this write.
    row.transition(
        OutboxStatus.SENT,
        sent_at=utcnow(),
        telegram_message_id=message_id,
        attempts=row.attempts + 1,
    )
    return {"message_id": message_id}


@step("notify", time_limit_s=60, prepare=send)
def notify(job: Job, sent: dict[str, Any]) -> dict[str, Any]:
    """Queue the next part of a sent message; a blocked bot deactivates the user; a refused
    message is failed with its reason (nothing of either is retried)."""
    row = OutboxMessage.get_or_none(OutboxMessage.id == job.payload["outbox_id"])
    if row is not None and row.status == OutboxStatus.SENT:
        outbox.submit_next(row)  # keyed: a no-op when an earlier attempt did it
        return sent
    if row is None or row.status != OutboxStatus.PENDING or "skipped" in sent:
        return sent
    if "failed" in sent:
        if sent.get("blocked"):
            user = User.get_by_id(row.owner_id)
            user.active = False
            user.save()
            record(user, AuditAction.UPDATED, AuditActor.SYSTEM, {"active": False, "why": "403"})
        row.transition(OutboxStatus.FAILED, last_error=sent["failed"])
        return sent
    return sent


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
