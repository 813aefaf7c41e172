"""The webhook server: Telegram POSTs each update here; it is accepted or refused with a status.

POST /telegram  an update, with the secret in ``X-Telegram-Bot-Api-Secret-Token``:
                200 taken (queued, refused or ignored); 401 no secret; 403 wrong secret;
                411 no length; 413 too big; 400 not JSON; 503 could not be queued, so
                Telegram sends it again later.
GET /healthz    200 when the database answers, else 503.

The path is fixed and the secret travels in a header, so it never reaches an access log.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from lifeorg.bot.intake import accept
from lifeorg.config import Settings
from lifeorg.errors import ConfigError
from lifeorg.models.base import db
from lifeorg.telegram import TelegramClient

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram"
HEALTH_PATH = "/healthz"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's own rule for secret_token in setWebhook.
SECRET_RULE = re.compile(r"[A-Za-z0-9_-]{1,256}")
# An update is a few kilobytes; the largest (a long message with entities, or an album
# part with a caption) stays far below this. Anything bigger is not from Telegram.
MAX_BODY_BYTES = 1024 * 1024
# A client that sends its request slower than this loses its connection, so slow clients
# cannot hold every server thread.
REQUEST_TIMEOUT_S = 30
# Listen on every interface: the platform's router (Heroku, Dokku) forwards from outside.
DEFAULT_HOST = "0.0.0.0"


def webhook_secret(settings: Settings) -> str:
    """The configured webhook secret; raises ConfigError when missing or not Telegram's form."""
    if settings.webhook_secret is None:
        raise ConfigError(
            "LIFEORG_WEBHOOK_SECRET is not set: the webhook needs a secret so that only Telegram "
            "can post updates (1-256 characters of A-Z, a-z, 0-9, _ and -)"
        )
    secret = settings.webhook_secret.get_secret_value()
    if not SECRET_RULE.fullmatch(secret):
        raise ConfigError(
            "LIFEORG_WEBHOOK_SECRET: must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
            "(Telegram's rule)"
        )
    return secret


def webhook_url(public_url: str) -> str:
    """The full webhook address for the server's public base URL (or the full one)."""
    url = public_url.rstrip("/")
    return url if url.endswith(WEBHOOK_PATH) else url + WEBHOOK_PATH


class WebhookServer(ThreadingHTTPServer):
    """One thread per request; holds what the handler needs."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], settings: Settings, client: TelegramClient | None
    ) -> None:
        self.settings = settings
        self.client = client
        self.secret = webhook_secret(settings).encode()
        super().__init__(address, WebhookHandler)


def make_server(
    settings: Settings,
    client: TelegramClient | None,
    host: str = DEFAULT_HOST,
    port: int | None = None,
) -> WebhookServer:
    """A webhook server on ``host``:``port`` (``settings.port`` by default), not yet serving."""
    return WebhookServer((host, settings.port if port is None else port), settings, client)


class WebhookHandler(BaseHTTPRequestHandler):
    """Answers Telegram's POSTs and the platform's health checks."""

    server: WebhookServer
    timeout = REQUEST_TIMEOUT_S

    def do_POST(self) -> None:
        if urlsplit(self.path).path != WEBHOOK_PATH:
            self._answer(404, {"ok": False, "error": "not found"})
            return
        given = self.headers.get(SECRET_HEADER)
        if given is None:
            self._answer(401, {"ok": False, "error": "secret token missing"})
            return
        if not hmac.compare_digest(given.encode(), self.server.secret):
            self._answer(403, {"ok": False, "error": "secret token wrong"})
            return
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self._answer(411, {"ok": False, "error": "Content-Length required"})
            return
        if int(length) > MAX_BODY_BYTES:
            self._answer(413, {"ok": False, "error": "update too large"})
            return
        try:
            update = json.loads(self.rfile.read(int(length)))
        except ValueError:
            self._answer(400, {"ok": False, "error": "body is not JSON"})
            return
        try:
            outcome = accept(update, self.server.settings, self.server.client)
        except Exception as exc:
            log.error("update not queued, Telegram will retry: %s", _first_line(exc))
            self._answer(503, {"ok": False, "error": "cannot queue the update now"})
            return
        self._answer(200, {"ok": True, "outcome": outcome})

    def do_GET(self) -> None:
        if urlsplit(self.path).path != HEALTH_PATH:
            self._answer(404, {"ok": False, "error": "not found"})
            return
        try:
            with db.connection_context():
                db.execute_sql("SELECT 1")
        except Exception as exc:
            log.warning("health check: database unreachable: %s", _first_line(exc))
            self._answer(503, {"ok": False, "database": "unreachable"})
            return
        self._answer(200, {"ok": True, "database": "ok"})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if status == 413:
            self.send_header("Connection", "close")  # the unread body stays unread
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
