"""The user's settings (time zone, default time, quiet hours): read, asked for, changed.

A setting is changed by ``/settings <name> <value>``, by a button, or by answering the
question the bot asked (``User.awaiting``); each change is audited with how to undo it.
An answer that is plainly not one ("buy milk" when asked for a time) is filed as usual
and the question dropped, so nothing the user wrote is lost.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
import zoneinfo
from typing import Any
from zoneinfo import ZoneInfo

from lifeorg.models import User
from lifeorg.models.audit import record
from lifeorg.models.base import utcnow
from lifeorg.models.states import AuditAction, AuditActor
from lifeorg.pipeline import actions, replies
from lifeorg.pipeline.buttons import ButtonRejected
from lifeorg.pipeline.formatting import escape
from lifeorg.pipeline.outbox import say

# The questions this module asks, as ``User.awaiting["kind"]``.
TIMEZONE, DEFAULT_TIME, QUIET_HOURS = "timezone", "default_time", "quiet_hours"
# Button actions (callback data has 64 bytes, so the codes are short).
ASK_ZONE, ASK_TIME, ASK_QUIET = "sz?", "st?", "sq?"
PICK_ZONE, QUIET_OFF = "szone", "sqoff"

# The zones a button can offer. Append only: a button carries its zone's index here, so
# reordering would make buttons already sent pick another zone.
ZONE_CHOICES: tuple[str, ...] = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Brussels",
    "Europe/Vienna",
    "Europe/Zurich",
    "Europe/Warsaw",
    "Europe/Kyiv",
    "Europe/Moscow",
    "Europe/Lisbon",
    "Europe/Istanbul",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Toronto",
    "America/Mexico_City",
    "America/Bogota",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
)
# Likely zones for a Telegram ``language_code`` (a full tag first, then its language).
LANGUAGE_ZONES: dict[str, tuple[str, ...]] = {
    "en": ("Europe/London", "America/New_York", "America/Los_Angeles"),
    "en-us": ("America/New_York", "America/Chicago", "America/Los_Angeles"),
    "de": ("Europe/Berlin", "Europe/Vienna", "Europe/Zurich"),
    "fr": ("Europe/Paris", "Europe/Brussels", "America/Toronto"),
    "es": ("Europe/Madrid", "America/Mexico_City", "America/Bogota"),
    "it": ("Europe/Rome",),
    "nl": ("Europe/Amsterdam", "Europe/Brussels"),
    "pl": ("Europe/Warsaw",),
    "uk": ("Europe/Kyiv",),
    "ru": ("Europe/Moscow",),
    "pt": ("Europe/Lisbon", "America/Sao_Paulo"),
    "pt-br": ("America/Sao_Paulo",),
    "tr": ("Europe/Istanbul",),
    "hi": ("Asia/Kolkata",),
    "zh": ("Asia/Shanghai",),
    "ja": ("Asia/Tokyo",),
}
# Offered when the language says nothing: the most populous zones of the first users.
FALLBACK_ZONES = ("Europe/London", "Europe/Berlin", "America/New_York")
# Four zones and UTC fit two rows of buttons on a phone.
MAX_ZONE_BUTTONS = 5
# The continents and oceans of canonical IANA names: "berlin" means Europe/Berlin, not a
# legacy alias such as "Canada/Eastern" for "eastern".
_REGIONS = frozenset(
    {"Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian"}
    | {"Pacific"}
)
# A question left unanswered this long is stale: a later message is filed, not taken as
# the answer (the user has moved on).
ANSWER_WITHIN = dt.timedelta(hours=1)
_OFF_WORDS = frozenset({"off", "none", "no", "disable", "disabled"})
_TIME = re.compile(r"(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm)?", re.IGNORECASE)
_RANGE = re.compile(r"\s*(?:-|\u2013|\u2014|\bto\b|\buntil\b|\s)\s*", re.IGNORECASE)

Reply = replies.Reply


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("_", " "))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.split())


@functools.cache
def _zone_names() -> dict[str, str]:
    """Folded full names and city names to IANA names (a full name wins over a city)."""
    cities: dict[str, str] = {}
    ranked = sorted(
        zoneinfo.available_timezones(),
        key=lambda name: (name.split("/")[0] not in _REGIONS, -name.count("/"), name),
    )
    for name in ranked:
        cities.setdefault(_fold(name.rsplit("/", 1)[-1]), name)
    return cities | {_fold(name): name for name in zoneinfo.available_timezones()}


def find_zone(text: str) -> str:
    """The IANA zone named by ``text`` ("Europe/Paris", "berlin", "new york"); raises
    ValueError with what to tell the user."""
    zone = _zone_names().get(_fold(text))
    if zone is None:
        raise ValueError(
            f"I don't know the time zone “{escape(text.strip()[:60])}”. Send a city or an "
            "IANA zone name, e.g. Europe/Berlin or America/New_York."
        )
    return zone


def parse_time(text: str) -> str:
    """A time of day as "HH:MM" ("8", "8:30", "20.15", "7pm"); raises ValueError."""
    match = _TIME.fullmatch(text.strip())
    hour, minute = (int(match[1]), int(match[2] or 0)) if match else (-1, 0)
    if match and match[3]:
        hour = hour % 12 + (12 if match[3].lower() == "pm" else 0) if 1 <= hour <= 12 else -1
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"“{escape(text.strip()[:30])}” is not a time of day. Send it like 08:30.")
    return f"{hour:02d}:{minute:02d}"


def parse_quiet(text: str) -> tuple[str | None, str | None]:
    """Quiet hours "22:00-07:00" as (start, end), or (None, None) for "off"; raises ValueError."""
    if _fold(text) in _OFF_WORDS:
        return None, None
    parts = [p for p in _RANGE.split(text.strip(), maxsplit=1) if p]
    if len(parts) != 2:
        raise ValueError("Send quiet hours as a range like 22:00-07:00, or “off”.")
    start, end = parse_time(parts[0]), parse_time(parts[1])
    if start == end:
        raise ValueError("Quiet hours need different start and end times, e.g. 22:00-07:00.")
    return start, end


def zone_choices(user: User) -> list[str]:
    """The zones to offer as buttons: the current one, the language's likely ones, UTC."""
    tag = (user.language_code or "").lower()
    likely = LANGUAGE_ZONES.get(tag) or LANGUAGE_ZONES.get(tag.split("-")[0]) or FALLBACK_ZONES
    offered = dict.fromkeys(z for z in (user.timezone, *likely) if z in ZONE_CHOICES)
    offered.pop("UTC", None)
    return [*list(offered)[: MAX_ZONE_BUTTONS - 1], "UTC"]


def _local_now(user: User) -> str:
    return f"{utcnow().astimezone(ZoneInfo(user.timezone)):%H:%M}"


def _quiet_text(user: User) -> str:
    if not (user.quiet_start and user.quiet_end):
        return "off"
    return f"{user.quiet_start}-{user.quiet_end}"


def overview(user: User) -> Reply:
    """The settings as the user reads them, with a button to change each."""
    text = (
        "⚙️ <b>Settings</b>\n"
        f"Time zone: {escape(user.timezone)} (it is {_local_now(user)} there now)\n"
        f"Default time: {user.default_time} (for dates without a time)\n"
        f"Quiet hours: {_quiet_text(user)}\n\n"
        "Tap to change, or send e.g. <code>/settings tz Europe/Berlin</code>, "
        "<code>/settings time 08:30</code>, <code>/settings quiet 22:00-07:00</code>."
    )
    return text, [
        [
            replies.button(user, "Time zone", ASK_ZONE),
            replies.button(user, "Default time", ASK_TIME),
            replies.button(user, "Quiet hours", ASK_QUIET),
        ]
    ]


def _settle(user: User, kind: str) -> None:
    """Drop a pending question about ``kind``: however it was set, it is answered."""
    if (user.awaiting or {}).get("kind") == kind:
        user.awaiting = None
        user.save()


def _await(user: User, kind: str) -> None:
    user.awaiting = {"kind": kind, "asked_at": utcnow().isoformat()}
    user.save()


def ask(user: User, kind: str) -> Reply:
    """Ask for a setting; the user's next message (or a button) answers."""
    _await(user, kind)
    if kind == TIMEZONE:
        zones = [
            replies.button(user, zone, PICK_ZONE, ZONE_CHOICES.index(zone))
            for zone in zone_choices(user)
        ]
        return (
            "🌍 Which time zone are you in? Tap one, or send your city or zone name "
            "(e.g. Europe/Berlin).",
            [zones[i : i + 2] for i in range(0, len(zones), 2)],
        )
    if kind == DEFAULT_TIME:
        return (
            f"🕘 Which time should I use when you give a date without one? "
            f"Now {user.default_time}; send e.g. 08:30.",
            None,
        )
    return (
        f"🌙 When should I hold notifications? Now {_quiet_text(user)}; send e.g. 22:00-07:00.",
        [[replies.button(user, "No quiet hours", QUIET_OFF)]],
    )


def change(user: User, **values: Any) -> bool:
    """Save new settings, audited with the previous ones to undo; False if nothing changed."""
    before = {name: getattr(user, name) for name in values}
    if "timezone" in values and user.onboarded_at is None:
        user.onboarded_at = utcnow()  # choosing a zone, even the default, finishes /start
        user.save()
    if before == values:
        return False
    for name, value in values.items():
        setattr(user, name, value)
    user.save()
    record(
        user,
        AuditAction.UPDATED,
        AuditActor.USER,
        {
            "settings": values,
            "undo": {"op": "update", "model": "users", "id": user.id, "values": before},
        },
        owner_id=user.id,
    )
    return True


def apply(user: User, kind: str, text: str) -> str:
    """Set one setting from what the user typed; returns the confirmation, raises ValueError."""
    if kind == TIMEZONE:
        return set_zone(user, find_zone(text))
    if kind == DEFAULT_TIME:
        values = {"default_time": parse_time(text)}
    else:
        start, end = parse_quiet(text)
        values = {"quiet_start": start, "quiet_end": end}
    _settle(user, kind)
    change(user, **values)
    if kind == DEFAULT_TIME:
        return f"🕘 Default time set to {user.default_time}."
    return f"🌙 Quiet hours: {_quiet_text(user)}."


def set_zone(user: User, zone: str) -> str:
    """Set the user's time zone (finishing onboarding); returns the confirmation."""
    onboarding = user.onboarded_at is None
    _settle(user, TIMEZONE)
    change(user, timezone=zone)
    text = f"🌍 Time zone set to {escape(zone)} (it is {_local_now(user)} there now)."
    if onboarding:
        text += "\nYou're all set: send me anything. /help shows what I can do."
    return text


def _looks_like(kind: str, text: str) -> bool:
    """Whether a refused answer was meant as one (so ask again) rather than a new message."""
    words = text.split()
    if kind == TIMEZONE:
        return len(words) <= 1 or "/" in text
    if kind == DEFAULT_TIME:
        return len(words) <= 2 and any(ch.isdigit() for ch in text)
    return len(words) <= 4 and (any(ch.isdigit() for ch in text) or _fold(text) in _OFF_WORDS)


def is_stale(awaiting: dict[str, Any]) -> bool:
    """Whether a question of this module was asked too long ago to take an answer."""
    asked = awaiting.get("asked_at")
    return asked is None or utcnow() - dt.datetime.fromisoformat(asked) > ANSWER_WITHIN


def _answer(kind: str) -> actions.Answer:
    def answer(user: User, text: str, message: dict[str, Any]) -> bool:
        if is_stale(user.awaiting or {}):
            user.awaiting = None
            user.save()
            return False
        key = f"setting:{(message.get('chat') or {}).get('id')}:{message.get('message_id')}"
        try:
            reply = apply(user, kind, text)
        except ValueError as refused:
            if not _looks_like(kind, text):
                user.awaiting = None
                user.save()
                return False
            say(user, str(refused), key=key, reply_to=message.get("message_id"))
            return True
        say(user, reply, key=key, reply_to=message.get("message_id"))
        return True

    return answer


def _asker(kind: str) -> actions.Handler:
    def press(user: User, _: int) -> tuple[str, actions.Redraw]:
        return "Waiting for your answer", ask(user, kind)

    return press


def _pick_zone(user: User, index: int) -> tuple[str, actions.Redraw]:
    if not 0 <= index < len(ZONE_CHOICES):
        raise ButtonRejected("That zone is not offered any more.")
    text = set_zone(user, ZONE_CHOICES[index])
    return "Time zone set.", (text, None)


def _quiet_off(user: User, _: int) -> tuple[str, actions.Redraw]:
    _settle(user, QUIET_HOURS)
    change(user, quiet_start=None, quiet_end=None)
    return "No quiet hours.", ("🌙 Quiet hours: off.", None)


def register() -> None:
    """Add this module's buttons and answers to the conversation's handlers."""
    for kind, action in ((TIMEZONE, ASK_ZONE), (DEFAULT_TIME, ASK_TIME), (QUIET_HOURS, ASK_QUIET)):
        actions.register(action, _asker(kind))
        actions.register_answer(kind, _answer(kind))
    actions.register(PICK_ZONE, _pick_zone)
    actions.register(QUIET_OFF, _quiet_off)
