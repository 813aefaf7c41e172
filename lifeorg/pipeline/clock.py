"""Times of day: "5pm", "17:30", "9.30", "14h", "17 Uhr", "noon", "halb neun", "tonight".

A clock written with minutes ("9:30", "17.30", "14h30") or past twelve is a 24-hour
time. A bare hour ("at 5", "um 9", "a las 8", "half past 6") is *ambiguous*: alone it
means the next such hour (see ``parse``); with a part of the day ("at 8 tonight",
"a las 5 de la tarde") the part decides; on a named day it is taken as written.
An hour or minute that cannot exist ("25:00", "13pm", "99:99") is marked invalid.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from lifeorg.pipeline.lexicon import NUMBER_WORDS, alternation
from lifeorg.pipeline.scanner import Scanner

# Fixed hours for a part of the day said without a clock time. Morning matches the usual
# default reminder time; evening is after work; "tonight" is after dinner; night is before
# bed. One table, so the product can show them in /help.
PERIOD_TIMES = {
    "morning": dt.time(9, 0),
    "afternoon": dt.time(15, 0),
    "evening": dt.time(18, 0),
    "tonight": dt.time(20, 0),
    "night": dt.time(21, 0),
}
_PM_PERIODS = frozenset({"afternoon", "evening", "tonight", "night"})
_HOURS_ON_A_CLOCK_FACE = 12
_HOURS_IN_DAY = 24
_MINUTES_IN_HOUR = 60


@dataclass(frozen=True)
class ClockSpec:
    """A time of day as written: hour and minute, and whether am/pm was left open."""

    hour: int = 0
    minute: int = 0
    ambiguous: bool = False
    invalid: bool = False
    deadline: bool = False


@dataclass(frozen=True)
class PeriodSpec:
    """A part of the day; ``today`` when the words also name the day ("tonight")."""

    name: str
    today: bool = False


_HOUR_WORDS = alternation(w for w, n in NUMBER_WORDS.items() if 1 <= n <= 12 and len(w) > 2)
_H = rf"(?P<h>\d{{1,2}}|{_HOUR_WORDS}|eins)"
_AT = (
    r"(?:(?P<pre>at|@|around|about|by|before|um|gegen|ab|bis|vers|avant|a\s+las|a\s+la"
    r"|hacia\s+las|sobre\s+las|antes\s+de\s+las|a)\s+)?"
)
_MER = r"(?P<mer>a\.?\s?m\b\.?|p\.?\s?m\b\.?)"
_NOT_A_QUANTITY = (
    r"(?!\s*(?:[:./,]\d|%|st\b|nd\b|rd\b|th\b|euros?\b|eur\b|\$|€|minutes?\b|mins?\b|hours?\b"
    r"|days?\b|weeks?\b|people\b|personen\b|leute\b|percent\b|prozent\b|kg\b|km\b|years?\b))"
)
_DEADLINE_WORDS = frozenset({"by", "before", "bis", "avant", "antes de las"})

# (pattern, minutes added to the hour, hours to step back): "quarter to 5" is 4:45.
_IDIOMS = (
    (rf"half\s+past\s+{_H}", 30, 0),
    (rf"(?:a\s+)?quarter\s+past\s+{_H}", 15, 0),
    (rf"(?:a\s+)?quarter\s+to\s+{_H}", 45, 1),
    (rf"halb\s+{_H}", 30, 1),
    (rf"viertel\s+nach\s+{_H}", 15, 0),
    (rf"(?:viertel\s+vor|dreiviertel)\s+{_H}", 45, 1),
    (rf"{_H}(?:\s+heures?)?\s+et\s+demie?", 30, 0),
    (rf"{_H}(?:\s+heures?)?\s+et\s+quart", 15, 0),
    (rf"{_H}(?:\s+heures?)?\s+moins\s+(?:le\s+)?quart", 45, 1),
    (rf"{_H}\s+y\s+media", 30, 0),
    (rf"{_H}\s+y\s+cuarto", 15, 0),
    (rf"{_H}\s+menos\s+cuarto", 45, 1),
)
_IDIOM_PATTERNS = tuple((re.compile(rf"\b{_AT}{body}\b"), add, back) for body, add, back in _IDIOMS)
_EXACT_WORDS = (
    (re.compile(rf"\b{_AT}(?:al\s+)?(?:12\s+)?(?:noon|midday|mittags?|midi|mediodia)\b"), 12),
    (re.compile(rf"\b{_AT}(?:la\s+)?(?:midnight|mitternacht|minuit|medianoche)\b"), 0),
)
# (pattern, ambiguous when the hour is 1..12)
_CLOCKS = (
    (
        rf"(?P<h>\d{{1,2}})[:.](?P<m>\d{{2}})(?!\d)(?:\s*{_MER})?(?:\s*(?:uhr|h)\b)?(?!\s*(?:euros?|eur|€|\$|%|kg|km|bar)\b)",
        False,
    ),
    (r"(?P<h>\d{1,2})\s*(?:h|heures?)(?:\s*(?P<m>\d{2}))?\b", False),
    (rf"(?P<h>\d{{1,2}})\s*{_MER}", False),
    (rf"{_H}\s*uhr(?:\s*(?P<m>\d{{1,2}}))?\b", True),
    (rf"{_H}\s*o'?\s*clock\b", True),
)
_CLOCK_PATTERNS = tuple((re.compile(rf"\b{_AT}{body}"), ambiguous) for body, ambiguous in _CLOCKS)
_BARE = re.compile(
    rf"\b(?P<pre>at|um|a\s+las|a\s+la|vers|gegen|around|by|bis)\s+{_H}\b{_NOT_A_QUANTITY}"
)

_PERIODS = (
    (r"\b(?:tonight|tonite|heute\s+nacht|ce\s+soir|esta\s+noche|cette\s+nuit)\b", "tonight", True),
    (r"\b(?:this\s+evening|heute\s+abend)\b", "evening", True),
    (
        r"\b(?:this\s+morning|heute\s+(?:morgen|fruh|vormittag)|ce\s+matin|esta\s+manana)\b",
        "morning",
        True,
    ),
    (
        r"\b(?:this\s+afternoon|heute\s+nachmittag|cet\s+apres[-\s]midi|esta\s+tarde)\b",
        "afternoon",
        True,
    ),
    (
        r"\b(?:(?:in|during)\s+the\s+)?morning\b|\bfruh\b|\bmorgens\b|\bvormittags?\b|\bam\s+morgen\b"
        r"|\b(?:du\s+|le\s+)?matin\b|\b(?:por|de|en)\s+la\s+manana\b",
        "morning",
        False,
    ),
    (
        r"\b(?:in\s+the\s+)?afternoon\b|\bnachmittags?\b|\bam\s+nachmittag\b"
        r"|(?:\bde\s+l'|\bl'|\bdans\s+l'|\b)apres[-\s]midi\b|\b(?:por|de|en)\s+la\s+tarde\b",
        "afternoon",
        False,
    ),
    (
        r"\b(?:in\s+the\s+)?evening\b|\babends?\b|\bam\s+abend\b|\b(?:du\s+|le\s+)?soir\b",
        "evening",
        False,
    ),
    (
        r"\b(?:at\s+|in\s+the\s+)?night\b|\bnachts\b|\b(?:por|de|en)\s+la\s+noche\b|\bla\s+nuit\b",
        "night",
        False,
    ),
)
_PERIOD_PATTERNS = tuple((re.compile(body), name, today) for body, name, today in _PERIODS)


def _hour_value(word: str) -> int:
    return 1 if word == "eins" else NUMBER_WORDS.get(word, 0) if not word.isdigit() else int(word)


def _is_deadline(match: re.Match[str]) -> bool:
    prefix = match.groupdict().get("pre")
    return bool(prefix) and re.sub(r"\s+", " ", prefix) in _DEADLINE_WORDS


def take_periods(scanner: Scanner) -> list[PeriodSpec]:
    """Take parts of the day ("tonight", "in the morning", "de la tarde") out of ``scanner``."""
    found = []
    for pattern, name, today in _PERIOD_PATTERNS:
        for match in scanner.find(pattern):
            found.append((match.start(), PeriodSpec(name, today)))
            scanner.take(match)
    return [spec for _, spec in sorted(found, key=lambda item: item[0])]


def take_clocks(scanner: Scanner) -> list[ClockSpec]:
    """Take clock times out of ``scanner``, idioms and exact forms before bare hours."""
    found: list[tuple[int, ClockSpec]] = []
    for pattern, add, back in _IDIOM_PATTERNS:
        for match in scanner.find(pattern):
            hour = _hour_value(match["h"]) - back
            if hour <= 0:  # "halb eins" is 12:30
                hour += _HOURS_ON_A_CLOCK_FACE
            spec = ClockSpec(hour, add, ambiguous=hour <= _HOURS_ON_A_CLOCK_FACE)
            found.append((match.start(), _checked(spec, _is_deadline(match))))
            scanner.take(match)
    for pattern, hour in _EXACT_WORDS:
        for match in scanner.find(pattern):
            found.append((match.start(), ClockSpec(hour, 0, deadline=_is_deadline(match))))
            scanner.take(match)
    for pattern, ambiguous in _CLOCK_PATTERNS:
        for match in scanner.find(pattern):
            found.append((match.start(), _from_match(match, ambiguous)))
            scanner.take(match)
    for match in scanner.find(_BARE):
        hour = _hour_value(match["h"])
        if hour > _HOURS_IN_DAY:
            continue  # "at 25 Baker Street" is an address, not a time
        found.append((match.start(), _from_match(match, True)))
        scanner.take(match)
    return [spec for _, spec in sorted(found, key=lambda item: item[0])]


def _from_match(match: re.Match[str], ambiguous: bool) -> ClockSpec:
    groups = match.groupdict()
    hour = _hour_value(groups["h"])
    minute = int(groups["m"]) if groups.get("m") else 0
    meridiem = (groups.get("mer") or "").replace(".", "").replace(" ", "")
    deadline = _is_deadline(match)
    if meridiem:
        if not 1 <= hour <= _HOURS_ON_A_CLOCK_FACE:
            return ClockSpec(invalid=True, deadline=deadline)
        hour = hour % _HOURS_ON_A_CLOCK_FACE + (_HOURS_ON_A_CLOCK_FACE if meridiem == "pm" else 0)
        ambiguous = False
    elif not 1 <= hour <= _HOURS_ON_A_CLOCK_FACE:
        ambiguous = False
    return _checked(ClockSpec(hour, minute, ambiguous=ambiguous), deadline)


def _checked(spec: ClockSpec, deadline: bool) -> ClockSpec:
    if not (0 <= spec.hour < _HOURS_IN_DAY and 0 <= spec.minute < _MINUTES_IN_HOUR):
        return ClockSpec(invalid=True, deadline=deadline)
    return ClockSpec(spec.hour, spec.minute, spec.ambiguous, deadline=deadline)


def time_of_day(clock: ClockSpec | None, period: PeriodSpec | None) -> tuple[dt.time | None, bool]:
    """The time a clock and/or part of day name, and whether am/pm is still open."""
    if clock is None:
        return (PERIOD_TIMES[period.name], False) if period else (None, False)
    if clock.ambiguous and period is not None:
        hour = clock.hour % _HOURS_ON_A_CLOCK_FACE
        if period.name in _PM_PERIODS:
            hour += _HOURS_ON_A_CLOCK_FACE
        return dt.time(hour, clock.minute), False
    return dt.time(clock.hour, clock.minute), clock.ambiguous
