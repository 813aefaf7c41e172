"""Slash commands: /start, /help, /tasks, /reminders, /events, /pinned, /search, /settings,
/undo, /export, /forget.

A command is case-insensitive and may carry the bot's name (``/tasks@MyBot``). Each reply's
idempotency key comes from the message, so a retried ingest never answers twice. Importing
this module adds its buttons and answers to ``actions``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lifeorg.models import User
from lifeorg.models.base import utcnow
from lifeorg.pipeline import (
    actions,
    export,
    forget,
    listings,
    photos,
    question,
    search,
    settings_flow,
    undo,
)
from lifeorg.pipeline.formatting import escape
from lifeorg.pipeline.menu import COMMANDS
from lifeorg.pipeline.outbox import say

HELP = (
    "Send me anything: a note, a task (“pay the bill by friday”), a reminder (“remind me "
    "tomorrow at 9 to call mum”), an event (“dentist on december 3 at 14:30”), or a question "
    "about what you saved (“what's the wifi password?”)."
)
# The question /search alone asks; the next message is what to search for.
SEARCH = "search"
# A reply lists this many hits: the best few are what a question needs.
MAX_HITS = 5
# Telegram's command syntax: a name, then optionally @ and the bot's username.
_COMMAND = re.compile(r"/(\w+)(?:@\w+)?(?:\s+(.*))?", re.DOTALL)
# What /settings accepts before the value, for each setting.
_SETTING_NAMES = {
    "tz": settings_flow.TIMEZONE,
    "zone": settings_flow.TIMEZONE,
    "timezone": settings_flow.TIMEZONE,
    "time": settings_flow.DEFAULT_TIME,
    "default": settings_flow.DEFAULT_TIME,
    "quiet": settings_flow.QUIET_HOURS,
}

Reply = tuple[str, Any]


def handle(user: User, text: str, message: dict[str, Any]) -> str:
    """Run the command in ``text`` for ``user``; returns what happened."""
    match = _COMMAND.match(text.strip())
    name = match[1].lower() if match else ""
    args = (match[2] or "").strip() if match else ""
    run = _RUN.get(name)
    reply, buttons = run(user, args) if run is not None else _unknown(name)
    chat_id = (message.get("chat") or {}).get("id", user.chat_id)
    say(
        user,
        reply,
        buttons,
        key=f"command:{chat_id}:{message.get('message_id')}",
        reply_to=message.get("message_id"),
    )
    return f"command /{name}" if run is not None else "unknown command"


def _start(user: User, _: str) -> Reply:
    name = f", {escape(user.display_name)}" if user.display_name else ""
    greeting = f"👋 Hi{name}! I'm your organiser. {HELP}"
    if user.onboarded_at is not None:
        return (
            f"{greeting}\n\nYour time zone is {escape(user.timezone)}; /settings changes it. "
            "/help lists the commands.",
            None,
        )
    question_text, buttons = settings_flow.ask(user, settings_flow.TIMEZONE)
    return f"{greeting}\n\n{question_text}", buttons


def _help(user: User, _: str) -> Reply:
    commands = "\n".join(f"/{name} — {escape(about)}" for name, about in COMMANDS)
    return (
        f"{HELP}\n\nThe buttons under my replies change what I filed, and /undo takes back "
        f"your last change.\n\n<b>Commands</b>\n{commands}",
        None,
    )


def _search(user: User, words: str) -> Reply:
    if not words:
        user.awaiting = {"kind": SEARCH, "asked_at": utcnow().isoformat()}
        user.save()
        return "🔎 What should I search for? Send a few words, e.g. “wifi password”.", None
    return search_reply(user, words), None


def search_reply(user: User, words: str) -> str:
    """The user's memories and events matching ``words``, as a reply (HTML)."""
    hits = search.search(user.id, question.search_words(words), limit=MAX_HITS)
    if not hits:
        return f"🔎 I found nothing about “{escape(words[:100])}” in what you saved."
    lines = [f"🔎 Found for “{escape(words[:100])}”:"]
    for hit in hits:
        icon = "📅" if hit.kind == "event" else "📝"
        lines.append(f"{icon} {escape(hit.snippet)}")
    return "\n".join(lines)


def _answer_search(user: User, text: str, message: dict[str, Any]) -> bool:
    stale = settings_flow.is_stale(user.awaiting or {})
    user.awaiting = None
    user.save()
    if stale:
        return False  # the user moved on: file the message as usual
    chat_id = (message.get("chat") or {}).get("id", user.chat_id)
    say(
        user,
        search_reply(user, text),
        key=f"search:{chat_id}:{message.get('message_id')}",
        reply_to=message.get("message_id"),
    )
    return True


def _settings(user: User, args: str) -> Reply:
    if not args:
        return settings_flow.overview(user)
    name, _, value = args.replace("\n", " ").partition(" ")
    kind = _SETTING_NAMES.get(name.lower())
    if kind is None or not value.strip():
        return (
            "Use <code>/settings tz Europe/Berlin</code>, <code>/settings time 08:30</code>, "
            "<code>/settings quiet 22:00-07:00</code> or <code>/settings quiet off</code>; "
            "/settings alone shows them.",
            None,
        )
    try:
        return settings_flow.apply(user, kind, value.strip()), None
    except ValueError as refused:
        return f"{refused} Nothing was changed.", None


def _undo(user: User, _: str) -> Reply:
    return undo.undo_last(user), None


def _unknown(name: str) -> Reply:
    shown = f"/{escape(name[:40])}" if name else "That"
    return f"I don't know {shown}. /help lists what I can do.", None


_RUN: dict[str, Callable[[User, str], Reply]] = {
    "start": _start,
    "help": _help,
    "tasks": lambda user, _: listings.tasks(user),
    "reminders": lambda user, _: listings.reminders(user),
    "events": lambda user, _: listings.events(user),
    "pinned": lambda user, _: listings.pinned(user),
    "search": _search,
    "settings": _settings,
    "undo": _undo,
    "tags": photos.tags_command,
    "export": export.command,
    "forget": forget.command,
}

settings_flow.register()
listings.register()
actions.register_answer(SEARCH, _answer_search)
