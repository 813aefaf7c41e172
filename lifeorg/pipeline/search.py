"""Full-text search over a user's memories and events: keeping it current, and querying it.

Each memory and event has one ``SearchDoc`` (its text as shown, and its terms as
``search_text`` folds them); the database keeps the full-text index from the terms by
trigger: FTS5 on SQLite, a GIN-indexed tsvector on PostgreSQL. Call ``index_memory`` after a
memory's content, tags or description change and ``index_event`` after an event's
description, location or status change; deleting a memory, an event or a user deletes its
documents by cascade.

A document's id carries its owner in the high bits, so every query is confined to one id
range: the owner's rows are the only ones the index even visits, and another user's row
cannot be returned whatever the query says (user text only ever reaches SQL as quoted terms
in a bound parameter). The index finds the owner's newest matches; they are ranked here, by
BM25 over their terms, the same way on both backends. bm25() and ts_rank_cd() were measured
and dropped: both rank every match of a common word, and bm25() first counts its matches
across all users (over 100 ms at 1M memories; see ``python -m bench search``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import peewee

from lifeorg.models import Event, Memory, MemoryTag, SearchDoc
from lifeorg.models.base import db, utcnow
from lifeorg.models.states import EventStatus
from lifeorg.pipeline.search_text import Query, index_terms, normalize, parse_query, snippet

# Document id = owner << 40 | source id << 1 | kind: 2**39 memories or events each, and
# 2**23 users, fit a signed 64-bit integer; both are far beyond one deployment's lifetime.
OWNER_SHIFT = 40
MAX_SOURCE_ID = (1 << (OWNER_SHIFT - 1)) - 1
MAX_OWNER_ID = (1 << (63 - OWNER_SHIFT)) - 1
_KIND_BITS = {"memory": 0, "event": 1}
# A rejected or expired suggestion from email was never the user's event.
SEARCHABLE_EVENT_STATUSES = frozenset({EventStatus.PENDING, EventStatus.CONFIRMED})
# Telegram messages hold 4096 characters; an album caption, tags and an image description
# stay far below this, and it keeps one document well under PostgreSQL's 1 MB tsvector limit.
MAX_BODY_CHARS = 100_000
# Ranking every match of a very common word costs time in proportion to the user's
# memories (and bm25's statistics, to everyone's): the newest matches are ranked instead. A
# query matching more than this many memories finds the best of the newest ones.
CANDIDATES = 500
# More hits than fit in a reply are never useful, and a bound keeps ranking cheap.
MAX_LIMIT = 100

Kind = Literal["memory", "event"]


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result: which memory or event, how well it matched, and an excerpt."""

    kind: Kind
    id: int
    score: float  # higher is better; comparable within one result list only
    snippet: str


def doc_id(owner_id: int, kind: Kind, source_id: int) -> int:
    """The search document id of a memory or event; raises ValueError when out of range."""
    if not 0 < owner_id <= MAX_OWNER_ID or not 0 < source_id <= MAX_SOURCE_ID:
        raise ValueError(f"search: ids out of range (owner {owner_id}, {kind} {source_id})")
    return owner_id << OWNER_SHIFT | source_id << 1 | _KIND_BITS[kind]


def owner_doc_range(owner_id: int) -> tuple[int, int]:
    """The first and last document id an owner's documents can have."""
    return owner_id << OWNER_SHIFT, ((owner_id + 1) << OWNER_SHIFT) - 1


def memory_body(memory: Memory, tags: list[str]) -> str:
    """A memory's searchable text: its content, its tags and its image description."""
    parts = [memory.content, " ".join(f"#{tag}" for tag in tags), memory.description or ""]
    return "\n".join(p for p in parts if p)


def event_body(event: Event) -> str:
    """An event's searchable text: its title and its location."""
    return "\n".join(p for p in (event.description, event.location or "") if p)


def index_memory(memory: Memory) -> None:
    """Create or refresh a memory's search document (its confirmed and suggested tags too)."""
    tags = [
        t.tag
        for t in MemoryTag.select(MemoryTag.tag)
        .where(MemoryTag.memory == memory.id)
        .order_by(MemoryTag.tag)
    ]
    _upsert(memory.owner_id, "memory", memory.id, memory_body(memory, tags))


def index_event(event: Event) -> None:
    """Create or refresh an event's search document; a rejected or expired event has none."""
    if event.status not in SEARCHABLE_EVENT_STATUSES:
        SearchDoc.delete().where(SearchDoc.event == event.id).execute()
        return
    _upsert(event.owner_id, "event", event.id, event_body(event))


def reindex(owner_id: int) -> int:
    """Rebuild every search document of one user (after a change to the text rules)."""
    count = 0
    with db.atomic():
        for memory in Memory.select().where(Memory.owner == owner_id).iterator():
            index_memory(memory)
            count += 1
        for event in Event.select().where(Event.owner == owner_id).iterator():
            index_event(event)
            count += 1
    return count


def search(owner_id: int, query: str, *, limit: int = 10) -> list[SearchHit]:
    """The owner's memories and events that contain every word of ``query``, best first.

    The last word also matches as a prefix. Any text is accepted: operators and quotes of
    either database's query language are plain words; an empty query finds nothing.
    """
    parsed = parse_query(query)
    limit = min(limit, MAX_LIMIT)
    if parsed is None or limit <= 0 or not 0 < owner_id <= MAX_OWNER_ID:
        return []
    low, high = owner_doc_range(owner_id)
    if isinstance(db.obj, peewee.PostgresqlDatabase):
        sql, expression = _POSTGRES_CANDIDATES, parsed.tsquery()
    else:
        sql, expression = _SQLITE_CANDIDATES, parsed.fts5_match()
    rows = db.execute_sql(sql, (expression, low, high, CANDIDATES, owner_id)).fetchall()
    if not rows:
        return []
    average_length = sum(terms.count(" ") + 1 for _, _, terms in rows) / len(rows)
    scored = sorted(
        ((parsed.score(terms, average_length), doc, body) for doc, body, terms in rows),
        key=lambda row: (-row[0], -row[1]),
    )
    return [_hit(doc, body, score, parsed) for score, doc, body in scored[:limit]]


def _hit(doc: int, body: str, score: float, query: Query) -> SearchHit:
    kind: Kind = "event" if doc & 1 else "memory"
    source_id = (doc & ((1 << OWNER_SHIFT) - 1)) >> 1
    return SearchHit(kind, source_id, round(score, 6), snippet(body, query))


def _upsert(owner_id: int, kind: Kind, source_id: int, text: str) -> None:
    body = normalize(text[:MAX_BODY_CHARS])
    row = {
        SearchDoc.id: doc_id(owner_id, kind, source_id),
        SearchDoc.owner: owner_id,
        SearchDoc.memory if kind == "memory" else SearchDoc.event: source_id,
        SearchDoc.body: body,
        SearchDoc.terms: index_terms(body),
        SearchDoc.updated_at: utcnow(),
    }
    excluded = peewee.EXCLUDED
    (
        SearchDoc.insert(row)
        .on_conflict(
            conflict_target=[SearchDoc.id],
            update={
                SearchDoc.body: excluded.body,
                SearchDoc.terms: excluded.terms,
                SearchDoc.updated_at: excluded.updated_at,
            },
            # Re-indexing unchanged text rewrites nothing, in the table or in the index.
            where=(SearchDoc.body != excluded.body) | (SearchDoc.terms != excluded.terms),
        )
        .execute()
    )


# Both backends return the same candidates: the owner's newest matching documents, found
# within the owner's id range. The join re-checks the owner on the document itself.
_SQLITE_CANDIDATES = """
SELECT d.id, d.body, d.terms
FROM (
    SELECT rowid AS doc_id FROM search_doc_fts
    WHERE search_doc_fts MATCH ? AND rowid BETWEEN ? AND ?
    ORDER BY rowid DESC LIMIT ?
) AS m
JOIN search_doc AS d ON d.id = m.doc_id
WHERE d.owner_id = ?
"""

# MATERIALIZED: the planner must find the candidates first and only then join them, rather
# than read every document of the owner to join them all.
_POSTGRES_CANDIDATES = """
WITH m AS MATERIALIZED (
    SELECT doc_id FROM search_doc_vector
    WHERE vector @@ CAST(%s AS tsquery) AND doc_id BETWEEN %s AND %s
    ORDER BY doc_id DESC LIMIT %s
)
SELECT d.id, d.body, d.terms FROM m JOIN search_doc AS d ON d.id = m.doc_id
WHERE d.owner_id = %s
"""
