"""The bot's processes: ``lifeorg bot`` (polling), ``lifeorg web`` (webhook), ``lifeorg run``.

Each checks its configuration first and fails with the variable to set, starts the runtime
(the bot and the webhook without actors, so they never load the pipeline), and stops
gracefully on SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import sys
import threading

from lifeorg import runtime
from lifeorg.bot.polling import bot_commands, start_polling, stop_on_signals
from lifeorg.bot.webhook import make_server, webhook_secret, webhook_url
from lifeorg.config import Settings
from lifeorg.errors import ConfigError, LifeorgError
from lifeorg.telegram import TelegramBadRequest, TelegramClient, TelegramUnavailable

log = logging.getLogger(__name__)

# After SIGTERM, an update being accepted gets this long to commit; platforms send SIGKILL
# after 30 s (Heroku) or 10 s (docker stop), and a long poll in flight needs no waiting.
STOP_GRACE_S = 8.0
# How often the main thread checks that the thread doing the work is still alive.
WATCH_INTERVAL_S = 1.0


def telegram_client(settings: Settings) -> TelegramClient:
    """The Bot API client; raises ConfigError when there is no bot token."""
    token = settings.telegram_bot_token
    if token is None or not token.get_secret_value():
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set: get one from @BotFather")
    return TelegramClient(token.get_secret_value(), settings.telegram_api_url)


def check_token(client: TelegramClient) -> None:
    """Fail fast on a token Telegram refuses; an unreachable Telegram is retried later."""
    try:
        client.get_me()
    except TelegramBadRequest as exc:
        raise ConfigError(f"TELEGRAM_BOT_TOKEN: Telegram refused it ({exc})") from None
    except TelegramUnavailable as exc:
        log.warning("Telegram is unreachable for now, carrying on: %s", exc)


def require_broker(settings: Settings, command: str) -> None:
    """The bot and webhook only enqueue: without a shared broker no worker would see the work."""
    if settings.queue_url is None:
        raise ConfigError(
            f"lifeorg {command} hands updates to worker processes, so it needs a broker: set "
            "REDIS_URL (or LIFEORG_BROKER_URL=amqp://...). For everything in one process, use "
            "`lifeorg run`."
        )


def start_runtime(settings: Settings, *, actors: bool) -> runtime.Runtime:
    """Start the runtime and warn about an empty allowlist; without actors, stay thin."""
    if not actors:
        keep_pillow_out()
    rt = runtime.start(settings, migrate=True, actors=actors)
    if not settings.allowed_users:
        log.warning(
            "LIFEORG_ALLOWED_USERS is empty: EVERY user will be refused. Set it to your "
            "Telegram user id(s), comma-separated."
        )
    return rt


def keep_pillow_out() -> None:
    """Stop pyTelegramBotAPI from loading pillow into the bot and web processes.

    telebot imports pillow, when it is installed, only to recognise PIL images passed as
    files; these processes never send one, and pillow belongs to the workers. A ``None`` in
    ``sys.modules`` makes that optional import fail the way telebot expects.
    """
    if "PIL" not in sys.modules:
        sys.modules["PIL"] = None  # type: ignore[assignment]


def run_bot(settings: Settings) -> None:
    """Long-poll Telegram and enqueue each allowed update until SIGTERM or SIGINT."""
    client = telegram_client(settings)
    require_broker(settings, "bot")
    rt = start_runtime(settings, actors=False)
    try:
        check_token(client)
        stop = threading.Event()
        stop_on_signals(stop)
        _watch(stop, start_polling(settings, client, stop))
    finally:
        rt.stop()


def run_web(settings: Settings) -> None:
    """Serve the webhook on $PORT until SIGTERM or SIGINT."""
    webhook_secret(settings)
    client = telegram_client(settings)
    require_broker(settings, "web")
    rt = start_runtime(settings, actors=False)
    try:
        server = make_server(settings, client)
        thread = threading.Thread(target=server.serve_forever, name="webhook", daemon=True)
        thread.start()
        log.info("webhook listening on port %s", server.server_address[1])
        stop = threading.Event()
        stop_on_signals(stop)
        _watch(stop, thread, server.shutdown)
        server.server_close()
    finally:
        rt.stop()


def set_webhook(settings: Settings, public_url: str) -> str:
    """Point Telegram at this deployment's webhook, with the secret; returns the full URL."""
    secret = webhook_secret(settings)
    client = telegram_client(settings)
    url = webhook_url(public_url)
    if not url.startswith("https://"):
        raise ConfigError(f"--set-webhook: Telegram only posts to https:// URLs (got {url!r})")
    client.set_webhook(url, secret)
    try:
        client.set_my_commands(bot_commands())
    except TelegramBadRequest as exc:
        log.error("Telegram refused the command list, the menu stays as it was: %s", exc)
    return url


def run_all(settings: Settings) -> None:
    """Polling and the workers in one process, for a laptop or a small server."""
    client = telegram_client(settings)
    rt = start_runtime(settings, actors=True)
    try:
        check_token(client)
        rt.start_workers()
        # Due reminders and the ledger's sweep; digests, mail polls and backups join them
        # with the scheduler process.
        from lifeorg.scheduler.ticker import Ticker

        ticker = Ticker(settings)
        ticker.start()
        stop = threading.Event()
        stop_on_signals(stop)
        _watch(stop, start_polling(settings, client, stop), shutdown=ticker.stop)
    finally:
        rt.stop()  # workers finish the step in hand; the ledger keeps what is still queued


def _watch(stop: threading.Event, thread: threading.Thread, shutdown=None) -> None:
    """Wait until ``stop`` is set or ``thread`` dies, then stop it and give it time to finish.

    Raises LifeorgError when the thread died on its own, so the platform restarts the process.
    """
    while thread.is_alive() and not stop.wait(WATCH_INTERVAL_S):
        pass
    died = not stop.is_set()
    stop.set()
    if shutdown is not None:
        shutdown()
    thread.join(STOP_GRACE_S)
    if thread.is_alive():
        log.warning("%s still busy after %.0f s; leaving it", thread.name, STOP_GRACE_S)
    if died:
        raise LifeorgError(f"{thread.name} stopped unexpectedly; the log above says why")
