"""The words the offline parser knows, in English, German, French and Spanish.

Every word is written *folded*: lower case, accents removed (``fold``), so "März",
"marz" and "MÄRZ" are one entry and users who skip accents are understood. Folding keeps
each character in place, so a match in the folded text is a span in the original.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable


def fold(text: str) -> str:
    """Lower-case ``text`` and strip accents, one character for one character."""
    out = []
    for char in text:
        lower = char.lower()
        if len(lower) != 1:  # "İ" lowers to two characters; keep offsets aligned
            lower = char
        base = unicodedata.normalize("NFD", lower)[0]
        out.append(base if base.isascii() and base.isalpha() else lower)
    return "".join(out)


def alternation(words: Iterable[str]) -> str:
    """A regex alternation of ``words``, longest first so "september" beats "sep"."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "january jan januar janv janvier enero ene jänner janner",
        "february feb februar fevrier fev fevr febrero",
        "march mar marz maerz mars marzo",
        "april apr avril avr abril abr",
        "may mai mayo",
        "june jun juni juin junio",
        "july jul juli juillet juil julio",
        "august aug aout agosto ago",
        "september sep sept septembre septiembre setiembre",
        "october oct oktober okt octobre octubre",
        "november nov novembre noviembre",
        "december dec dezember dez decembre diciembre dic",
    ),
    start=1,
):
    MONTHS.update(dict.fromkeys(_names.split(), _number))

# Full weekday names (and plurals used for "every monday": "mondays", "montags", "lundis").
WEEKDAYS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "monday mondays montag montags lundi lundis lunes",
        "tuesday tuesdays dienstag dienstags mardi mardis martes",
        "wednesday wednesdays mittwoch mittwochs mercredi mercredis miercoles",
        "thursday thursdays donnerstag donnerstags jeudi jeudis jueves",
        "friday fridays freitag freitags vendredi vendredis viernes",
        "saturday saturdays samstag samstags sonnabend samedi samedis sabado sabados",
        "sunday sundays sonntag sonntags dimanche dimanches domingo domingos",
    )
):
    WEEKDAYS.update(dict.fromkeys(_names.split(), _number))

# Short forms collide with ordinary words ("sat", "sun", "wed"), so they count only after
# a word that announces a day ("on", "this", "next", "every").
WEEKDAY_ABBREVIATIONS: dict[str, int] = {
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "wed": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}

RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

NUMBER_WORDS: dict[str, int] = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "forty-five": 45,
    "ein": 1,
    "eine": 1,
    "einer": 1,
    "einem": 1,
    "einen": 1,
    "zwei": 2,
    "drei": 3,
    "vier": 4,
    "funf": 5,
    "sechs": 6,
    "sieben": 7,
    "acht": 8,
    "neun": 9,
    "zehn": 10,
    "elf": 11,
    "zwolf": 12,
    "zwanzig": 20,
    "dreissig": 30,
    "un": 1,
    "une": 1,
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "cinq": 5,
    "sept": 7,
    "huit": 8,
    "neuf": 9,
    "dix": 10,
    "onze": 11,
    "douze": 12,
    "quinze": 15,
    "vingt": 20,
    "trente": 30,
    "uno": 1,
    "una": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
    "diez": 10,
    "once": 11,
    "doce": 12,
    "quince": 15,
    "veinte": 20,
    "treinta": 30,
    "couple": 2,
}

# Units of a duration, to the keyword that relativedelta / timedelta understands.
DURATION_UNITS: dict[str, str] = {}
for _unit, _names in {
    "minutes": "m min mins minute minutes minuten minute minuto minutos",
    "hours": "h hr hrs hour hours std stunde stunden heure heures hora horas",
    "days": "d day days tag tage tagen jour jours dia dias",
    "weeks": "wk wks week weeks woche wochen semaine semaines semana semanas",
    "months": "month months monat monate monaten mois mes meses",
    "years": "year years jahr jahre jahren an ans annee annees ano anos",
}.items():
    DURATION_UNITS.update(dict.fromkeys(_names.split(), _unit))
NUMBER_PATTERN = r"\d+(?:[.,]\d+)?|" + alternation(NUMBER_WORDS)


def number_value(word: str) -> float | None:
    """The value of a digit string or number word, or None if it is neither."""
    word = word.strip()
    if word in NUMBER_WORDS:
        return float(NUMBER_WORDS[word])
    try:
        return float(word.replace(",", "."))
    except ValueError:
        return None
