"""How replies read: moments in the user's zone, safe HTML, and Telegram-sized parts."""

from __future__ import annotations

import datetime as dt
import html
from zoneinfo import ZoneInfo

# Telegram's hard limits, in characters.
MAX_TEXT = 4096
MAX_CAPTION = 1024


def escape(text: str) -> str:
    """User text made safe inside an HTML-mode message."""
    return html.escape(text, quote=False)


def when_text(moment: dt.datetime, tz: str, *, all_day: bool = False) -> str:
    """A moment as the user reads it: "Wed 25 Nov, 09:00" (the year only when not this one)."""
    local = moment.astimezone(ZoneInfo(tz))
    today = dt.datetime.now(ZoneInfo(tz)).date()
    day = f"{local:%a} {local.day} {local:%b}"
    if local.year != today.year:
        day += f" {local.year}"
    return day if all_day else f"{day}, {local:%H:%M}"


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut a long text into parts of at most ``limit`` characters, at paragraph breaks where
    possible, then at line breaks, then at spaces, and only then mid-word."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator)
            if cut > limit // 4:  # a break too near the start makes a uselessly short part
                break
        if cut <= limit // 4:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts
