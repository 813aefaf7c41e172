"""Dramatiq middleware written once for every actor: database connections and step metrics."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from dramatiq import Middleware

from lifeorg.models.base import db

log = logging.getLogger("lifeorg.steps")

# What the ledger step running on this thread noted about its attempt, for its log line.
_attempt = threading.local()


def note_attempt(job_id: int, attempt: int | None, outcome: str) -> None:
    """Tell StepMetrics which job attempt this message ran and how the ledger settled it
    (completed, retry, failed, deferred, skipped, lease_lost)."""
    _attempt.noted = (job_id, attempt, outcome)


class DatabaseConnection(Middleware):
    """Give each message a pooled Peewee connection and return it when the message ends."""

    def before_process_message(self, broker, message):
        db.connect(reuse_if_open=True)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self._release()

    def after_skip_message(self, broker, message):
        self._release()

    @staticmethod
    def _release() -> None:
        if not db.is_closed():
            # A step that raised may leave a transaction open; never pool a dirty connection.
            if db.in_transaction():
                db.rollback()
            db.close()


@dataclass
class StepStats:
    """Counts and timings of one actor's messages in this process."""

    processed: int = 0
    failed: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0


class StepMetrics(Middleware):
    """Time every message, keep per-actor totals, and log one line per step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = threading.local()
        self.stats: dict[str, StepStats] = {}

    def before_process_message(self, broker, message):
        self._started.at = time.perf_counter()
        _attempt.noted = None

    def after_process_message(self, broker, message, *, result=None, exception=None):
        started = getattr(self._started, "at", None) or time.perf_counter()
        elapsed_ms = (time.perf_counter() - started) * 1000
        with self._lock:
            stats = self.stats.setdefault(message.actor_name, StepStats())
            stats.processed += 1
            stats.failed += exception is not None
            stats.total_ms += elapsed_ms
            stats.max_ms = max(stats.max_ms, elapsed_ms)
        job_id, attempt, outcome = getattr(_attempt, "noted", None) or (
            message.args[0] if message.args else None,
            None,
            "ok" if exception is None else type(exception).__name__,
        )
        _attempt.noted = None
        log.info(
            "step=%s job=%s attempt=%s ms=%.1f outcome=%s message=%s",
            message.actor_name,
            job_id,
            attempt,
            elapsed_ms,
            outcome,
            message.message_id,
            extra={
                "kind": message.actor_name,
                "job_id": job_id,
                "attempt": attempt,
                "ms": round(elapsed_ms, 1),
                "outcome": outcome,
                "message_id": message.message_id,
            },
        )
        # Imported here: the bot and the scheduler load this module but never process steps.
        from lifeorg import metrics

        metrics.observe_step(message.actor_name, elapsed_ms / 1000, outcome)

    def snapshot(self) -> dict[str, StepStats]:
        """A copy of the per-actor totals."""
        with self._lock:
            return {name: StepStats(**vars(s)) for name, s in self.stats.items()}
