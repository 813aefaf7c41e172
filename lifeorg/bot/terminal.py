"""The terminal chat: the whole pipeline in one process, with this terminal standing in for
Telegram.

Each line typed becomes a raw Telegram update, submitted to ``ingest`` exactly as the bot
process does; replies come back through ``TerminalMessenger`` instead of the Bot API.
``!Label`` presses a button, ``/...`` is a command, ``/quit`` (or end of input) leaves.
"""

from __future__ import annotations

import contextlib
import getpass
import html.parser
import logging
import sys
import threading
import time
import unicodedata
from dataclasses import dataclass
from typing import Any, TextIO

from peewee import fn

from lifeorg import ledger
from lifeorg.config import Settings
from lifeorg.models import Job, Memory, OutboxMessage, ProcessedUpdate
from lifeorg.models.states import OutboxStatus
from lifeorg.pacing import Unlimited
from lifeorg.pipeline import outbox
from lifeorg.scheduler.ticker import Ticker

# The terminal user is the owner of this machine; 1 is no real Telegram account.
DEFAULT_USER_ID = 1
# Telegram's update ids are 32-bit numbers; the terminal's start above them, so a chat and
# the bot sharing one database never take each other's ids (ingest dedupes on the id).
UPDATE_IDS_FROM = 2**40
# Longer than one model call at its default timeout (20 s) plus a retry: a reply that has
# not come by then is reported as late rather than waited for.
SETTLE_TIMEOUT_S = 60.0
PROMPT = "you> "
QUIT = "/quit"
# A restarted chat recalls the buttons of this many of its last messages, so a button shown
# before the restart can still be pressed; older ones are long scrolled away.
RECALLED_MESSAGES = 100
LOG_FILE = "chat.log"


def html_to_plain(text: str) -> str:
    """A reply's Telegram HTML as plain text: tags dropped, entities unescaped."""
    parser = _TextOnly()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


class _TextOnly(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def button_line(buttons: Any) -> str:
    """Every button of a keyboard on one line: ``[Pin] [Delete]``."""
    return " ".join(f"[{label}]" for row in buttons or [] for label, _ in row)


def clean_line(text: str) -> str:
    """What a typed line would be in Telegram: no control characters, no stray surrogates."""
    # A pasted escape sequence must not reach the database or, echoed back, the terminal;
    # surrogates come from undecodable bytes in piped input.
    return "".join(
        " " if char == "\t" else char
        for char in text
        if char == "\t" or unicodedata.category(char) not in ("Cc", "Cs")
    ).strip()


@dataclass
class Shown:
    """One thing the messenger delivered, to be printed after the line that caused it."""

    kind: str  # "message", "edit" or "notice"
    text: str
    buttons: Any = None


class TerminalMessenger:
    """Stands in for the Bot API: keeps what was sent, with the buttons each message shows."""

    def __init__(self, first_message_id: int, keyboards: dict[int, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._next_id = first_message_id
        self._pending: list[Shown] = []
        self._keyboards: dict[int, Any] = dict(keyboards or {})

    def new_message_id(self) -> int:
        """The next message id in this chat (the user's messages and the bot's share them)."""
        with self._lock:
            self._next_id += 1
            return self._next_id - 1

    def send_message(self, chat_id: int, text: str, buttons: Any = None, reply_to=None) -> int:
        message_id = self.new_message_id()
        with self._lock:
            self._pending.append(Shown("message", text, buttons))
            if buttons:
                self._keyboards[message_id] = buttons
        return message_id

    def edit_message_text(self, chat_id: int, message_id: int, text: str, buttons=None) -> None:
        with self._lock:
            self._pending.append(Shown("edit", text, buttons))
            if buttons:
                self._keyboards[message_id] = buttons
            else:
                self._keyboards.pop(message_id, None)

    def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        if text:  # Telegram shows nothing for an answer without text
            with self._lock:
                self._pending.append(Shown("notice", text))

    def has_shown(self) -> bool:
        """Whether anything arrived since the last ``take_shown``."""
        with self._lock:
            return bool(self._pending)

    def take_shown(self) -> list[Shown]:
        """What arrived since the last call, in the order it was delivered."""
        with self._lock:
            shown, self._pending = self._pending, []
        return shown

    def find_button(self, label: str) -> tuple[int, str] | None:
        """(message id, callback data) of the newest message showing ``label``."""
        with self._lock:
            keyboards = sorted(self._keyboards.items(), reverse=True)
        for same in (str.__eq__, lambda a, b: a.casefold() == b.casefold()):
            for message_id, rows in keyboards:
                for row in rows:
                    for shown_label, data in row:
                        if same(shown_label, label):
                            return message_id, data
        return None

    def labels(self) -> list[str]:
        """Every label on screen, newest message first."""
        with self._lock:
            keyboards = sorted(self._keyboards.items(), reverse=True)
        return [label for _, rows in keyboards for row in rows for label, _ in row]


def chat_settings(settings: Settings, user_id: int) -> tuple[Settings, str | None]:
    """The settings with the terminal's needs forced; returns them and a note for the user.

    A configured broker is overridden rather than refused: with a shared queue, other
    worker processes would take the messages and reply through Telegram, not here.
    """
    note = None
    if settings.queue_url:
        note = (
            "lifeorg chat: ignoring the configured broker (REDIS_URL / LIFEORG_BROKER_URL); "
            "the chat runs its own in-process queue so replies come back to this terminal."
        )
    allowed = [*settings.allowed_users, *([] if user_id in settings.allowed_users else [user_id])]
    update = {"allowed_users": allowed, "redis_url": None, "broker_url": None}
    return settings.model_copy(update=update), note


def route_logs(settings: Settings) -> None:
    """Send every log line to a file in the data dir, so the chat shows only the chat."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(settings.data_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    logging.captureWarnings(True)


class TerminalChat:
    """Turns typed lines into updates and prints the replies they bring."""

    def __init__(self, runtime: Any, messenger: TerminalMessenger, user_id: int, out: TextIO):
        self.runtime = runtime
        self.messenger = messenger
        self.user_id = user_id
        self.out = out
        self.next_update_id = _last_update_id() + 1
        self.sender = {"id": user_id, "is_bot": False, "first_name": _first_name()}

    def take(self, line: str, *, echo: bool = False) -> bool:
        """Handle one typed line; False when the user asked to leave."""
        text = clean_line(line)
        if not text:
            return True
        if echo:  # a transcript of piped input shows what was said, as it was sent
            self.print(f"> {text}")
        if text.split()[0].lower() == QUIT:
            return False
        if text.startswith("!") and not text.startswith("!!"):
            self.press(text[1:].strip())
        else:
            self.send(text.removeprefix("!"))  # "!!x" sends "!x"
        self.show_replies()
        return True

    def send(self, text: str) -> None:
        """Send a message (a command when it starts with "/")."""
        message = {
            "message_id": self.messenger.new_message_id(),
            "date": int(time.time()),
            "text": text,
            "from": self.sender,
            "chat": {"id": self.user_id, "type": "private"},
        }
        self.submit({"message": message})

    def press(self, label: str) -> None:
        """Press the button labelled ``label`` on the newest message that shows one."""
        found = self.messenger.find_button(label)
        if found is None:
            on_screen = " ".join(f"[{shown}]" for shown in self.messenger.labels())
            self.print(
                f"(error) no button [{label}] to press; "
                + (f"buttons on screen: {on_screen}" if on_screen else "no message shows buttons")
            )
            return
        message_id, data = found
        callback = {
            "id": f"terminal-{self.next_update_id}",
            "data": data,
            "from": self.sender,
            "chat_instance": str(self.user_id),
            "message": {"message_id": message_id, "chat": {"id": self.user_id, "type": "private"}},
        }
        self.submit({"callback_query": callback})

    def submit(self, body: dict[str, Any]) -> None:
        """Hand the update to ``ingest``, the same way the bot process does."""
        # A run that ended before ingest took its last update left its job behind: skip it.
        while Job.select().where(Job.idempotency_key == self._key()).exists():
            self.next_update_id += 1
        update = {"update_id": self.next_update_id, **body}
        ledger.submit("ingest", self._key(), {"update": update})
        self.next_update_id += 1

    def _key(self) -> str:
        return f"update:{self.next_update_id}"

    def show_replies(self) -> None:
        """Wait for the pipeline to settle, then print what it said."""
        try:
            self.runtime.settle(SETTLE_TIMEOUT_S)
        except TimeoutError:
            self.print(
                f"(still working after {SETTLE_TIMEOUT_S:.0f} s; the rest of the replies "
                f"will show after your next line; details in {LOG_FILE})"
            )
        self.print_shown()

    def print_shown(self) -> int:
        """Print the replies that arrived since the last call; returns how many."""
        shown_now = self.messenger.take_shown()
        for shown in shown_now:
            text = clean_multiline(html_to_plain(shown.text))
            prefix = {"message": "", "edit": "(edited) ", "notice": "(notice) "}[shown.kind]
            self.print(prefix + text)
            if shown.buttons:
                self.print(button_line(shown.buttons))
        return len(shown_now)

    def print(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def clean_multiline(text: str) -> str:
    """``clean_line`` for each line of a reply."""
    return "\n".join(clean_line(line) for line in text.splitlines())


def _last_update_id() -> int:
    """The highest update id the terminal used before, in this database."""
    last = (
        ProcessedUpdate.select(fn.MAX(ProcessedUpdate.update_id))
        .where(ProcessedUpdate.update_id >= UPDATE_IDS_FROM)
        .scalar()
    )
    return last or UPDATE_IDS_FROM


def _last_message_id(chat_id: int) -> int:
    """The highest message id of the chat so far: the bot's replies and the user's memories."""
    sent = (
        OutboxMessage.select(fn.MAX(OutboxMessage.telegram_message_id))
        .where(OutboxMessage.chat_id == chat_id)
        .scalar()
    )
    received = (
        Memory.select(fn.MAX(Memory.source_message_id))
        .where(Memory.source_chat_id == chat_id)
        .scalar()
    )
    return max(sent or 0, received or 0)


def _recent_keyboards(chat_id: int) -> dict[int, Any]:
    """The buttons the chat's last messages show, replayed from the outbox."""
    rows = (
        OutboxMessage.select()
        .where(
            (OutboxMessage.chat_id == chat_id)
            & (OutboxMessage.status == OutboxStatus.SENT)
            & (OutboxMessage.method.in_([outbox.SEND, outbox.EDIT]))
        )
        .order_by(OutboxMessage.id.desc())
        .limit(RECALLED_MESSAGES)
    )
    keyboards: dict[int, Any] = {}
    for row in reversed(list(rows)):  # oldest first, so an edit overrides what it changed
        if row.payload.get("buttons"):
            keyboards[row.telegram_message_id] = row.payload["buttons"]
        elif row.method == outbox.EDIT:
            keyboards.pop(row.telegram_message_id, None)
    return keyboards


def _first_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in a bare container: any name will do
        return "you"


def run_chat(settings: Settings, user_id: int | None = None) -> int:
    """Run the terminal chat until end of input or /quit; returns the exit status."""
    from lifeorg import runtime

    user_id = DEFAULT_USER_ID if user_id is None else user_id
    settings, note = chat_settings(settings, user_id)
    if note:
        print(note, file=sys.stderr)
    route_logs(settings)
    for stream in (sys.stdin, sys.stdout):
        if hasattr(stream, "reconfigure"):  # odd bytes in or out never end the chat
            stream.reconfigure(errors="replace")
    rt = runtime.start(settings, migrate=True)
    messenger = TerminalMessenger(_last_message_id(user_id) + 1, _recent_keyboards(user_id))
    rt.__dict__["messenger"] = messenger  # both are functools.cached_property
    rt.__dict__["pacer"] = Unlimited()
    rt.start_workers()
    # Due reminders (and the ledger's sweep) in this process: they reach the terminal through
    # the same messenger, printed with the next reply or while the chat waits for input.
    ticker = Ticker(settings)
    ticker.start()
    chat = TerminalChat(rt, messenger, user_id, sys.stdout)
    try:
        if sys.stdin.isatty():
            _interactive(chat, settings)
        else:
            for line in sys.stdin:
                if not chat.take(line, echo=True):
                    break
            chat.show_replies()  # whatever is still on its way
    finally:
        ticker.stop()
        rt.stop()
    return 0


# How often the interactive chat looks for replies nobody asked for (reminders going off).
UNPROMPTED_POLL_S = 0.5


def _interactive(chat: TerminalChat, settings: Settings) -> None:
    """Prompt until Ctrl-D, Ctrl-C or /quit."""
    with contextlib.suppress(ImportError):  # not on every platform; input() works without
        import readline  # noqa: F401  (line editing and history for input())
    chat.print(
        f"Life Organiser, as user {chat.user_id}, data in {settings.data_dir}/. Type anything; "
        f"!Label presses a button; /help; {QUIT} or Ctrl-D leaves."
    )
    busy = threading.Lock()  # a typed line and an unprompted reminder never print at once
    done = threading.Event()

    def unprompted() -> None:
        """Show what arrives while the user is at the prompt: reminders going off."""
        while not done.wait(UNPROMPTED_POLL_S):
            with busy:
                if chat.messenger.has_shown():
                    chat.print("")
                    chat.print_shown()
                    sys.stdout.write(PROMPT)
                    sys.stdout.flush()

    threading.Thread(target=unprompted, name="lifeorg-chat-bell", daemon=True).start()
    try:
        while True:
            line = input(PROMPT)
            with busy:
                if not chat.take(line):
                    break
    except (EOFError, KeyboardInterrupt):
        chat.print("")
    finally:
        done.set()
