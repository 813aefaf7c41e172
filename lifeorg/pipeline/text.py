"""The content of a message: what is left once its time and trigger words are taken out.

Words that only tied a removed phrase to the rest ("remind me *to* call mum", "an den
Arzt", "*d'*appeler maman", "*que* mañana") are dropped where they touch a removed span;
everything else keeps the user's own words and casing.
"""

from __future__ import annotations

import re

from lifeorg.pipeline.lexicon import fold
from lifeorg.pipeline.scanner import Span

CONNECTORS = frozenset(
    (
        "to",
        "that",
        "at",
        "on",
        "by",
        "about",
        "for",
        "of",
        "and",
        "please",
        "an",
        "um",
        "am",
        "dass",
        "zu",
        "bis",
        "daran",
        "und",
        "de",
        "a",
        "que",
        "pour",
        "et",
        "y",
        "para",
    )
)
# Typographic apostrophes and dashes count as their plain forms.
_PLAIN = str.maketrans({"\u2019": "'", "\u2018": "'", "\u2013": "-", "\u2014": "-"})
_ELIDED = re.compile(r"^(?:d|qu)'(?=\w)")
_PUNCTUATION = ",:;.!-"


def content_text(text: str, removed: list[Span]) -> str:
    """``text`` without the ``removed`` spans and the connectors that touched them."""
    if not removed:
        return text.strip()
    pieces: list[str] = []
    cursor = 0
    for span in sorted(removed, key=lambda s: s.start):
        if span.start > cursor:
            pieces.append(_trim(text[cursor : span.start], lead=cursor > 0, tail=True))
        cursor = max(cursor, span.end)
    pieces.append(_trim(text[cursor:], lead=cursor > 0, tail=False))
    content = re.sub(r"\s+", " ", " ".join(p for p in pieces if p)).strip()
    # A full stop that ended the sentence now ends a fragment ("call Paul.").
    return content.rstrip(".!") if not content.endswith("...") else content


def _is_glue(word: str) -> bool:
    """Whether ``word`` is only a connector or punctuation."""
    bare = fold(word).translate(_PLAIN).strip(_PUNCTUATION)
    return not bare or bare in CONNECTORS


def _trim(segment: str, *, lead: bool, tail: bool) -> str:
    """Drop connectors and stray punctuation at the edges of ``segment`` that touch a removal."""
    words = segment.split()
    while lead and words and _is_glue(words[0]):
        words.pop(0)
    if lead and words:
        plain = words[0].translate(_PLAIN)
        elided = _ELIDED.match(fold(plain))
        words[0] = words[0][elided.end() :] if elided else words[0].lstrip(_PUNCTUATION)
    while tail and words and _is_glue(words[-1]):
        words.pop()
    if tail and words:
        words[-1] = words[-1].rstrip(",:;-")
    return " ".join(words)
