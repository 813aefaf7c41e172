"""Slash commands: /start, /help, /tasks, /reminders, /events, /search, /settings, /undo..."""

from __future__ import annotations

from typing import Any

from lifeorg.models import User
from lifeorg.pipeline.outbox import say

HELP = (
    "Send me anything: a note, a task (“pay the bill by friday”), a reminder (“remind me "
    "tomorrow at 9 to call mum”), an event (“dentist on december 3 at 14:30”), or a question "
    "about what you saved (“what's the wifi password?”)."
)


def handle(user: User, text: str, message: dict[str, Any]) -> str:
    """Run the command in ``text`` for ``user``; returns what happened."""
    command = text.split()[0].split("@")[0].lower()
    say(user, HELP, key=f"command:{message.get('chat', {}).get('id')}:{message.get('message_id')}")
    return f"command {command}"
