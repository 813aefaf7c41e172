"""Which open task does "I bought the milk" complete? Fuzzy scores, for a question to the user.

Reports of things done are in the past tense and tasks in the imperative ("bought the milk"
against "buy milk"), so both sides are reduced to stems before rapidfuzz compares them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from lifeorg.pipeline.prompts import TASK_MATCH

# Below this score (0-100) a task is not offered: "called the bank" must not propose
# "call mum" just because both share a verb.
MIN_SCORE = 60.0
# How many candidates the user (or the model) chooses among.
MAX_CANDIDATES = 3

_WORD = re.compile(r"\w+", re.UNICODE)
# Past forms that suffix stripping cannot undo.
_IRREGULAR = {
    "bought": "buy",
    "paid": "pay",
    "went": "go",
    "gone": "go",
    "did": "do",
    "done": "do",
    "sent": "send",
    "took": "take",
    "taken": "take",
    "made": "make",
    "got": "get",
    "gotten": "get",
    "wrote": "write",
    "written": "write",
    "brought": "bring",
    "gave": "give",
    "given": "give",
    "found": "find",
    "left": "leave",
    "met": "meet",
    "sold": "sell",
    "told": "tell",
    "spoke": "speak",
    "spoken": "speak",
    "rang": "ring",
    "rung": "ring",
    "ate": "eat",
    "eaten": "eat",
    "drove": "drive",
    "driven": "drive",
    "ran": "run",
    "fed": "feed",
    "hung": "hang",
    "swept": "sweep",
    "kept": "keep",
    "read": "read",
    "picked": "pick",
    "put": "put",
    "set": "set",
    "cut": "cut",
    "built": "build",
    "sat": "sit",
    "began": "begin",
    "begun": "begin",
    "threw": "throw",
    "thrown": "throw",
    "chose": "choose",
    "chosen": "choose",
    "forgot": "forget",
    "understood": "understand",
}
# Words that say nothing about which task it was.
_STOPWORDS = frozenset(
    [
        "i",
        "i've",
        "ive",
        "im",
        "i'm",
        "me",
        "my",
        "mine",
        "we",
        "we've",
        "our",
        "have",
        "has",
        "had",
        "just",
        "already",
        "finally",
        "now",
        "today",
        "yesterday",
        "the",
        "a",
        "an",
        "some",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "to",
        "for",
        "of",
        "and",
        "or",
        "with",
        "at",
        "on",
        "in",
        "done",
        "finished",
        "completed",
        "complete",
        "yes",
        "ok",
        "okay",
        # what is left of a contraction once the apostrophe splits it: I've, it's, we'll
        "ve",
        "s",
        "d",
        "ll",
        "re",
        "m",
        "t",
    ]
)


@dataclass(frozen=True)
class Candidate:
    """An open task that may be the one the message completes, with a 0-100 score."""

    task_id: int
    description: str
    score: float


def stem(word: str) -> str:
    """A crude English stem: irregular past forms mapped, common suffixes dropped."""
    word = word.lower()
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    for suffix, replacement, keep in (
        ("ied", "y", 2),
        ("ies", "y", 2),
        ("ing", "", 3),
        ("ed", "", 3),
        ("es", "", 3),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep:
            word = word[: -len(suffix)] + replacement
            break
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    # "stopp(ed)" -> "stop", "plann(ed)" -> "plan"
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    return word


def normalise(text: str) -> str:
    """The message or task reduced to its meaningful stems, space-separated."""
    words = (w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS)
    return " ".join(stem(w) for w in words)


def match_candidates(
    message: str,
    tasks: Sequence[tuple[int, str]],
    *,
    limit: int = MAX_CANDIDATES,
    min_score: float = MIN_SCORE,
) -> list[Candidate]:
    """The open tasks the message most likely completes, best first."""
    said = normalise(message)
    if not said:
        return []
    scored = []
    for task_id, description in tasks:
        wanted = normalise(description)
        if not wanted:
            continue
        # token_set rewards "milk" inside "buy milk"; token_sort keeps "call bank" apart from
        # "call mum" where they share only the verb.
        score = (fuzz.token_set_ratio(said, wanted) + fuzz.token_sort_ratio(said, wanted)) / 2
        if score >= min_score:
            scored.append(Candidate(task_id, description, round(score, 1)))
    scored.sort(key=lambda c: (-c.score, c.task_id))
    return scored[:limit]


class ModelChoice(BaseModel):
    """What the model answers for TASK_MATCH."""

    task_id: int | None
    confidence: float = Field(ge=0, le=1)


def choose_with_model(
    message: str, candidates: Sequence[Candidate], llm: Any, *, job: Any = None
) -> int | None:
    """The candidate the model picks, or None; raises LLMError when the model fails.

    Only a shown candidate can be chosen: an id the model makes up is treated as no choice.
    """
    data = {
        "message": message,
        "candidates": [{"id": c.task_id, "task": c.description} for c in candidates],
    }
    picked = llm.complete(TASK_MATCH, data, ModelChoice, job=job).task_id
    return picked if picked in {c.task_id for c in candidates} else None
