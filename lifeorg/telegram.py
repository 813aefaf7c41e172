"""The Telegram adapter: the Bot API through pyTelegramBotAPI's raw calls, and its errors.

TelegramError
├── TelegramRetryAfter   429: wait ``retry_after_s``, then send again
├── TelegramUnavailable  5xx, timeouts, connection errors: retry with backoff
├── TelegramForbidden    403: the user blocked the bot; never retried
└── TelegramBadRequest   400: the request itself is wrong (too long, bad HTML, gone message)

Only raw JSON goes in and out (``telebot.apihelper``): updates stay plain dicts that the
bot stores as they came, and no handler machinery runs in our processes.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lifeorg.errors import LifeorgError

# Every request but long polling gets this long before it counts as unavailable.
REQUEST_TIMEOUT_S = 20
# The Bot API lets a bot download files up to 20 MB; bigger ones need a local API server.
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
# ... and upload files up to 50 MB (sendDocument); Telegram answers 413 above it.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# An upload of 50 MB over a slow uplink (1.5 Mbit/s) takes about 4.5 minutes.
UPLOAD_TIMEOUT_S = 300
# The updates the product handles; everything else is not even fetched.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]

Buttons = Sequence[Sequence[tuple[str, str]]]


class TelegramError(LifeorgError):
    """The Bot API refused or failed a request."""


class TelegramRetryAfter(TelegramError):
    """Telegram asked us to slow down."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TelegramUnavailable(TelegramError):
    """Telegram (or the network to it) failed; a later retry may work."""


class TelegramForbidden(TelegramError):
    """The user blocked the bot or left the chat."""


class TelegramBadRequest(TelegramError):
    """The request is wrong and will stay wrong."""


class TelegramFileTooBig(TelegramBadRequest):
    """A file over the Bot API's 20 MB download limit."""


def keyboard(buttons: Buttons | None) -> str | None:
    """An inline keyboard as the JSON string the Bot API takes."""
    if not buttons:
        return None
    rows = [[{"text": label, "callback_data": data} for label, data in row] for row in buttons]
    return json.dumps({"inline_keyboard": rows}, ensure_ascii=False)


class TelegramClient:
    """One bot's connection to the Bot API."""

    def __init__(self, token: str, api_url: str = "https://api.telegram.org") -> None:
        self._token = token
        self.api_url = api_url.rstrip("/")

    def _call(self, function: str, *args: Any, **kwargs: Any) -> Any:
        from telebot import apihelper

        apihelper.API_URL = f"{self.api_url}/bot{{0}}/{{1}}"
        apihelper.FILE_URL = f"{self.api_url}/file/bot{{0}}/{{1}}"
        try:
            return getattr(apihelper, function)(self._token, *args, **kwargs)
        except apihelper.ApiTelegramException as exc:
            raise _translate(function, exc.error_code, exc.description, exc.result_json) from None
        except apihelper.ApiHTTPException as exc:
            status = getattr(exc.result, "status_code", 0)
            raise TelegramUnavailable(f"{function}: HTTP {status} from the Bot API") from None
        except Exception as exc:  # requests' timeouts and connection errors
            if type(exc).__module__.startswith(("requests", "urllib3")):
                raise TelegramUnavailable(f"{function}: {type(exc).__name__}") from None
            raise

    def get_me(self) -> dict[str, Any]:
        return self._call("get_me")

    def get_updates(self, offset: int | None, timeout_s: int) -> list[dict[str, Any]]:
        """Long-poll for updates after ``offset``; raw dicts, oldest first."""
        return self._call(
            "get_updates",
            offset=offset,
            timeout=timeout_s + REQUEST_TIMEOUT_S,
            allowed_updates=ALLOWED_UPDATES,
            long_polling_timeout=timeout_s,
        )

    def send_message(
        self, chat_id: int, text: str, buttons: Buttons | None = None, reply_to: int | None = None
    ) -> int:
        """Send HTML text; returns the new message's id."""
        from telebot.types import LinkPreviewOptions, ReplyParameters

        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        message = self._call(
            "send_message",
            chat_id,
            text,
            reply_markup=keyboard(buttons),
            parse_mode="HTML",
            timeout=REQUEST_TIMEOUT_S,
            reply_parameters=reply,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        return int(message["message_id"])

    def edit_message_text(
        self, chat_id: int, message_id: int, text: str, buttons: Buttons | None = None
    ) -> None:
        try:
            self._call(
                "edit_message_text",
                text,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode="HTML",
                reply_markup=keyboard(buttons),
                timeout=REQUEST_TIMEOUT_S,
            )
        except TelegramBadRequest as exc:
            if "not modified" not in str(exc):
                raise  # an edit that changes nothing is done already

    def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        # A press older than 15 minutes cannot be answered; the reply message says it all.
        with contextlib.suppress(TelegramBadRequest):
            self._call("answer_callback_query", callback_id, text=text)

    def send_document(
        self, chat_id: int, path: Path, file_name: str, caption: str | None = None
    ) -> int:
        """Upload the file at ``path`` (plain-text caption); returns the new message's id.

        The HTTP client builds the multipart body in memory, so callers keep files under
        MAX_UPLOAD_BYTES (Telegram's limit anyway).
        """
        with open(path, "rb") as data:
            message = self._call(
                "send_data",
                chat_id,
                data,
                "document",
                caption=caption,
                visible_file_name=file_name,
                timeout=UPLOAD_TIMEOUT_S,
            )
        return int(message["message_id"])

    def download(self, file_id: str) -> bytes:
        """A file the user sent, by its file id; raises TelegramFileTooBig over 20 MB."""
        info = self._call("get_file", file_id)
        too_big = f"the file is over the {MAX_DOWNLOAD_BYTES // 2**20} MB a bot may download"
        if (info.get("file_size") or 0) > MAX_DOWNLOAD_BYTES or not info.get("file_path"):
            raise TelegramFileTooBig(too_big)
        data = self._call("download_file", info["file_path"])
        if len(data) > MAX_DOWNLOAD_BYTES:
            raise TelegramFileTooBig(too_big)
        return data

    def set_my_commands(self, commands: Sequence[tuple[str, str]]) -> None:
        from telebot.types import BotCommand

        self._call("set_my_commands", [BotCommand(name, text) for name, text in commands])

    def set_webhook(self, url: str, secret_token: str | None) -> None:
        self._call(
            "set_webhook", url=url, secret_token=secret_token, allowed_updates=ALLOWED_UPDATES
        )

    def delete_webhook(self) -> None:
        self._call("delete_webhook")


def _translate(function: str, code: int, description: str, body: dict | None) -> TelegramError:
    message = f"{function}: {code} {description}"
    if code == 400 and "too big" in description.lower():
        limit_mb = MAX_DOWNLOAD_BYTES // 2**20
        return TelegramFileTooBig(f"{message} (a bot may download {limit_mb} MB at most)")
    if code == 429:
        retry_after = ((body or {}).get("parameters") or {}).get("retry_after", 1)
        return TelegramRetryAfter(message, float(retry_after))
    if code == 403:
        return TelegramForbidden(message)
    if code >= 500:
        return TelegramUnavailable(message)
    return TelegramBadRequest(message)
