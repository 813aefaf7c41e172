"""Search latency: one user's 100k memories among 1M, on SQLite and PostgreSQL.

``python -m bench search [--quick] [--json] [--backend sqlite|postgres|both]``. Generates
notes from a Zipf-distributed vocabulary with rare words, wifi passwords, shopping lists and
addresses; loads them the way the application indexes them (the database's triggers build
the full-text index); then times ``lifeorg.pipeline.search.search`` for rare, common and
multi-word queries. PostgreSQL runs in a throwaway database ``lifeorg_bench``, created
through $LIFEORG_BENCH_POSTGRES_URL (an admin URL) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from lifeorg.config import load_settings
from lifeorg.database import open_database
from lifeorg.models import User
from lifeorg.pipeline.search import doc_id, search
from lifeorg.pipeline.search_text import index_terms, normalize

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DATABASE = "lifeorg_bench"
# (memories of the measured user, memories in total, users in total)
FULL_SCALE = (100_000, 1_000_000, 20)
QUICK_SCALE = (10_000, 100_000, 20)
QUERIES_PER_CLASS = 200
# Untimed queries first, so the first timed ones do not pay for cold caches and pools.
WARMUP_QUERIES = 30
VOCABULARY_SIZE = 3000
# Zipf's exponent for English word frequencies is close to 1.
ZIPF_EXPONENT = 1.07
# A rare word shows up in a handful of memories: about 0.3 per memory over this many words.
RARE_WORDS_PER_MEMORY = 25
RARE_WORD_CHANCE = 0.3
# "Common" queries: single words among the most frequent of the vocabulary.
COMMON_QUERY_RANK = 50
BATCH = 10_000
SEED = 20260101
SQLITE_INSTANT = "2026-01-01 00:00:00.000000"
POSTGRES_INSTANT = "2026-01-01 00:00:00+00"

COMMON_TEXT = """the to and a of for is in my on at with call buy milk it this that be
remember need get pick up from about by tomorrow today next week monday friday meeting
doctor appointment bill pay send email mum dad kids school car keys home work office
password wifi code door garage cabin book flight hotel dinner lunch coffee birthday gift
idea project report notes list shopping bread eggs cheese apples rice pasta water phone
number address street city train bus ticket price paid receipt bank account card new old
good great later before after morning evening night weekend holiday trip garden plant
recipe soup chicken salad cake wine beer party friend neighbour plumber dentist vet dog
cat insurance tax rent invoice meter reading boiler filter battery charger laptop printer
"""
ITEMS_TEXT = """milk eggs bread butter cheese apples bananas rice pasta tomatoes onions garlic
coffee tea sugar flour yoghurt chicken fish soap shampoo toothpaste batteries candles wine
beer juice lemons potatoes carrots spinach oats honey jam salt pepper olive oil"""
PLACES_TEXT = "cabin office garage flat studio boat van guesthouse barn shed"
SYLLABLES_TEXT = "ka lo mi ne ru sa ti po ve da fi gu ho je ku la mo ni pe qu ro si tu vo wa"
COMMON, ITEMS = COMMON_TEXT.split(), ITEMS_TEXT.split()
PLACES, SYLLABLES = PLACES_TEXT.split(), SYLLABLES_TEXT.split()


@dataclass
class Corpus:
    """Generated memories: owners, texts, and the queries to time against the first owner."""

    owners: list[int]
    texts: list[str]
    queries: dict[str, list[str]]


def pseudo_word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables))


def generate(target: int, total: int, users: int, rng: random.Random) -> Corpus:
    """Memories for ``users`` users, ``target`` of them the measured user's (user 1)."""
    generated = {pseudo_word(rng, rng.randint(2, 4)) for _ in range(VOCABULARY_SIZE * 2)}
    vocabulary = COMMON + sorted(generated - set(COMMON))[: VOCABULARY_SIZE - len(COMMON)]
    rng.shuffle(vocabulary[len(COMMON) :])
    weights = list(
        itertools.accumulate(1 / (r + 1) ** ZIPF_EXPONENT for r in range(VOCABULARY_SIZE))
    )
    rare = [f"x{pseudo_word(rng, 3)}{i}" for i in range(total // RARE_WORDS_PER_MEMORY)]
    owners = [1] * target + [rng.randint(2, users) for _ in range(total - target)]
    rng.shuffle(owners)
    texts = []
    for _ in range(total):
        kind = rng.random()
        if kind < 0.15:
            secret = f"{pseudo_word(rng, 4)}{rng.randint(10, 99)}"
            text = f"wifi password for the {rng.choice(PLACES)} is {secret}"
        elif kind < 0.3:
            items = rng.sample(ITEMS, rng.randint(3, 6))
            text = "buy " + ", ".join(items[:-1]) + " and " + items[-1]
        elif kind < 0.4:
            street, city = pseudo_word(rng, 3).title(), pseudo_word(rng, 2).title()
            text = f"{rng.randint(1, 300)} {street} Street, {city} {rng.randint(10000, 99999)}"
        else:
            words = rng.choices(vocabulary, cum_weights=weights, k=rng.randint(5, 30))
            text = " ".join(words).capitalize()
        if rng.random() < RARE_WORD_CHANCE:
            text += f" {rng.choice(rare)}"
        texts.append(text)
    mine = [t for t, o in zip(texts, owners, strict=True) if o == 1]
    return Corpus(owners, texts, make_queries(mine, vocabulary, rng))


def make_queries(
    mine: list[str], vocabulary: list[str], rng: random.Random
) -> dict[str, list[str]]:
    """Rare words the user wrote, frequent single words, and 2-3 words of one of their notes."""
    rare = [w for t in mine for w in t.split() if w.startswith("x") and w[-1].isdigit()]
    notes = [t.split() for t in mine if len(t.split()) >= 6 and not t.startswith(("wifi", "buy"))]
    multi = []
    for _ in range(QUERIES_PER_CLASS):
        words = rng.choice(notes)
        multi.append(" ".join(rng.sample(words, rng.randint(2, 3))).lower())
    return {
        "rare": rng.sample(rare, QUERIES_PER_CLASS),
        "common": rng.choices(vocabulary[:COMMON_QUERY_RANK], k=QUERIES_PER_CLASS),
        "multi": multi,
    }


def rows(corpus: Corpus, instant: str) -> Iterator[tuple[tuple, tuple]]:
    """(memory row, search_doc row) per memory, as the application would index them."""
    for memory_id, (owner, text) in enumerate(zip(corpus.owners, corpus.texts, strict=True), 1):
        body = normalize(text)
        memory = (memory_id, instant, instant, owner, text, "confirmed", False)
        doc = (
            doc_id(owner, "memory", memory_id),
            owner,
            memory_id,
            body,
            index_terms(body),
            instant,
        )
        yield memory, doc


MEMORY_COLUMNS = "id, created_at, updated_at, owner_id, content, status, pinned"
DOC_COLUMNS = "id, owner_id, memory_id, body, terms, updated_at"


def load_sqlite(database, corpus: Corpus) -> None:
    """executemany in transactions of BATCH rows; the FTS5 triggers index each row."""
    memory_sql = f"INSERT INTO memory ({MEMORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    doc_sql = f"INSERT INTO search_doc ({DOC_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
    for batch in _batched(rows(corpus, SQLITE_INSTANT)):
        with database.atomic():
            cursor = database.cursor()
            cursor.executemany(memory_sql, [m for m, _ in batch])
            cursor.executemany(doc_sql, [d for _, d in batch])


def load_postgres(database, corpus: Corpus) -> None:
    """COPY in transactions of BATCH rows; the trigger builds each row's tsvector."""
    connection = database.connection()
    for batch in _batched(rows(corpus, POSTGRES_INSTANT)):
        with database.atomic(), connection.cursor() as cursor:
            with cursor.copy(f"COPY memory ({MEMORY_COLUMNS}) FROM STDIN") as copy:
                for memory, _ in batch:
                    copy.write_row(memory)
            with cursor.copy(f"COPY search_doc ({DOC_COLUMNS}) FROM STDIN") as copy:
                for _, doc in batch:
                    copy.write_row(doc)
    # What autovacuum would do on a live server: merge the GIN pending list, which every
    # query otherwise scans, and gather statistics.
    connection.autocommit = True
    database.execute_sql("VACUUM ANALYZE")


def _batched(iterable) -> Iterator[list]:
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, BATCH)):
        yield batch


def time_queries(queries: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """p50, p99 and mean hit count of each query class, for user 1."""
    for query in itertools.islice(itertools.chain(*queries.values()), WARMUP_QUERIES):
        search(1, query)
    results = {}
    for name, batch in queries.items():
        times, hits = [], 0
        for query in batch:
            started = time.perf_counter()
            hits += len(search(1, query))
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        results[name] = {
            "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[math.ceil(0.99 * len(times)) - 1], 2),
            "mean_hits": round(hits / len(batch), 1),
        }
    return results


def run_backend(backend: str, url: str, corpus: Corpus, users: int, log) -> dict:
    """Migrate an empty database, load the corpus, time the queries."""
    database = open_database(load_settings(database_url=url, _env_file=None), migrate=True)
    try:
        with database.connection_context():
            for user_id in range(1, users + 1):
                User.create(
                    id=user_id, telegram_user_id=user_id, timezone="UTC", default_time="09:00"
                )
            started = time.perf_counter()
            (load_postgres if backend == "postgres" else load_sqlite)(database, corpus)
            load_s = round(time.perf_counter() - started, 1)
            log(f"{backend}: loaded {len(corpus.texts)} memories in {load_s} s")
            result = time_queries(corpus.queries)
            result["load_s"] = load_s
            return result
    finally:
        database.close_all()


def postgres_database(admin_url: str, create: bool) -> str:
    """Create (or drop) the throwaway benchmark database; returns its URL."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(BENCH_DATABASE)))
        if create:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DATABASE)))
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{BENCH_DATABASE}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench search", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="10k memories among 100k")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args(argv)
    target, total, users = QUICK_SCALE if args.quick else FULL_SCALE

    def log(message: str) -> None:
        print(message, file=sys.stderr if args.json else sys.stdout, flush=True)

    started = time.perf_counter()
    corpus = generate(target, total, users, random.Random(SEED))
    log(f"generated {total} memories ({target} of user 1) in {time.perf_counter() - started:.1f} s")
    report: dict = {"memories": total, "memories_of_user": target, "users": users}
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as scratch:
                url = f"sqlite:///{Path(scratch) / 'bench.db'}"
                report["sqlite"] = run_backend(backend, url, corpus, users, log)
        else:
            admin_url = os.environ.get("LIFEORG_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)
            try:
                url = postgres_database(admin_url, create=True)
                report["postgres"] = run_backend(backend, url, corpus, users, log)
            finally:
                postgres_database(admin_url, create=False)
    headline = report.get("sqlite") or report["postgres"]
    worst = max(("rare", "common", "multi"), key=lambda name: headline[name]["p99_ms"])
    report["p50_ms"], report["p99_ms"] = headline[worst]["p50_ms"], headline[worst]["p99_ms"]
    report["worst_class"] = worst
    if args.json:
        print(json.dumps(report))
    else:
        for backend in backends:
            for name in ("rare", "common", "multi"):
                log(f"{backend:8} {name:6} {report[backend][name]}")
    return 0
