"""Relative times: "in 20 minutes", "in 1 hour and 30 minutes", "dans une demi-heure".

Minutes and hours are added to the instant (so "in 1 hour" across a clock change is 60
real minutes); days, weeks, months and years are added to the calendar, keeping the wall
time ("in 3 days" at 10:00 is 10:00 three days on, even across a clock change).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta

from lifeorg.pipeline.lexicon import DURATION_UNITS, NUMBER_PATTERN, alternation, number_value
from lifeorg.pipeline.scanner import Scanner
from lifeorg.pipeline.zones import localize, wall_clock

_MINUTES_PER = {"minutes": 1, "hours": 60, "days": 24 * 60, "weeks": 7 * 24 * 60}
# Longer than this is not a reminder anyone means; it also keeps date arithmetic in range.
MAX_DURATION_DAYS = 100 * 366

_UNIT = alternation(DURATION_UNITS)
_AMOUNT = rf"(?:a\s+)?couple(?:\s+of)?|{NUMBER_PATTERN}"
_HALF_WORDS = r"\s+(?:and\s+a\s+half|et\s+demie?|y\s+media)"
# A digit may touch its unit ("20m", "2h"); a number word may not ("an d" is not "1 day").
_QUANTITY = rf"(?:\d+(?:[.,]\d+)?\s*|(?:{_AMOUNT})\s+)(?:{_UNIT})\b"
_PART = (
    rf"\b(?:(?P<n>\d+(?:[.,]\d+)?)\s*|(?P<w>{_AMOUNT})\s+)(?P<u>{_UNIT})\b(?P<half>{_HALF_WORDS})?"
)
_HALF_HOUR = (
    r"half\s+an\s+hour|a\s+half\s+hour|half\s+hour|(?:einer\s+)?halben\s+stunde"
    r"|une\s+demi[-\s]heure|media\s+hora"
)
_HOUR_AND_HALF = r"(?:anderthalb|eineinhalb)\s+stunden"
_JOIN = r"\s*(?:,|and|und|et|y)?\s*"
_PART_PATTERN = re.compile(_PART)
_EXPRESSIONS = (
    re.compile(
        rf"\b(?:in|within|dans|en|dentro\s+de|nach|d'ici)\s+(?P<body>(?:{_HALF_HOUR}|{_HOUR_AND_HALF}"
        rf"|{_QUANTITY}(?:{_HALF_WORDS})?)(?:{_JOIN}{_QUANTITY})*)"
    ),
    re.compile(
        rf"\b(?P<body>{_QUANTITY}(?:{_JOIN}{_QUANTITY})*)"
        rf"\s+(?:from\s+now|later|von\s+jetzt\s+an)\b"
    ),
)


@dataclass(frozen=True)
class DurationSpec:
    """An amount of time from now: exact minutes plus calendar days and months."""

    minutes: float = 0.0
    days: int = 0
    months: int = 0

    @property
    def has_days(self) -> bool:
        """Whether the duration moves the calendar day (so a clock time may pin the hour)."""
        return bool(self.days or self.months)


def take_durations(scanner: Scanner) -> list[DurationSpec]:
    """Take relative-time expressions out of ``scanner``."""
    found = []
    for pattern in _EXPRESSIONS:
        for match in scanner.find(pattern):
            spec = _measure(match["body"])
            if spec is not None:
                found.append((match.start(), spec))
                scanner.take(match)
    return [spec for _, spec in sorted(found, key=lambda item: item[0])]


def _measure(body: str) -> DurationSpec | None:
    minutes, days, months = 0.0, 0, 0
    if re.fullmatch(_HALF_HOUR, body):
        return DurationSpec(minutes=30)
    if re.fullmatch(_HOUR_AND_HALF, body):
        return DurationSpec(minutes=90)
    for part in _PART_PATTERN.finditer(body):
        raw = re.sub(r"^(?:a\s+)?couple(?:\s+of)?$", "couple", part["n"] or part["w"])
        amount = number_value(raw)
        if amount is None:
            return None
        if part["half"]:
            amount += 0.5
        unit = DURATION_UNITS[part["u"]]
        if unit in ("months", "years") and amount == int(amount):
            months += int(amount) * (12 if unit == "years" else 1)
        elif unit in ("days", "weeks") and amount == int(amount):
            days += int(amount) * (7 if unit == "weeks" else 1)
        elif unit in _MINUTES_PER:
            minutes += amount * _MINUTES_PER[unit]
        else:
            minutes += amount * (365 if unit == "years" else 30) * _MINUTES_PER["days"]
    if minutes / _MINUTES_PER["days"] + days + months * 31 > MAX_DURATION_DAYS:
        return None
    return DurationSpec(minutes, days, months)


def add_duration(now: dt.datetime, spec: DurationSpec, zone: dt.tzinfo) -> dt.datetime:
    """``now`` moved by ``spec``: the calendar part on the wall clock, the rest exactly."""
    moved = now
    if spec.has_days:
        wall = wall_clock(now, zone) + relativedelta(days=spec.days, months=spec.months)
        moved = localize(wall, zone)
    return (moved.astimezone(dt.UTC) + dt.timedelta(minutes=spec.minutes)).astimezone(zone)
