"""Long polling: fetch updates from Telegram and hand each to ``intake.accept``, losing none.

The offset moves past an update only after ``accept`` returned, so the job row is committed
before Telegram forgets the update. A crash, or a database outage, means Telegram sends the
update again; the ledger's key (``update:<id>``) and ``ingest`` make that harmless.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import peewee

from lifeorg.bot.intake import accept
from lifeorg.config import Settings
from lifeorg.telegram import (
    TelegramBadRequest,
    TelegramClient,
    TelegramRetryAfter,
    TelegramUnavailable,
)

log = logging.getLogger(__name__)

# The first retry after a failure comes quickly (a blip), later ones slow down so a long
# outage of Telegram or the database is not hammered; a minute keeps recovery prompt.
BACKOFF_FIRST_S = 1.0
BACKOFF_FACTOR = 2.0
BACKOFF_MAX_S = 60.0
# Telegram's retry_after is honoured, but never beyond this: a bogus huge value must not
# park the bot for hours.
RETRY_AFTER_MAX_S = 300.0
# Failures a poll survives: Telegram and the network failing, Telegram answering 409 (a
# webhook was set or another bot process is polling) and the database failing.
RETRIED = (TelegramUnavailable, TelegramBadRequest, peewee.PeeweeException)


def run_polling(
    settings: Settings, client: TelegramClient, *, stop: threading.Event | None = None
) -> None:
    """Poll Telegram and accept every update in order until ``stop`` is set."""
    stop = stop or threading.Event()
    offset: int | None = None
    ready = False
    failures = 0
    while not stop.is_set():
        try:
            if not ready:
                prepare(client)
                ready = True
            for update in client.get_updates(offset, settings.polling_timeout_s):
                accept(update, settings, client)
                offset = _next_offset(update, offset)
                if stop.is_set():
                    break  # the rest of the batch comes again with the next start
        except TelegramRetryAfter as exc:
            failures += 1
            wait = min(exc.retry_after_s, RETRY_AFTER_MAX_S)
            log.warning("Telegram asked to wait %.0f s: %s", wait, exc)
        except RETRIED as exc:
            failures += 1
            wait = backoff(failures)
            reason = (str(exc).strip().splitlines() or [""])[0]
            log.warning(
                "polling failed (%s: %s); again in %.1f s", type(exc).__name__, reason, wait
            )
        else:
            failures = 0
            continue
        stop.wait(wait)
    log.info("polling stopped")


def prepare(client: TelegramClient) -> None:
    """Show the bot's commands in Telegram's menu and leave webhook mode."""
    try:
        client.set_my_commands(bot_commands())
    except TelegramBadRequest as exc:
        log.error("Telegram refused the command list, the menu stays as it was: %s", exc)
    # getUpdates answers 409 while a webhook is set; polling wins when this process runs.
    client.delete_webhook()


def bot_commands() -> list[tuple[str, str]]:
    """The slash commands for Telegram's menu."""
    from lifeorg.pipeline.menu import COMMANDS

    return list(COMMANDS)


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` failures in a row."""
    return min(BACKOFF_FIRST_S * BACKOFF_FACTOR ** max(failures - 1, 0), BACKOFF_MAX_S)


def _next_offset(update: Any, offset: int | None) -> int | None:
    update_id = update.get("update_id") if isinstance(update, dict) else None
    if isinstance(update_id, int) and (offset is None or update_id >= offset):
        return update_id + 1
    return offset


def start_polling(
    settings: Settings, client: TelegramClient, stop: threading.Event
) -> threading.Thread:
    """Run ``run_polling`` in a daemon thread; returns the thread."""
    thread = threading.Thread(
        target=run_polling,
        args=(settings, client),
        kwargs={"stop": stop},
        name="telegram-polling",
        daemon=True,  # a long poll in flight holds nothing: it must not block exit
    )
    thread.start()
    return thread


def stop_on_signals(stop: threading.Event) -> None:
    """Set ``stop`` on SIGTERM (a deploy, ``docker stop``) and SIGINT (Ctrl-C)."""

    def handle(signum: int, frame: object) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
