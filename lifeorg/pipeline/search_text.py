"""Search text rules: what a word is, how it is folded, and how queries and snippets are built.

Both databases index the terms produced here rather than tokenizing text themselves, so a
query means the same on SQLite and PostgreSQL whatever their versions, locales and
extensions. A term is either a word (letters, digits, marks; case and Latin, Greek,
Cyrillic... diacritics folded away) or a single character of a script written without
spaces (Chinese, Japanese, Thai, Korean syllables) or a single emoji/symbol. Runs of those
characters are queried as phrases of adjacent terms, which finds any substring.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# Enough to name what one looks for; beyond it extra words only make a query slower.
MAX_QUERY_TERMS = 12
# A query longer than any sensible search is cut before it is even tokenized.
MAX_QUERY_CHARS = 1000
# Longer "words" are hashes, URLs or base64: their first 64 characters identify them, and
# PostgreSQL refuses lexemes over 2 KB.
MAX_TERM_CHARS = 64
# A one-letter prefix matches a large share of the vocabulary and says little.
MIN_PREFIX_CHARS = 2
# BM25's constants, at their customary values: how fast repeats stop counting, and how much
# a long document's matches are discounted.
BM25_K1 = 1.2
BM25_B = 0.75
# Snippet length: about two lines of a Telegram message.
SNIPPET_CHARS = 120
# How much text a snippet shows before the first match.
SNIPPET_LEAD_CHARS = 30
ELLIPSIS = "…"

# Scripts written without spaces between words, and Hangul (whose words carry attached
# particles): each character is its own term so that any substring can be found.
_CHAR_SCRIPT_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3134F),  # CJK extensions B to G
)
_SEPARATOR, _WORD, _CHAR = 0, 1, 2
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True, slots=True)
class Token:
    """One term of a text and where it came from (``text[start:end]``)."""

    start: int
    end: int
    term: str
    is_char: bool


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: groups of terms that must all match; the last word may be a prefix."""

    groups: tuple[tuple[str, ...], ...]
    prefix: bool

    def fts5_match(self) -> str:
        """The query as an FTS5 MATCH expression: every group quoted, so nothing is syntax."""
        parts = ['"' + " ".join(group).replace('"', '""') + '"' for group in self.groups]
        if self.prefix:
            parts[-1] += "*"
        return " AND ".join(parts)

    def score(self, terms: str, average_length: float) -> float:
        """BM25 of a document's indexed terms, without IDF: every candidate holds every term."""
        padded = f" {terms} "
        length = terms.count(" ") + 1
        norm = BM25_K1 * (1 - BM25_B + BM25_B * length / max(average_length, 1.0))
        total = 0.0
        for i, group in enumerate(self.groups):
            needle = " " + " ".join(group)
            prefix = self.prefix and i == len(self.groups) - 1
            count = padded.count(needle if prefix else needle + " ")
            total += count * (BM25_K1 + 1) / (count + norm)
        return total

    def tsquery(self) -> str:
        """The query as PostgreSQL tsquery input: quoted lexemes, phrases joined with <->."""
        parts = [" <-> ".join(_tsquery_lexeme(t) for t in group) for group in self.groups]
        if self.prefix:
            parts[-1] += ":*"
        return " & ".join(f"({p})" for p in parts)


def normalize(text: str) -> str:
    """The text as stored: NFC, so that offsets into it are offsets into what was indexed."""
    return unicodedata.normalize("NFC", text)


def tokenize(text: str) -> list[Token]:
    """The terms of ``text`` (already normalized) in order, with their offsets."""
    if text.isascii():  # the common case, done by the regex engine
        return [
            Token(m.start(), m.end(), m.group().lower()[:MAX_TERM_CHARS], False)
            for m in _ASCII_WORD.finditer(text)
        ]
    tokens: list[Token] = []
    start = None
    for i, ch in enumerate(text):
        kind = _char_kind(ch)
        if kind == _WORD:
            if start is None:
                start = i
            continue
        if start is not None:
            _add_word(tokens, text, start, i)
            start = None
        if kind == _CHAR:
            term = _fold_char(ch)
            if term:
                tokens.append(Token(i, i + 1, term, True))
    if start is not None:
        _add_word(tokens, text, start, len(text))
    return tokens


def index_terms(text: str) -> str:
    """What the databases index for ``text``: its terms, space-separated, in order."""
    return " ".join(token.term for token in tokenize(text))


def parse_query(text: str) -> Query | None:
    """Parse what the user typed; None when it holds no searchable term."""
    tokens = tokenize(normalize(text[:MAX_QUERY_CHARS].replace("\x00", " ")))
    groups: list[list[str]] = []
    previous: Token | None = None
    for token in tokens:
        # Adjacent single-character terms form one phrase: they are one substring.
        joined = previous is not None and previous.is_char and token.is_char
        if joined and previous.end == token.start:
            groups[-1].append(token.term)
        else:
            groups.append([token.term])
        previous = token
    groups = groups[:MAX_QUERY_TERMS]
    if not groups:
        return None
    # Single characters (CJK, emoji) are whole terms already; only a word can be cut short.
    last = groups[-1]
    prefix = len(last) == 1 and len(last[0]) >= MIN_PREFIX_CHARS
    return Query(tuple(tuple(g) for g in groups), prefix)


def snippet(body: str, query: Query) -> str:
    """A short excerpt of ``body`` around the first place it matches ``query``."""
    wanted = {group[0] for group in query.groups}
    prefix = query.groups[-1][0] if query.prefix else None
    at = 0
    for token in tokenize(body):
        if token.term in wanted or (prefix is not None and token.term.startswith(prefix)):
            at = token.start
            break
    start = 0 if at <= SNIPPET_LEAD_CHARS else _word_start(body, at - SNIPPET_LEAD_CHARS)
    end = min(len(body), start + SNIPPET_CHARS)
    text = " ".join(body[start:end].split())
    return (ELLIPSIS if start > 0 else "") + text + (ELLIPSIS if end < len(body) else "")


def _word_start(body: str, at: int) -> int:
    """The start of the word after ``at``, so a snippet never begins mid-word."""
    space = body.find(" ", at)
    return at if space == -1 or space - at > SNIPPET_LEAD_CHARS else space + 1


def _add_word(tokens: list[Token], text: str, start: int, end: int) -> None:
    term = _fold_word(text[start:end])
    if term:
        tokens.append(Token(start, end, term, False))


@functools.lru_cache(maxsize=4096)
def _char_kind(ch: str) -> int:
    code = ord(ch)
    if any(low <= code <= high for low, high in _CHAR_SCRIPT_RANGES):
        return _CHAR
    category = unicodedata.category(ch)
    if category == "So":  # emoji and pictographs
        return _CHAR
    # Marks belong to the word they modify; Sk (emoji skin tones), Cf (joiners) and the
    # rest separate, so "👍🏽" is found as "👍".
    if category[0] in "LNM" or category == "Co":
        return _WORD
    return _SEPARATOR


@functools.lru_cache(maxsize=65536)
def _fold_word(word: str) -> str:
    """Case-fold, drop diacritics (café -> cafe, Straße -> strasse), keep only word characters."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    kept = "".join(
        c for c in decomposed if unicodedata.category(c) != "Mn" and _char_kind(c) == _WORD
    )
    return unicodedata.normalize("NFC", kept)[:MAX_TERM_CHARS]


def _fold_char(ch: str) -> str:
    """Half-width forms become full-width; a character that is not a term folds to ''."""
    folded = unicodedata.normalize("NFKC", ch)
    return folded if len(folded) == 1 and _char_kind(folded) == _CHAR else ""


def _tsquery_lexeme(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"
