"""A message being read: its folded text, and which stretches have been understood.

Each grammar (recurrence, durations, dates, clock times) takes the expressions it knows
out of the scanner in turn. What one grammar took is blanked, so a later grammar cannot
read it a second time ("15.12." is a date, so it is not also the time 15:12), and what
is left at the end, between the taken spans, is the content of the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from lifeorg.pipeline.lexicon import fold

# Blanking with a non-word character keeps offsets and makes \b boundaries hold at the
# edges of a taken span.
_BLANK = "\x00"
# Longer messages are notes or pasted text; expressions past this point are not read, so
# parsing stays fast on anything a user can paste.
MAX_SCANNED_CHARS = 2000


@dataclass(frozen=True)
class Span:
    """A stretch of the original text, ``text[start:end]``."""

    start: int
    end: int


@dataclass
class Scanner:
    """The original text, its folded working copy, and the spans taken so far."""

    text: str
    working: str = ""
    taken: list[Span] = field(default_factory=list)

    def __post_init__(self) -> None:
        folded = fold(self.text[:MAX_SCANNED_CHARS])
        # Typographic apostrophes and dashes are read as their plain forms.
        self.working = folded.translate(
            str.maketrans({"\u2019": "'", "\u2018": "'", "\u2013": "-", "\u2014": "-"})
        )

    def find(self, pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
        """Matches of ``pattern`` in what is not taken yet (offsets are the original's)."""
        return pattern.finditer(self.working)

    def take(self, match: re.Match[str], group: int | str = 0) -> Span:
        """Mark ``match`` (or one of its groups) as understood and blank it."""
        start, end = match.span(group)
        self.working = self.working[:start] + _BLANK * (end - start) + self.working[end:]
        span = Span(start, end)
        self.taken.append(span)
        return span

    def take_span(self, start: int, end: int) -> None:
        """Mark ``text[start:end]`` as understood (a trigger phrase, say)."""
        self.working = self.working[:start] + _BLANK * (end - start) + self.working[end:]
        self.taken.append(Span(start, end))

    def remaining_words(self) -> list[str]:
        """The folded words not taken, in order."""
        return re.findall(r"[\w'-]+", self.working)
