"""Full-text search on SQLite and PostgreSQL: what is found, in what order, and by whom."""

from __future__ import annotations

import peewee
import pytest

from lifeorg.models import Event, Memory, MemoryTag, SearchDoc, User
from lifeorg.models.states import EventSource, EventStatus, TagStatus
from lifeorg.pipeline.search import CANDIDATES, index_event, index_memory, search
from lifeorg.pipeline.search_text import MAX_QUERY_TERMS, parse_query

HOSTILE_QUERIES = [
    '"',
    "'",
    "(",
    ")",
    "*",
    "-foo",
    "foo AND",
    "AND",
    "NEAR(a b)",
    "NEAR",
    "a:b",
    "terms:wifi",
    "^x",
    "OR",
    "NOT wifi",
    "\\",
    "%",
    "_",
    "wifi%",
    "w_fi",
    "'wifi' & !password",
    "wifi:*",
    "a <-> b",
    "{terms}: x",
    "\x00",
    "wifi\x00password",
    "'; DROP TABLE search_doc; --",
    "x" * 5000,
    "wifi " * 500,
    "🎉" * 300,
    "\ud800",
]


def make_user(telegram_user_id: int = 1001) -> User:
    return User.create(telegram_user_id=telegram_user_id, timezone="UTC", default_time="09:00")


def remember(user: User, content: str, tags=(), description: str | None = None) -> Memory:
    memory = Memory.create(owner=user, content=content, description=description)
    for tag, status in tags:
        MemoryTag.create(memory=memory, owner=user, tag=tag, status=status)
    index_memory(memory)
    return memory


def found(user: User, query: str) -> list[tuple[str, int]]:
    return [(hit.kind, hit.id) for hit in search(user.id, query)]


def indexed_rows(database) -> int:
    """Rows in the database's own full-text index, whichever backend."""
    if isinstance(database, peewee.PostgresqlDatabase):
        return database.execute_sql("SELECT count(*) FROM search_doc_vector").fetchone()[0]
    sql = "SELECT count(*) FROM search_doc_fts_docsize"  # one row per indexed document
    return database.execute_sql(sql).fetchone()[0]


def test_finds_a_memory_by_its_content(database):
    """Given a note, when searching one of its words, then that memory is the hit."""
    user = make_user()
    wifi = remember(user, "The wifi password for the cabin is hunter2")
    remember(user, "Buy milk and eggs")

    hits = search(user.id, "hunter2")

    assert [(h.kind, h.id) for h in hits] == [("memory", wifi.id)]
    assert "hunter2" in hits[0].snippet and hits[0].score > 0


def test_finds_a_memory_by_a_suggested_or_confirmed_tag(database):
    """Tags are searchable whether the user confirmed them yet or not."""
    user = make_user()
    photo = remember(
        user, "", tags=[("receipt", TagStatus.SUGGESTED), ("ikea", TagStatus.CONFIRMED)]
    )

    assert found(user, "receipt") == [("memory", photo.id)]
    assert found(user, "ikea") == [("memory", photo.id)]


def test_finds_a_photo_by_its_image_description(database):
    """The vision model's description, visible text included, is searchable."""
    user = make_user()
    photo = remember(user, "", description="A router label reading SSID CabinNet")

    assert found(user, "cabinnet") == [("memory", photo.id)]


def test_finds_events_by_title_and_location_but_not_rejected_ones(database):
    """Pending and confirmed events are found; a rejected suggestion drops out of search."""
    user = make_user()
    dentist = Event.create(
        owner=user,
        description="Dentist check-up",
        location="Harbour Clinic",
        source_type=EventSource.EMAIL,
        status=EventStatus.PENDING,
    )
    index_event(dentist)
    assert found(user, "dentist") == [("event", dentist.id)]
    assert found(user, "harbour clinic") == [("event", dentist.id)]

    assert dentist.transition(EventStatus.REJECTED)
    index_event(dentist)

    assert found(user, "dentist") == []


def test_a_memory_matching_every_word_twice_ranks_first(database):
    """Given two matches, the one with each word twice ranks above the one with each once."""
    user = make_user()
    twice = remember(user, "wifi password at home, and the guest wifi password too")
    once = remember(user, "wifi password for the garage is kept in the drawer")

    hits = search(user.id, "wifi password")

    assert [h.id for h in hits] == [twice.id, once.id]
    assert hits[0].score > hits[1].score


def test_the_last_word_matches_as_a_prefix(database):
    """'wif' finds 'wifi'; earlier words must be whole; one letter is no prefix."""
    user = make_user()
    wifi = remember(user, "wifi password is hunter2")

    assert found(user, "wif") == [("memory", wifi.id)]
    assert found(user, "password hunt") == [("memory", wifi.id)]
    assert found(user, "wif password") == []
    assert found(user, "w") == []


@pytest.mark.parametrize(
    ("stored", "query"),
    [("Café Müller", "cafe muller"), ("cafe muller", "Café Müller"), ("Straße 5", "strasse")],
)
def test_diacritics_and_case_fold_both_ways(database, stored, query):
    """Accents, case and ß fold away on either side."""
    user = make_user()
    memory = remember(user, stored)

    assert found(user, query) == [("memory", memory.id)]


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("Купить молоко и хлеб", "МОЛОКО"),
        ("Новогодняя ёлка", "елка"),
        ("Καφές με την Ελένη", "καφες"),
        ("كلمة السر للواي فاي", "السر"),
        ("我喜欢喝咖啡", "咖啡"),
        ("東京駅で待ち合わせ", "待ち合わせ"),
        ("비밀번호는 하늘입니다", "하늘"),
        ("party tonight 🎉🎂", "🎉"),
        ("thumbs up 👍🏽 from mum", "👍"),
    ],
)
def test_other_scripts_and_emoji_are_found(database, stored, query):
    """Cyrillic, Greek, Arabic words; any CJK/Hangul substring; a single emoji."""
    user = make_user()
    memory = remember(user, stored)
    remember(user, "喝茶 🍵 Tee und Kuchen")

    assert found(user, query) == [("memory", memory.id)]


def test_cjk_substrings_must_be_adjacent(database):
    """A CJK query is a substring, not a bag of characters."""
    user = make_user()
    remember(user, "咖啡和茶")

    assert found(user, "啡咖") == []


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_query_syntax_of_either_database_is_plain_text(database, query):
    """Operators, quotes and odd characters never raise and never reach another user."""
    mine, theirs = make_user(1), make_user(2)
    remember(mine, "wifi password foo a b x")
    other = remember(theirs, "wifi password foo a b x terms owner")

    hits = search(mine.id, query)

    assert all(h.id != other.id for h in hits)
    assert len(hits) <= 1


def test_operators_are_searched_as_words(database):
    """'NEAR', 'OR' and quotes are words to find, not syntax."""
    user = make_user()
    near = remember(user, "Meet near the OR entrance")
    remember(user, "wifi password")

    assert found(user, '"near" (OR)') == [("memory", near.id)]
    assert found(user, "wifi OR near") == []


def test_each_user_sees_only_their_own_memories(database):
    """Two users with the same note: each search returns only the searcher's memory."""
    alice, bob = make_user(1), make_user(2)
    hers = remember(alice, "wifi password is hunter2")
    his = remember(bob, "wifi password is hunter2")

    assert found(alice, "hunter2") == [("memory", hers.id)]
    assert found(bob, "hunter2") == [("memory", his.id)]
    for trick in ("hunter2 OR owner", "hunter2 OR 1", "* OR hunter2", "owner:2 hunter2"):
        assert {h.id for h in search(alice.id, trick)} <= {hers.id}
    assert search(999, "hunter2") == []
    assert search(2**40, "hunter2") == []


def test_editing_a_memory_updates_what_finds_it(database):
    """After the content changes and is re-indexed, the old word is gone, the new one found."""
    user = make_user()
    memory = remember(user, "door code 1234")

    memory.content = "door code 9876"
    memory.save()
    index_memory(memory)
    index_memory(memory)  # re-indexing is idempotent

    assert found(user, "1234") == []
    assert found(user, "9876") == [("memory", memory.id)]
    assert SearchDoc.select().count() == 1
    assert indexed_rows(database) == 1


def test_deleting_a_memory_or_a_user_removes_their_documents(database):
    """Cascades remove the documents, and the database's triggers remove them from the index."""
    alice, bob = make_user(1), make_user(2)
    note = remember(alice, "garage code 4321")
    remember(alice, "garage opens at eight")
    remember(bob, "garage sale on sunday")

    note.delete_instance()
    assert found(alice, "4321") == []
    assert indexed_rows(database) == 2

    alice.delete_instance(recursive=False)
    assert SearchDoc.select().where(SearchDoc.owner == alice.id).count() == 0
    assert indexed_rows(database) == 1
    assert len(search(bob.id, "garage")) == 1


def test_limit_and_empty_queries(database):
    """The limit caps the hits; blank or punctuation-only queries find nothing."""
    user = make_user()
    for day in range(5):
        remember(user, f"standup notes day {day}")

    assert len(search(user.id, "standup", limit=3)) == 3
    assert search(user.id, "standup", limit=0) == []
    assert search(user.id, "") == []
    assert search(user.id, "  ?!… -- ") == []


def test_a_common_word_ranks_the_newest_matches(database):
    """Past CANDIDATES matches, the newest are ranked and the oldest are left out."""
    user = make_user()
    oldest = remember(user, "milk")
    for _ in range(CANDIDATES):
        remember(user, "milk")

    hits = search(user.id, "milk", limit=5)

    assert len(hits) == 5 and oldest.id not in {h.id for h in hits}


def test_snippet_shows_the_match_in_a_long_memory(database):
    """A long memory's snippet starts near the matched word, not at the top."""
    user = make_user()
    remember(user, "filler " * 100 + "the boiler serial is BX-42 " + "filler " * 100)

    (hit,) = search(user.id, "boiler")

    assert "boiler serial" in hit.snippet
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert len(hit.snippet) < 200


def test_parsed_queries_quote_every_term():
    """Pure: the FTS5 and tsquery forms quote terms and join CJK runs into phrases."""
    query = parse_query('NEAR("a b") wif')
    assert query.fts5_match() == '"near" AND "a" AND "b" AND "wif"*'
    assert query.tsquery() == "('near') & ('a') & ('b') & ('wif':*)"
    assert parse_query("咖啡 tea").fts5_match() == '"咖 啡" AND "tea"*'
    assert parse_query("咖啡").tsquery() == "('咖' <-> '啡')"
    assert parse_query("-- ( ) * :") is None
    assert len(parse_query("w " * 100).groups) == MAX_QUERY_TERMS
