"""A fake Telegram Bot API server on loopback, for driving the real pyTelegramBotAPI client.

Point the client at it with ``telebot.apihelper.API_URL = fake.api_url`` and
``telebot.apihelper.FILE_URL = fake.file_url``. Tests push updates (``push_message``,
``push_callback``), read back what the bot did (``sent``, ``callback_answers``, ``commands``,
``webhook``) and inject faults (``fail_next``, ``delay_next``, ``chaos``). It holds the bot to
Telegram's limits: text and caption lengths, HTML entity parsing, unknown and blocked chats,
the 20 MB getFile limit and flood control (429 with ``retry_after``).

Parameters are read wherever Telegram reads them: the query string (where pyTelegramBotAPI
puts every parameter, even on POST), form-encoded, JSON and multipart bodies. That client
turns ``long_polling_timeout=0`` into its ``apihelper.LONG_POLLING_TIMEOUT`` (10 s); tests that
want short polls set that to 0.
"""

from __future__ import annotations

import bisect
import copy
import html
import json
import math
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_TOKEN = "123456789:TEST-fake-bot-token"
BOT_USERNAME = "lifeorg_test_bot"
GROUP_MEMBER_ID = 1001  # who speaks in a group chat when a test does not say

MAX_TEXT_CHARS = 4096  # message text, counted after entity parsing
MAX_CAPTION_CHARS = 1024
MAX_CALLBACK_ANSWER_CHARS = 200
MAX_CALLBACK_DATA_BYTES = 64  # InlineKeyboardButton.callback_data
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses bigger files
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # sendDocument and friends refuse bigger uploads (413)
MAX_UPDATES_PER_POLL = 100  # getUpdates "limit" is 1-100

GLOBAL_PER_SECOND = 30  # Bot FAQ: about 30 messages per second across all chats
PRIVATE_PER_SECOND = 1  # Bot FAQ: avoid more than one message per second in one chat
PRIVATE_BURST = 3  # short bursts in one chat pass before flood control answers 429
GROUP_PER_MINUTE = 20  # Bot FAQ: no more than 20 messages per minute in one group
SHUTDOWN_POLL_S = 0.05  # how often serve_forever looks for stop(); its default 0.5 s slows tests
DEFAULT_RETRY_AFTER_S = 1  # for injected 429s that do not say
CHAOS_5XX = (500, 502)  # 500 answers JSON, 502 an HTML page from the nginx in front

NEW_MESSAGE_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})
FLOOD_LIMITED = frozenset(m.lower() for m in NEW_MESSAGE_METHODS)  # edits are not counted here
HTML_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre"}
    | {"tg-spoiler", "blockquote"}
)
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
TAG_RE = re.compile(r"(/?)([A-Za-z][A-Za-z0-9-]*)(.*)", re.S)
API_PATH_RE = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>\w+)")
FILE_PATH_RE = re.compile(r"/file/bot(?P<token>[^/]+)/(?P<path>.+)")
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
REASONS |= {409: "Conflict", 500: "Internal Server Error", 502: "Bad Gateway"}
REASONS |= {503: "Service Unavailable", 504: "Gateway Timeout"}


class ApiError(Exception):
    """A Bot API error answer: HTTP status, description and optional retry_after."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after


@dataclass
class Sent:
    """One thing the bot did to a chat: a new message, an edit or a deletion."""

    method: str
    chat_id: int
    message_id: int
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    reply_markup: dict | None = None
    reply_to_message_id: int | None = None
    file_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    time: float = 0.0


@dataclass
class Call:
    """One request the server received, and the status it answered."""

    method: str
    params: dict[str, Any]
    status: int
    time: float


@dataclass
class StoredFile:
    """A file the fake can hand out through getFile and the file URL."""

    file_id: str
    data: bytes
    file_path: str
    file_name: str | None = None

    def as_file(self) -> dict:
        return {
            "file_id": self.file_id,
            "file_unique_id": f"u-{self.file_id}",
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


@dataclass
class Webhook:
    """What setWebhook stored; an empty url means getUpdates mode."""

    url: str = ""
    secret_token: str | None = None
    allowed_updates: list[str] | None = None


@dataclass
class Fault:
    """An injected error answer."""

    status: int
    retry_after: int | None = None
    description: str | None = None


class TokenBucket:
    """Allows ``capacity`` events at once, refilled at ``per_second``."""

    def __init__(self, capacity: float, per_second: float, now: float) -> None:
        self.capacity, self.per_second = capacity, per_second
        self.tokens, self.stamp = float(capacity), now

    def seconds_until_free(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.per_second


class RateLimiter:
    """Telegram's flood control: one bucket for all chats, one per private chat, one per group."""

    def __init__(
        self,
        global_per_second: float = GLOBAL_PER_SECOND,
        private_per_second: float = PRIVATE_PER_SECOND,
        private_burst: int = PRIVATE_BURST,
        group_per_minute: float = GROUP_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._global = (global_per_second, global_per_second)
        self._private = (private_burst, private_per_second)
        self._group = (group_per_minute, group_per_minute / 60)
        self._clock = clock
        self._buckets: dict[int | None, TokenBucket] = {}
        self._lock = threading.Lock()

    def acquire(self, chat_id: int) -> int | None:
        """Take a slot for one message to ``chat_id``; None if allowed, else retry_after seconds."""
        with self._lock:
            now = self._clock()
            buckets = [self._bucket(None, self._global, now)]
            buckets.append(
                self._bucket(chat_id, self._group if chat_id < 0 else self._private, now)
            )
            wait = max(bucket.seconds_until_free(now) for bucket in buckets)
            if wait > 0:
                return max(1, math.ceil(wait))
            for bucket in buckets:
                bucket.tokens -= 1
            return None

    def _bucket(self, key: int | None, shape: tuple[float, float], now: float) -> TokenBucket:
        if key not in self._buckets:
            self._buckets[key] = TokenBucket(*shape, now)
        return self._buckets[key]


class FakeTelegram:
    """The server, its chats, updates, files and records; every change happens under one lock."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        global_per_second: float = GLOBAL_PER_SECOND,
        private_per_second: float = PRIVATE_PER_SECOND,
        private_burst: int = PRIVATE_BURST,
        group_per_minute: float = GROUP_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.bot_user = {"id": int(token.split(":")[0]), "is_bot": True}
        self.bot_user |= {"first_name": "Life Organiser", "username": BOT_USERNAME}
        self.limits_enabled = True
        self.max_upload_bytes = MAX_UPLOAD_BYTES  # tests lower it rather than upload 50 MB
        self.limiter = RateLimiter(
            global_per_second, private_per_second, private_burst, group_per_minute, clock
        )
        self.sent: list[Sent] = []
        self.calls: list[Call] = []
        self.callback_answers: list[dict] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.command_sets: dict[tuple[str, str], list[dict]] = {}
        self.webhook = Webhook()
        self.blocked: set[int] = set()
        self.count_429 = 0
        self.polling = 0  # getUpdates requests parked in a long poll right now
        self._clock = clock
        self._cv = threading.Condition(threading.RLock())
        self._stopping = threading.Event()
        self._chats: dict[int, dict] = {}
        self._messages: dict[tuple[int, int], dict] = {}
        self._sources: dict[tuple[int, int], tuple[str | None, str | None]] = {}
        self._files: dict[str, StoredFile] = {}
        self._downloadable: dict[str, StoredFile] = {}
        self._updates: list[dict] = []
        self._open_callbacks: set[str] = set()
        self._allowed_updates: list[str] | None = None
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._delays: dict[str, deque[float]] = defaultdict(deque)
        self._chaos: tuple[float, float, random.Random, int] | None = None
        self._poll_generation = 0
        self._next_update_id = 1
        self._next_message_id = 1
        self._next_file = 1
        api = {
            "getMe": self._get_me,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
        }
        self._methods = {name.lower(): method for name, method in api.items()}  # case-insensitive
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_S,), daemon=True
        )

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """In telebot.apihelper.API_URL's format: ``{0}`` is the token, ``{1}`` the method."""
        return self.base_url + "/bot{0}/{1}"

    @property
    def file_url(self) -> str:
        """In telebot.apihelper.FILE_URL's format: ``{0}`` is the token, ``{1}`` the file path."""
        return self.base_url + "/file/bot{0}/{1}"

    def start(self) -> FakeTelegram:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._cv:
            self._cv.notify_all()  # parked long polls answer now
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests set up -----------------------------------------------------------------

    def register_chat(self, chat_id: int, **details: Any) -> dict:
        """Make a chat known (private for positive ids, a group for negative ones)."""
        with self._cv:
            if chat_id not in self._chats:
                if chat_id > 0:
                    chat = {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
                else:
                    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
                    chat = {"id": chat_id, "type": kind, "title": f"Group {chat_id}"}
                self._chats[chat_id] = chat
            self._chats[chat_id].update(details)
            return self._chats[chat_id]

    def block(self, chat_id: int) -> None:
        """From now on, sending to this chat answers 403 as if the user blocked the bot."""
        with self._cv:
            self.register_chat(chat_id)
            self.blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        with self._cv:
            self.blocked.discard(chat_id)

    def add_file(self, file_id: str, data: bytes, file_path: str | None = None) -> dict:
        """Register a file the bot may fetch with getFile; returns its File object."""
        with self._cv:
            stored = StoredFile(file_id, data, file_path or f"files/file_{self._next_file}")
            self._next_file += 1
            self._files[file_id] = stored
            return stored.as_file()

    def push_update(self, update: dict) -> int:
        """Queue an update for getUpdates (assigning update_id if missing); returns its id."""
        with self._cv:
            update = self._numbered(update)
            bisect.insort(self._updates, update, key=lambda u: u["update_id"])
            self._cv.notify_all()
            return update["update_id"]

    def push_message(
        self, chat_id: int, text: str | None = None, user_id: int | None = None, **extra: Any
    ) -> int:
        """Queue a message from a user; ``extra`` adds Message fields (photo, caption...)."""
        with self._cv:
            message = self._new_message(self.register_chat(chat_id), self._user(chat_id, user_id))
            if text is not None:
                message["text"] = text
                if text.startswith("/"):
                    length = len(text.split(maxsplit=1)[0])
                    message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
            message.update(extra)
            return self.push_update({"message": message})

    def push_callback(
        self, chat_id: int, data: str, message_id: int, user_id: int | None = None
    ) -> int:
        """Queue a button press on a message; the query id is ``str(update_id)``."""
        with self._cv:
            chat = self.register_chat(chat_id)
            message = copy.deepcopy(self._messages.get((chat_id, message_id)))
            if message is None:
                message = {"message_id": message_id, "chat": chat, "date": int(time.time())}
            update_id = self._next_update_id
            query = {"id": str(update_id), "from": self._user(chat_id, user_id)}
            query |= {"message": message, "chat_instance": str(chat_id), "data": data}
            self._open_callbacks.add(str(update_id))
            return self.push_update({"update_id": update_id, "callback_query": query})

    def fail_next(
        self,
        method: str,
        status: int,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``status``; nothing takes effect."""
        with self._cv:
            self._faults[method.lower()].extend([Fault(status, retry_after, description)] * times)

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Answer the next calls of ``method`` late; the call still takes effect, as on Telegram."""
        with self._cv:
            self._delays[method.lower()].extend([seconds] * times)

    def chaos(
        self,
        p_5xx: float = 0.1,
        p_429: float = 0.05,
        seed: int | None = None,
        retry_after: int = DEFAULT_RETRY_AFTER_S,
    ) -> None:
        """Fail each API call at random (5xx or 429); ``chaos(0, 0)`` turns it off."""
        with self._cv:
            chaos = (p_5xx, p_429, random.Random(seed), retry_after)
            self._chaos = chaos if p_5xx or p_429 else None

    # --- what tests read back --------------------------------------------------------------

    @property
    def commands(self) -> list[dict]:
        """The commands set for the default scope and no language."""
        with self._cv:
            return list(self.command_sets.get(_scope_key({}), []))

    def messages_to(self, chat_id: int) -> list[Sent]:
        """New messages the bot sent to ``chat_id`` (not edits or deletions), oldest first."""
        with self._cv:
            return [
                s for s in self.sent if s.chat_id == chat_id and s.method in NEW_MESSAGE_METHODS
            ]

    def message(self, chat_id: int, message_id: int) -> dict | None:
        """A message as it stands now (after edits), or None if unknown or deleted."""
        with self._cv:
            found = self._messages.get((chat_id, message_id))
            return json.loads(json.dumps(found)) if found else None

    def file_data(self, file_id: str) -> bytes:
        """The bytes of a file the bot uploaded (``Sent.file_id``) or a test added."""
        with self._cv:
            return self._files[file_id].data

    def pending_update_ids(self) -> list[int]:
        """Updates not yet confirmed by a getUpdates offset."""
        with self._cv:
            return [u["update_id"] for u in self._updates]

    def wait_until(self, ready: Callable[[], Any], timeout: float = 5.0, what: str = "it") -> Any:
        """Wait (woken by every change) until ``ready()`` is truthy; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while not (value := ready()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
                self._cv.wait(remaining)
            return value

    def wait_for_sent(
        self, condition: int | Callable[[Sent], bool] = 1, timeout: float = 5.0
    ) -> Any:
        """Wait for ``condition`` records in ``sent`` (returns them all) or one matching record."""

        def ready() -> Any:
            if isinstance(condition, int):
                return list(self.sent) if len(self.sent) >= condition else None
            return next((s for s in self.sent if condition(s)), None)

        return self.wait_until(ready, timeout, f"sent {condition!r}; sent so far: {self.sent!r}")

    def deliver_webhook(
        self, url: str, update: dict, secret_token: str | None = None, timeout: float = 10.0
    ) -> int:
        """POST ``update`` to ``url`` as Telegram would (header only if a secret is given)."""
        with self._cv:
            update = self._numbered(update)
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        request = urllib.request.Request(url, json.dumps(update).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    # --- dispatching -----------------------------------------------------------------------

    def _call(self, token: str, method: str, params: dict, files: dict) -> tuple[int, bytes, float]:
        """Answer one API request: (status, JSON body or HTML page, delay before answering)."""
        name = method.lower()
        with self._cv:
            fault = self._take_fault(name)
            delay = self._delays[name].popleft() if self._delays[name] else 0.0
            try:
                if token != self.token:
                    raise ApiError(401, "Unauthorized")
                if name not in self._methods:
                    raise ApiError(404, "Not Found")
                if fault:
                    raise _fault_error(fault)
                status, body = 200, {"ok": True, "result": self._methods[name](params, files)}
            except ApiError as exc:
                status, body = exc.status, _error_body(exc)
            if status == 429:
                self.count_429 += 1
            self.calls.append(Call(method, params, status, self._clock()))
            self._cv.notify_all()
            if status in (502, 503, 504):
                return status, _gateway_page(status), delay
            return status, json.dumps(body).encode(), delay

    def _take_fault(self, name: str) -> Fault | None:
        if self._faults[name]:
            return self._faults[name].popleft()
        if self._chaos:
            p_5xx, p_429, rng, retry_after = self._chaos
            roll = rng.random()
            if roll < p_5xx:
                return Fault(rng.choice(CHAOS_5XX))
            if roll < p_5xx + p_429:
                return Fault(429, retry_after)
        return None

    def _download(self, token: str, path: str) -> tuple[int, bytes]:
        with self._cv:
            stored = self._downloadable.get(path) if token == self.token else None
        if stored is None:
            return 404, json.dumps(_error_body(ApiError(404, "Not Found"))).encode()
        return 200, stored.data

    # --- API methods -----------------------------------------------------------------------

    def _get_me(self, p: dict, f: dict) -> dict:
        return self.bot_user

    def _set_my_commands(self, p: dict, f: dict) -> bool:
        commands = _json(p.get("commands")) or []
        for command in commands:
            if not COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: command description is empty or too long")
        self.command_sets[_scope_key(p)] = commands
        return True

    def _get_my_commands(self, p: dict, f: dict) -> list[dict]:
        return self.command_sets.get(_scope_key(p), [])

    def _delete_my_commands(self, p: dict, f: dict) -> bool:
        self.command_sets.pop(_scope_key(p), None)
        return True

    def _set_webhook(self, p: dict, f: dict) -> bool:
        secret = p.get("secret_token") or None
        if secret is not None and not SECRET_TOKEN_RE.fullmatch(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if _flag(p.get("drop_pending_updates")):
            self._updates.clear()
        url = p.get("url") or ""
        self.webhook = Webhook(url, secret if url else None, _json(p.get("allowed_updates")))
        return True

    def _delete_webhook(self, p: dict, f: dict) -> bool:
        if _flag(p.get("drop_pending_updates")):
            self._updates.clear()
        self.webhook = Webhook()
        return True

    def _get_webhook_info(self, p: dict, f: dict) -> dict:
        info = {"url": self.webhook.url, "has_custom_certificate": False}
        info["pending_update_count"] = len(self._updates)
        if self.webhook.allowed_updates is not None:
            info["allowed_updates"] = self.webhook.allowed_updates
        return info

    def _get_updates(self, p: dict, f: dict) -> list[dict]:
        if self.webhook.url:
            raise ApiError(409, WEBHOOK_CONFLICT)
        self._poll_generation += 1
        generation = self._poll_generation
        self._cv.notify_all()  # an older poll still parked is now terminated
        if "allowed_updates" in p:
            self._allowed_updates = _json(p["allowed_updates"]) or None
        self._confirm(_int(p.get("offset"), 0))
        limit = min(max(_int(p.get("limit"), MAX_UPDATES_PER_POLL), 1), MAX_UPDATES_PER_POLL)
        deadline = time.monotonic() + max(0.0, float(p.get("timeout") or 0))
        self.polling += 1
        try:
            while True:
                if generation != self._poll_generation:
                    raise ApiError(409, "Conflict: terminated by other getUpdates request")
                batch = [u for u in self._updates if self._wanted(u)][:limit]
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0 or self._stopping.is_set():
                    return batch
                self._cv.wait(remaining)
        finally:
            self.polling -= 1

    def _send_message(self, p: dict, f: dict) -> dict:
        chat = self._writable_chat(p)
        text, parse_mode = p.get("text") or "", p.get("parse_mode") or None
        visible = _checked_text(text, parse_mode)
        markup, reply_to = _markup(p), self._reply_to(chat["id"], p)
        self._flood_check(chat["id"])
        message = self._new_message(chat, self.bot_user, reply_to, markup, text=visible)
        return self._record("sendMessage", message, p, text=text, parse_mode=parse_mode)

    def _send_photo(self, p: dict, f: dict) -> dict:
        return self._send_media("photo", p, f)

    def _send_document(self, p: dict, f: dict) -> dict:
        return self._send_media("document", p, f)

    def _send_media(self, kind: str, p: dict, f: dict) -> dict:
        chat = self._writable_chat(p)
        caption, parse_mode = p.get("caption") or None, p.get("parse_mode") or None
        visible = _visible_text(caption, parse_mode) if caption else None
        if visible and len(visible) > MAX_CAPTION_CHARS:
            raise ApiError(400, "Bad Request: message caption is too long")
        stored = self._media(kind, p, f)
        markup, reply_to = _markup(p), self._reply_to(chat["id"], p)
        self._flood_check(chat["id"])
        file = {"file_id": stored.file_id, "file_unique_id": f"u-{stored.file_id}"}
        file["file_size"] = len(stored.data)
        if kind == "photo":  # the fake does not decode images, so sizes are unknown
            content: dict[str, Any] = {"photo": [file | {"width": 0, "height": 0}]}
        else:
            content = {"document": file | {"file_name": stored.file_name or "document"}}
        if visible:
            content["caption"] = visible
        message = self._new_message(chat, self.bot_user, reply_to, markup, **content)
        method = "sendPhoto" if kind == "photo" else "sendDocument"
        return self._record(
            method, message, p, caption=caption, parse_mode=parse_mode, file_id=stored.file_id
        )

    def _edit_message_text(self, p: dict, f: dict) -> dict:
        chat, message = self._editable(p)
        text, parse_mode = p.get("text") or "", p.get("parse_mode") or None
        visible, markup = _checked_text(text, parse_mode), _markup(p)
        key = (chat["id"], message["message_id"])
        if self._sources.get(key) == (text, parse_mode) and message.get("reply_markup") == markup:
            raise ApiError(400, "Bad Request: message is not modified")
        message["text"], message["edit_date"] = visible, int(time.time())
        _set_markup(message, markup)
        return self._record("editMessageText", message, p, text=text, parse_mode=parse_mode)

    def _edit_message_reply_markup(self, p: dict, f: dict) -> dict:
        _, message = self._editable(p)
        markup = _markup(p)
        if message.get("reply_markup") == markup:
            raise ApiError(400, "Bad Request: message is not modified")
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return self._record("editMessageReplyMarkup", message, p)

    def _delete_message(self, p: dict, f: dict) -> bool:
        chat = self._writable_chat(p)
        message = self._messages.pop((chat["id"], _int(p.get("message_id"), 0)), None)
        if message is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        self._record("deleteMessage", message, p)
        return True

    def _answer_callback_query(self, p: dict, f: dict) -> bool:
        query_id = p.get("callback_query_id", "")
        if query_id not in self._open_callbacks:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        if len(p.get("text") or "") > MAX_CALLBACK_ANSWER_CHARS:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._open_callbacks.discard(query_id)
        answer = {"callback_query_id": query_id, "text": p.get("text"), "url": p.get("url")}
        answer |= {"show_alert": _flag(p.get("show_alert")), "time": self._clock()}
        self.callback_answers.append(answer)
        return True

    def _send_chat_action(self, p: dict, f: dict) -> bool:
        chat = self._writable_chat(p)
        self.chat_actions.append((chat["id"], p.get("action", "")))
        return True

    def _get_file(self, p: dict, f: dict) -> dict:
        stored = self._files.get(p.get("file_id", ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        self._downloadable[stored.file_path] = stored  # the path works only after getFile
        return stored.as_file()

    # --- shared rules ----------------------------------------------------------------------

    def _writable_chat(self, p: dict) -> dict:
        """The chat named by chat_id; raises 400 if unknown and 403 if it blocked the bot."""
        if p.get("chat_id") in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        chat = self._chats.get(_int(p["chat_id"], 0))
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if chat["id"] in self.blocked:
            if chat["id"] < 0:
                raise ApiError(403, "Forbidden: bot was kicked from the group chat")
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _editable(self, p: dict) -> tuple[dict, dict]:
        if p.get("inline_message_id"):
            raise ApiError(400, "Bad Request: the fake does not support inline messages")
        chat = self._writable_chat(p)
        message = self._messages.get((chat["id"], _int(p.get("message_id"), 0)))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat, message

    def _reply_to(self, chat_id: int, p: dict) -> dict | None:
        wanted = _json(p.get("reply_parameters")) or {}
        message_id = _int(wanted.get("message_id", p.get("reply_to_message_id")), 0)
        if not message_id:
            return None
        target = self._messages.get((_int(wanted.get("chat_id"), chat_id), message_id))
        without = wanted.get("allow_sending_without_reply", p.get("allow_sending_without_reply"))
        if target is None and not _flag(without):
            raise ApiError(400, "Bad Request: message to be replied not found")
        return target

    def _media(self, kind: str, p: dict, f: dict) -> StoredFile:
        if kind in f:
            file_name, data = f[kind]
            if len(data) > self.max_upload_bytes:
                raise ApiError(413, "Request Entity Too Large")
            file_id = f"{kind}-{self._next_file}"
            stored = StoredFile(file_id, data, f"{kind}s/file_{self._next_file}", file_name)
            self._next_file += 1
            self._files[file_id] = stored
            return stored
        reference = p.get(kind) or ""
        if reference in self._files:
            return self._files[reference]
        if reference.startswith(("http://", "https://")):  # Telegram would fetch it
            return StoredFile(f"url-{self._next_file}", b"", reference)
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _flood_check(self, chat_id: int) -> None:
        if self.limits_enabled and (wait := self.limiter.acquire(chat_id)) is not None:
            raise ApiError(429, f"Too Many Requests: retry after {wait}", wait)

    def _record(self, method: str, message: dict, p: dict, **details: Any) -> dict:
        """Append to ``sent``; ``details`` are Sent fields (text, caption, parse_mode, file_id)."""
        key = (message["chat"]["id"], message["message_id"])
        if "text" in details:  # what "message is not modified" compares against
            self._sources[key] = (details["text"], details["parse_mode"])
        reply_to = message.get("reply_to_message", {}).get("message_id")
        extra = {"reply_markup": _markup(p), "reply_to_message_id": reply_to, "params": dict(p)}
        self.sent.append(Sent(method, *key, time=self._clock(), **extra, **details))
        return message

    def _new_message(
        self,
        chat: dict,
        sender: dict,
        reply_to: dict | None = None,
        markup: dict | None = None,
        **content: Any,
    ) -> dict:
        message = {"message_id": self._next_message_id, "from": sender, "chat": chat}
        message |= {"date": int(time.time()), **content}
        self._next_message_id += 1
        if reply_to:
            message["reply_to_message"] = {
                k: v for k, v in reply_to.items() if k != "reply_to_message"
            }
        _set_markup(message, markup)
        self._messages[(chat["id"], message["message_id"])] = message
        return message

    def _user(self, chat_id: int, user_id: int | None) -> dict:
        user_id = user_id or (chat_id if chat_id > 0 else GROUP_MEMBER_ID)
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User {user_id}",
            "language_code": "en",
        }

    def _numbered(self, update: dict) -> dict:
        """A copy of ``update`` with an update_id, its chats and messages now known."""
        update = dict(update)
        update.setdefault("update_id", self._next_update_id)
        self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._learn(update)
        return update

    def _learn(self, update: dict) -> None:
        """Make the chats and messages an update mentions known, as Telegram knows them."""
        for kind, body in update.items():
            if not isinstance(body, dict):
                continue
            message = body.get("message") if kind == "callback_query" else body
            if isinstance(message, dict) and isinstance(message.get("chat"), dict):
                self.register_chat(message["chat"]["id"])
                if "message_id" in message:
                    self._messages.setdefault(
                        (message["chat"]["id"], message["message_id"]), message
                    )

    def _confirm(self, offset: int) -> None:
        """Forget updates below ``offset``; a negative one keeps only the last -offset."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _wanted(self, update: dict) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in DEFAULT_EXCLUDED_UPDATES


# --- parsing and formatting ----------------------------------------------------------------


def _checked_text(text: str, parse_mode: str | None) -> str:
    """The visible text of a message; raises 400 if it is empty or too long."""
    visible = _visible_text(text, parse_mode)
    if not visible.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(visible) > MAX_TEXT_CHARS:
        raise ApiError(400, "Bad Request: message is too long")
    return visible


def _visible_text(text: str, parse_mode: str | None) -> str:
    """The text a user sees once entities are parsed; Markdown is passed through unchecked."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return _strip_html(text)
    if mode in ("", "markdown", "markdownv2"):
        return text
    raise ApiError(400, "Bad Request: unsupported parse_mode")


def _strip_html(text: str) -> str:
    """Telegram's HTML: every '<' opens a supported tag, tags nest, entities are unescaped."""
    open_tags: list[str] = []
    visible, pos = [], 0
    while (start := text.find("<", pos)) != -1:
        visible.append(text[pos:start])
        offset = len(text[:start].encode())
        end = text.find(">", start)
        if end == -1:
            raise _parse_error(f"Unclosed start tag at byte offset {offset}")
        match = TAG_RE.fullmatch(text[start + 1 : end])
        closing, name, attrs = match.groups() if match else ("", text[start + 1 : end], "")
        name = name.lower()
        if closing and (not open_tags or open_tags[-1] != name):
            expected = f'expected "</{open_tags[-1]}>", ' if open_tags else ""
            raise _parse_error(
                f'Unmatched end tag at byte offset {offset}, {expected}found "</{name}>"'
            )
        if closing:
            open_tags.pop()
        elif match and _tag_supported(name, attrs):
            open_tags.append(name)
        else:
            raise _parse_error(f'Unsupported start tag "{name}" at byte offset {offset}')
        pos = end + 1
    if open_tags:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return html.unescape("".join([*visible, text[pos:]]))


def _tag_supported(name: str, attrs: str) -> bool:
    if name == "a":
        return re.search(r"\bhref\s*=", attrs) is not None
    if name == "span":
        return re.search(r"""\bclass\s*=\s*["']?tg-spoiler\b""", attrs) is not None
    return name in HTML_TAGS


def _parse_error(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: can't parse entities: {detail}")


def _markup(p: dict) -> dict | None:
    """The decoded reply_markup; raises 400 for bad JSON or callback data over 64 bytes."""
    markup = _json(p.get("reply_markup"))
    if markup is not None and not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _set_markup(message: dict, markup: dict | None) -> None:
    """Messages carry only inline keyboards; other markups act on the chat, not the message."""
    if markup and "inline_keyboard" in markup:
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)


def _scope_key(p: dict) -> tuple[str, str]:
    scope = _json(p.get("scope")) or {"type": "default"}
    return json.dumps(scope, sort_keys=True), p.get("language_code") or ""


def _json(value: Any) -> Any:
    """A parameter that Telegram takes as JSON: a string in query and form data, or JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise ApiError(400, "Bad Request: can't parse JSON object") from None


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _fault_error(fault: Fault) -> ApiError:
    if fault.status == 429:
        wait = fault.retry_after or DEFAULT_RETRY_AFTER_S
        return ApiError(429, fault.description or f"Too Many Requests: retry after {wait}", wait)
    return ApiError(fault.status, fault.description or REASONS.get(fault.status, "Error"))


def _error_body(exc: ApiError) -> dict:
    body = {"ok": False, "error_code": exc.status, "description": exc.description}
    if exc.retry_after is not None:
        body["parameters"] = {"retry_after": exc.retry_after}
    return body


def _gateway_page(status: int) -> bytes:
    """What the nginx in front of the Bot API answers when the backend is down: not JSON."""
    title = f"{status} {REASONS[status]}"
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>".encode()


def _read_params(handler: BaseHTTPRequestHandler) -> tuple[dict, dict]:
    """Parameters from the query string and the body, and uploads as {name: (filename, bytes)}."""
    params = {k: v[-1] for k, v in parse_qs(urlsplit(handler.path).query).items()}
    files: dict[str, tuple[str, bytes]] = {}
    body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    content_type = handler.headers.get("Content-Type", "")
    if not body:
        return params, files
    if content_type.startswith("application/json"):
        params.update(json.loads(body))
    elif content_type.startswith("application/x-www-form-urlencoded"):
        params.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
    elif content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        for part in BytesParser().parsebytes(head + body).get_payload():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True)
            if part.get_filename() is not None:
                files[name] = (part.get_filename(), data)
            else:
                params[name] = data.decode()
    return params, files


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a parked long poll must not hold up stop()
    request_queue_size = 128  # the default 5 drops connections when many workers send at once


def _handler(fake: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            path, delay = unquote(urlsplit(self.path).path), 0.0
            params, files = _read_params(self)
            content_type = "application/json"
            if match := FILE_PATH_RE.fullmatch(path):
                status, payload = fake._download(match["token"], match["path"])
                content_type = "application/octet-stream" if status == 200 else content_type
            elif match := API_PATH_RE.fullmatch(path):
                status, payload, delay = fake._call(match["token"], match["method"], params, files)
                content_type = "text/html" if status in (502, 503, 504) else content_type
            else:
                status, payload = 404, json.dumps(_error_body(ApiError(404, "Not Found"))).encode()
            if delay:
                fake._stopping.wait(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
