"""What a message wants, decided offline by a small table of rules read top to bottom.

======  ==============================================================================
order   rule (first that fits wins)
======  ==============================================================================
1       reminder: "remind me", "reminder", "don't let me forget", "ping me",
        "erinnere mich", "Erinnerung", "rappelle-moi", "rappel", "recuérdame",
        "recordatorio"  (the trigger is removed from the text)
2       search: a question ("?", "¿", or starts with what/where/when/who/how/which/
        do I/did I, was/wo/wann/wie, quel/où/quand/comment, qué/dónde/cuándo/cómo/cuál),
        or "find", "search", "show me", "look up", "suche", "cherche", "busca" (removed)
3       complete_task: "done:", "finished", "completed", "erledigt:", "c'est fait",
        "hecho:" (removed); or a report in the past: "I bought ...", "called mum",
        "ich habe ... gekauft", "j'ai acheté ...", "ya compré ...", "he pagado ..."
4       task: "todo", "to do", "task:", "I need to/have to/must/should",
        "don't forget to", "ich muss", "Aufgabe", "je dois", "à faire", "il faut",
        "tengo que", "hay que", "tarea" (removed)
5       task: a deadline ("by friday", "bis Freitag", "avant vendredi", "antes del viernes")
6       with a time: event if it opens with an event word ("dentist", "meeting with",
        "Termin", "rendez-vous", "cita"...); reminder if it opens with a verb ("call",
        "anrufen", "appeler", "llamar"); event if any event word, or both a day and a
        clock time ("Team sync on thursday at 10:30"); otherwise reminder
7       without a time: task if it opens with a verb ("buy milk", "Milch kaufen")
8       note: everything else
======  ==============================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from lifeorg.pipeline.wording import mentions_event, opens_with_event, opens_with_verb


class Intent(StrEnum):
    NOTE = "note"
    TASK = "task"
    REMINDER = "reminder"
    EVENT = "event"
    COMPLETE_TASK = "complete_task"
    SEARCH = "search"


@dataclass(frozen=True)
class Trigger:
    """One row of the table: a pattern and the intent it means; ``strip`` drops the words."""

    intent: Intent
    pattern: re.Pattern[str]
    strip: bool
    accented: bool = False  # matched against the text with its accents kept


def _rule(intent: Intent, pattern: str, strip: bool, accented: bool = False) -> Trigger:
    return Trigger(intent, re.compile(pattern), strip, accented)


_DONE_VERBS = (
    r"bought|paid|called|rang|phoned|cleaned|did|sent|emailed|texted|booked|picked\s+up|dropped\s+off"
    r"|finished|fixed|repaired|washed|returned|submitted|renewed|ordered|cancell?ed|took|fed|walked"
    r"|watered|cooked|made|wrote|replied|answered|posted|mailed|collected|signed|scheduled"
    r"|completed|tidied|vacuumed|hoovered|mowed|emptied|packed|printed|charged|got|visited"
    r"|handed\s+in|filed|uploaded|backed\s+up|ironed|changed|topped\s+up|refilled|sorted|sold"
)
_QUESTION_WORDS = (
    r"what|what's|whats|where|where's|wheres|when|when's|who|who's|whose|how|which|why"
    r"|do\s+i|did\s+i|does|have\s+i|is\s+there|are\s+there|is\s+my|are\s+my|was|wo|wann|wie|wer"
    r"|welche[rnsm]?|warum|wieviel|habe\s+ich|hab\s+ich|quel|quelle|quels|quelles|quand|comment"
    r"|qui|pourquoi|combien|est-ce\s+que|donde|cuando|como|cual|cuales|quien|cuanto|cuanta|por\s+que"
)
TRIGGERS: tuple[Trigger, ...] = (
    _rule(Intent.REMINDER, r"\b(?:(?:please|pls|can\s+you|could\s+you)\s+)*remind\s+me\b", True),
    _rule(Intent.REMINDER, r"\b(?:don'?t|do\s+not)\s+let\s+me\s+forget\b", True),
    _rule(
        Intent.REMINDER,
        r"\b(?:ping|alert|notify|nudge)\s+me\b|\b(?:set\s+(?:a\s+)?)?reminder\b",
        True,
    ),
    _rule(Intent.REMINDER, r"\berinnere?n?\s+mich\b|\berinnerung\b|\bsag\s+mir\s+bescheid\b", True),
    _rule(
        Intent.REMINDER,
        r"\brappel(?:le|lez)?[-\s]?moi\b|\brappel\b|\bfais[-\s]moi\s+penser\b",
        True,
    ),
    _rule(Intent.REMINDER, r"\brecuerda(?:me|nos)\b|\brecordatorio\b|\bavisame\b", True),
    _rule(Intent.SEARCH, rf"^\W*(?:{_QUESTION_WORDS})\b", False),
    _rule(Intent.SEARCH, r"^\W*(?:où|qué|qu'est-ce)\b", False, accented=True),
    _rule(Intent.SEARCH, r"\?\s*$|^\s*¿", False),
    _rule(
        Intent.SEARCH,
        r"^\W*(?:find|search(?:\s+for)?|look\s+up|look\s+for|show\s+me|suche?|finde|zeig(?:e)?\s+mir"
        r"|cherche|trouve|montre[-\s]moi|busca|buscar|encuentra|muestrame)\b",
        True,
    ),
    _rule(
        Intent.COMPLETE_TASK,
        r"^\W*(?:done|finished|completed|erledigt|fertig|c'est\s+fait|fait\s*:|termine|hecho|listo)"
        r"(?:\s+with)?\b\s*[:\-]?",
        True,
    ),
    _rule(
        Intent.COMPLETE_TASK,
        r"\b(?:is|are|ist|sind|est|esta)?\s*(?:done|erledigt|hecho|fertig)\W*$",
        False,
    ),
    _rule(
        Intent.COMPLETE_TASK,
        rf"^\W*(?:(?:i|we)(?:'ve|\s+have)?\s+)?(?:(?:just|already|finally)\s+)?(?:{_DONE_VERBS})\b",
        False,
    ),
    _rule(
        Intent.COMPLETE_TASK,
        r"^\W*(?:(?:ich|wir)\s+)?(?:habe?|haben)\b.*\b(?:\w*ge\w+(?:t|en)|be\w+t|er\w+t|ver\w+t|\w+iert)\W*$",
        False,
    ),
    _rule(
        Intent.COMPLETE_TASK,
        r"^\W*(?:j'ai|j\s+ai|on\s+a|nous\s+avons)\s+(?:deja\s+|bien\s+|enfin\s+)?"
        r"\w+(?:é|ée|és|i|is|it|u|t|ert)\b",
        False,
        accented=True,
    ),
    _rule(
        Intent.COMPLETE_TASK,
        r"^\W*(?:ya\s+\w+|(?:ya\s+)?(?:he|hemos)\s+\w+(?:ado|ido|cho|to)\b|\w+[éí]\s|hice\b|fui\b)",
        False,
        accented=True,
    ),
    _rule(
        Intent.TASK,
        r"^\W*(?:to\s*-?\s*do|todo|task|tarea|aufgabe|tache|a\s+faire)\b\s*[:\-]?",
        True,
    ),
    _rule(
        Intent.TASK,
        r"^\W*(?:(?:i|we)(?:'ve|'d)?\s+)?(?:really\s+|still\s+|also\s+)?(?:need\s+to|have\s+to"
        r"|have\s+got\s+to|got\s+to|gotta|must|should|ought\s+to)\b",
        True,
    ),
    _rule(
        Intent.TASK,
        r"^\W*(?:please\s+)?(?:don'?t|do\s+not)\s+forget\s+(?:to\b)?|^\W*remember\s+to\b",
        True,
    ),
    _rule(
        Intent.TASK,
        r"^\W*(?:ich|wir)\s+(?:muss|mussen|sollte|sollten|soll)\b|^\W*nicht\s+vergessen\b",
        True,
    ),
    _rule(
        Intent.TASK,
        r"^\W*(?:je\s+dois|il\s+faut(?:\s+que\s+je)?|je\s+devrais|(?:ne\s+pas|n'oublie\s+pas)\s+oublier)\b",
        True,
    ),
    _rule(
        Intent.TASK,
        r"^\W*(?:tengo\s+que|tenemos\s+que|hay\s+que|debo|necesito|no\s+olvidar)\b",
        True,
    ),
)


def find_trigger(folded: str, accented: str) -> tuple[Trigger, re.Match[str]] | None:
    """The first table row whose pattern occurs in the message, with its match."""
    for trigger in TRIGGERS:
        match = trigger.pattern.search(accented if trigger.accented else folded)
        if match and match.group(0).strip():
            return trigger, match
    return None


def classify_by_content(words: list[str], *, timed: bool, day_and_clock: bool) -> Intent:
    """Rows 6-8 of the table: decide from the content words once no trigger matched."""
    if timed:
        if not words:  # only a time: "tomorrow at 9"
            return Intent.REMINDER
        if opens_with_event(words):
            return Intent.EVENT
        if opens_with_verb(words):
            return Intent.REMINDER
        if mentions_event(words) or day_and_clock:
            return Intent.EVENT
        return Intent.REMINDER
    return Intent.TASK if opens_with_verb(words) else Intent.NOTE
