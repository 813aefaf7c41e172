"""A tidy tag vocabulary: suggested tags normalised and mapped onto the user's own tags.

A model (or a caption) suggests "Receipts", "receipt ", "grocery-store" and "Groceries";
the user already has "receipt" and "groceries". What gets suggested is "receipt" and
"groceries": case and spacing folded, a plural matched to its singular, a near-spelling
matched to the existing tag, and at most ``MAX_NEW_TAGS`` tags the user does not have yet.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from rapidfuzz import fuzz, process

# More than a handful of new tags per image makes a vocabulary nobody can browse.
MAX_NEW_TAGS = 5
# A tag longer than this is a sentence, not a tag.
MAX_TAG_CHARS = 32
# How alike (0-100) a suggestion and an existing tag must be to count as the same tag:
# "grocery" and "groceries" are; "car" and "cat" are not (short words need exact matches).
SAME_TAG_SCORE = 88
MIN_FUZZY_CHARS = 5

# Longer words that say nothing about a picture, in the four languages the parser reads.
_NOT_TAGS = frozenset(
    " ".join(
        (
            "from with that this have were what when where your they them there their about",
            "after before into over some will would could should been just also here only very",
            "eine einen einem einer nicht auch noch dass oder aber wird sind haben",
            "avec dans pour sont mais plus tout cette nous vous",
            "para pero como esta este esto sobre tiene",
        )
    ).split(" ")
)
_SEPARATORS = re.compile(r"[\s_\-/.,;:#]+")
_STRIP = re.compile(r"[^\w ]+", re.UNICODE)


def normalise(tag: str) -> str:
    """A tag as stored: lower case, NFC, words joined by single spaces, no punctuation."""
    text = unicodedata.normalize("NFC", tag).casefold()
    text = _SEPARATORS.sub(" ", text)
    text = _STRIP.sub("", text).strip()
    return text[:MAX_TAG_CHARS].strip()


def singular(word: str) -> str:
    """An English plural reduced to its singular, where the rule is clear."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _key(tag: str) -> str:
    """What two spellings of one tag have in common."""
    return " ".join(singular(word) for word in tag.split())


def tidy(suggested: Iterable[str], existing: Sequence[str]) -> list[str]:
    """The suggestions as tags of the user's vocabulary, new ones capped, in the given order."""
    known = {_key(tag): tag for tag in existing}
    keys = list(known)
    result: list[str] = []
    new = 0
    for raw in suggested:
        tag = normalise(raw)
        if not tag:
            continue
        key = _key(tag)
        match = known.get(key)
        if match is None and len(key) >= MIN_FUZZY_CHARS and keys:
            found = process.extractOne(key, keys, scorer=fuzz.ratio, score_cutoff=SAME_TAG_SCORE)
            if found is not None:
                match = known[found[0]]
        if match is None:
            if new >= MAX_NEW_TAGS:
                continue
            new += 1
            match = tag
            known[key] = tag
            keys.append(key)
        if match not in result:
            result.append(match)
    return result


def from_caption(caption: str) -> list[str]:
    """Tags a caption suggests when no model looks at the image: its hashtags, else its
    longer words."""
    hashtags = re.findall(r"#(\w+)", caption)
    if hashtags:
        return hashtags
    words = re.findall(r"\w{4,}", caption)
    return [w for w in words if not w.isdigit() and w.casefold() not in _NOT_TAGS][:MAX_NEW_TAGS]
