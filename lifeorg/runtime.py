"""Process start: settings, database, broker and actors, in that order, exactly once.

Every entry point (the command line, the Dramatiq worker processes, the tests) starts here,
so importing any other module opens nothing and reads no environment.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dramatiq
import peewee
from dramatiq.common import q_name
from dramatiq.errors import QueueJoinTimeout

from lifeorg.config import Settings

if TYPE_CHECKING:
    from lifeorg.llm import LLMClient
    from lifeorg.pacing import Pacer

log = logging.getLogger(__name__)

# Dramatiq's main process forwards the platform's SIGTERM to its worker processes within
# milliseconds, and the platform sends them one of its own too (Heroku signals every process
# in a dyno; honcho and systemd the whole process group). A second SIGTERM this soon after
# the first is the same stop request, not an operator's "hurry up".
DUPLICATE_SIGTERM_WINDOW_S = 2.0

_current: Runtime | None = None


@dataclass
class Runtime:
    """What a started process holds: its settings, database and broker."""

    settings: Settings
    database: peewee.Database
    broker: dramatiq.Broker
    workers: list[dramatiq.Worker] = field(default_factory=list)

    @functools.cached_property
    def llm(self) -> LLMClient:
        """This process's model client (one, so its circuit breaker sees every call)."""
        from lifeorg.llm import LLMClient

        return LLMClient(self.settings)

    @functools.cached_property
    def messenger(self) -> Any:
        """Who delivers replies: Telegram's Bot API (the chat replaces it with the terminal)."""
        from lifeorg.telegram import TelegramClient

        token = self.settings.telegram_bot_token
        if token is None:
            raise RuntimeError("TELEGRAM_BOT_TOKEN is not set, so there is no way to reply")
        return TelegramClient(token.get_secret_value(), self.settings.telegram_api_url)

    @functools.cached_property
    def pacer(self) -> Pacer:
        """Telegram's rate limits, kept in Redis when there is one, else in this process."""
        from lifeorg.pacing import LocalStore, Pacer, RedisStore

        client = getattr(self.broker, "client", None)
        if client is None and self.settings.redis_url:
            import redis

            url = self.settings.redis_connection_url(self.settings.redis_url)
            client = redis.Redis.from_url(url)
        store = RedisStore(client) if client is not None else LocalStore()
        return Pacer(store, self.settings.queue_namespace)

    @property
    def in_process(self) -> bool:
        """Whether the queue lives in this process (no Redis or RabbitMQ configured)."""
        from lifeorg.broker import InProcessBroker

        return isinstance(self.broker, InProcessBroker)

    def start_workers(self, threads: int | None = None) -> dramatiq.Worker:
        """Run worker threads in this process (for the in-process broker)."""
        worker = dramatiq.Worker(
            self.broker, worker_threads=threads or self.settings.worker_threads, worker_timeout=100
        )
        worker.start()
        self.workers.append(worker)
        return worker

    def settle(self, timeout_s: float = 30.0) -> None:
        """Wait until the in-process queues are empty and every worker is idle."""
        settle(self.broker, self.workers, timeout_s)

    def stop(self) -> None:
        """Stop the in-process workers and close the database pool."""
        for worker in self.workers:
            worker.stop()
        self.workers.clear()
        self.database.close_all()


def start(settings: Settings, *, migrate: bool = False, actors: bool = True) -> Runtime:
    """Open the database, set up the broker and declare the actors; once per process.

    ``actors=False`` is for processes that only submit work (the bot, the webhook): they
    never import the pipeline, its parser or the LLM client. A SIGTERM handler installed
    before this (Dramatiq's, in its worker processes) is made to take one stop request once.
    """
    if _current is not None:
        raise RuntimeError("lifeorg.runtime.start() was already called in this process")
    absorb_duplicate_sigterm()
    from lifeorg import logs
    from lifeorg.broker import setup_broker
    from lifeorg.database import open_database

    logs.configure(settings)  # the level, text or JSON lines, and secrets redacted
    database = open_database(settings, migrate=migrate)
    broker = setup_broker(settings)
    if actors:
        import lifeorg.actors  # noqa: F401  (declares every actor on the broker)

    return register(Runtime(settings, database, broker))


def absorb_duplicate_sigterm() -> None:
    """Make the SIGTERM handler in place ignore a repeat within DUPLICATE_SIGTERM_WINDOW_S.

    Dramatiq's worker processes take a second SIGTERM as "exit now" and abandon the steps
    in hand; signalled by the platform and by their main process at once, they would never
    finish a step on a deploy. Does nothing without a Python handler, or off the main thread.
    """
    handler = signal.getsignal(signal.SIGTERM)
    if not callable(handler) or threading.current_thread() is not threading.main_thread():
        return
    first_at: list[float] = []

    def once(signum: int, frame: Any) -> None:
        now = time.monotonic()
        if first_at and now - first_at[0] < DUPLICATE_SIGTERM_WINDOW_S:
            log.info("SIGTERM again at once: the same stop request, already being handled")
            return
        first_at[:] = [now]
        handler(signum, frame)

    signal.signal(signal.SIGTERM, once)


def register(runtime: Runtime) -> Runtime:
    """Make ``runtime`` this process's, for a process that opened its database and broker
    itself (the test session does)."""
    global _current
    if _current is not None:
        raise RuntimeError("this process already has a runtime")
    _current = runtime
    return runtime


def current() -> Runtime:
    """The runtime this process started with."""
    if _current is None:
        raise RuntimeError("the process has not started: call lifeorg.runtime.start(settings)")
    return _current


def settle(broker: dramatiq.Broker, workers: list[dramatiq.Worker], timeout_s: float) -> None:
    """Wait until an in-process broker's queues are empty and its workers idle.

    Raises TimeoutError when work is still going on after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        for name in {q_name(name) for name in broker.get_declared_queues()}:
            remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
            try:
                broker.join(name, timeout=remaining_ms, fail_fast=False)
            except QueueJoinTimeout:
                raise TimeoutError(f"queue {name!r} still busy after {timeout_s} s") from None
        for worker in workers:
            worker.join()
        # Work on one queue may have sent messages to another already joined: go again
        # until one pass finds every queue empty.
        if not any(queue.unfinished_tasks for queue in broker.queues.values()):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"work still going on after {timeout_s} s")
