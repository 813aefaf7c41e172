"""Claiming due reminders among 1M: the scheduler's pass on SQLite and PostgreSQL.

``python -m bench claims [--quick] [--json] [--backend sqlite|postgres|both]``. Loads 1M
reminders of 1000 users (100k with --quick) the fast way (executemany on SQLite, COPY on
PostgreSQL): most fired over the past year, a third scheduled over the next year, a few
snoozed or cancelled. Then, round after round, a handful become due and the scheduler's
reminder pass is timed: ``claim_due`` (the select, each compare-and-set and each
fire_reminder job, dispatched to an in-process broker), ``claim_due`` with nothing due (most
seconds of a day), and ``next_due``. ``ms`` is the median ``claim_due`` time on the slower
backend. PostgreSQL runs in a throwaway database (see bench/_common.py); SQLite in a
temporary directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench._common import logger, report, summary_ms, throwaway_postgres
from lifeorg.broker import setup_broker
from lifeorg.config import load_settings
from lifeorg.database import open_database
from lifeorg.models import Reminder, User
from lifeorg.models.states import ReminderState
from lifeorg.scheduler.reminders import claim_due, next_due

FULL_REMINDERS = 1_000_000
QUICK_REMINDERS = 100_000
USERS = 1000
# The shares of the reminders by state; the rest are scheduled in the coming year.
FIRED_SHARE, CANCELLED_SHARE, SNOOZED_SHARE = 0.60, 0.05, 0.01
# "A realistic few": 1000 users with a few reminders a day each have 0-5 due in a second.
DUE_PER_ROUND = 5
ROUNDS = 200
# Untimed rounds first, so the timed ones do not pay for cold caches and pools.
WARMUP_ROUNDS = 10
YEAR_S = 365 * 86_400
DAY_S = 86_400
# Waiting reminders start this far ahead, so none falls due by itself during a long load.
AHEAD_S = 6 * 3600
BATCH = 10_000
SEED = 20260109
# InstantField's storage on SQLite: UTC text of one fixed width, so text order is time order.
SQLITE_INSTANT = "%Y-%m-%d %H:%M:%S.%f"
COLUMNS = "id, created_at, updated_at, owner_id, text, fire_at, state, last_fired_at"


def generate(total: int, rng: random.Random, now: float) -> tuple[list[tuple], list[int]]:
    """Reminder rows as (id, owner, text, fire_at epoch, state, last fired epoch or None),
    and the ids of scheduled ones to make due, in random order."""
    rows, scheduled = [], []
    for reminder_id in range(1, total + 1):
        roll, owner = rng.random(), rng.randint(1, USERS)
        last = None
        if roll < FIRED_SHARE:
            fire_at = last = now - rng.uniform(60, YEAR_S)
            state = ReminderState.FIRED
        elif roll < FIRED_SHARE + CANCELLED_SHARE:
            fire_at, state = now + rng.uniform(-YEAR_S, YEAR_S), ReminderState.CANCELLED
        elif roll < FIRED_SHARE + CANCELLED_SHARE + SNOOZED_SHARE:
            fire_at, state = now + rng.uniform(AHEAD_S, DAY_S), ReminderState.SNOOZED
        else:
            fire_at, state = now + rng.uniform(AHEAD_S, YEAR_S), ReminderState.SCHEDULED
            scheduled.append(reminder_id)
        rows.append((reminder_id, owner, f"call {reminder_id}", fire_at, str(state), last))
    rng.shuffle(scheduled)
    return rows, scheduled


def as_columns(rows: list[tuple], instant: Callable[[float], str], now: str) -> Iterator[tuple]:
    """Rows in COLUMNS order, instants in the backend's text form."""
    for reminder_id, owner, text, fire_at, state, last in rows:
        fired = instant(last) if last is not None else None
        yield (reminder_id, now, now, owner, text, instant(fire_at), state, fired)


def sqlite_instant(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime(SQLITE_INSTANT)


def postgres_instant(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


def load_sqlite(database, rows: list[tuple], now: float) -> None:
    """executemany in transactions of BATCH rows."""
    insert = f"INSERT INTO reminder ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    for batch in _batched(as_columns(rows, sqlite_instant, sqlite_instant(now))):
        with database.atomic():
            database.cursor().executemany(insert, batch)


def load_postgres(database, rows: list[tuple], now: float) -> None:
    """COPY in transactions of BATCH rows, then what autovacuum would do after a big load."""
    connection = database.connection()
    for batch in _batched(as_columns(rows, postgres_instant, postgres_instant(now))):
        with (
            database.atomic(),
            connection.cursor() as cursor,
            cursor.copy(f"COPY reminder ({COLUMNS}) FROM STDIN") as copy,
        ):
            for row in batch:
                copy.write_row(row)
    database.execute_sql(
        "SELECT setval(pg_get_serial_sequence('reminder', 'id'), %s)", (len(rows),)
    )
    database.execute_sql("VACUUM ANALYZE reminder")  # peewee runs in autocommit mode


def _batched(iterable) -> Iterator[list]:
    iterator = iter(iterable)
    while batch := list(itertools.islice(iterator, BATCH)):
        yield batch


def make_due(ids: list[int]) -> dt.datetime:
    """Make these scheduled reminders due a second ago; returns that instant."""
    due = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    Reminder.update(fire_at=due).where(Reminder.id.in_(ids)).execute()
    return due


def time_rounds(scheduled: list[int], rounds: int, broker) -> dict[str, list[float]]:
    """Per round: make DUE_PER_ROUND due, time claim_due, then claim_due idle and next_due."""
    times: dict[str, list[float]] = {"claim": [], "idle_claim": [], "next_due": []}
    for index in range(WARMUP_ROUNDS + rounds):
        wanted = scheduled[index * DUE_PER_ROUND : (index + 1) * DUE_PER_ROUND]
        make_due(wanted)
        started = time.perf_counter()
        claimed = claim_due()
        claim_s = time.perf_counter() - started
        if sorted(claimed) != sorted(wanted):
            raise AssertionError(f"claimed {sorted(claimed)}, expected {sorted(wanted)}")
        started = time.perf_counter()
        nothing = claim_due()
        idle_s = time.perf_counter() - started
        if nothing:
            raise AssertionError(f"claimed {nothing} with nothing due")
        started = time.perf_counter()
        next_due()
        next_s = time.perf_counter() - started
        broker.flush_all()  # the fire_reminder messages: no worker here
        if index >= WARMUP_ROUNDS:
            times["claim"].append(claim_s)
            times["idle_claim"].append(idle_s)
            times["next_due"].append(next_s)
    return times


def claim_plan(database, backend: str) -> str:
    """The database's plan of the claim query, for the notes."""
    query = (
        Reminder.select(Reminder.id)
        .where(
            Reminder.state.in_([ReminderState.SCHEDULED, ReminderState.SNOOZED])
            & (Reminder.fire_at <= dt.datetime.now(dt.UTC))
        )
        .order_by(Reminder.fire_at)
        .limit(200)
    )
    text, params = query.sql()
    prefix = "EXPLAIN QUERY PLAN " if backend == "sqlite" else "EXPLAIN "
    rows = database.execute_sql(prefix + text, params).fetchall()
    return " | ".join(str(row[-1]) for row in rows)


def run_backend(backend: str, url: str, rows, scheduled, now, rounds, broker, log) -> dict:
    """Migrate an empty database, load the reminders, time the rounds."""
    settings = load_settings(database_url=url, redis_url=None, broker_url=None, _env_file=None)
    database = open_database(settings, migrate=True)
    try:
        with database.connection_context():
            User.insert_many(
                [
                    {"id": i, "telegram_user_id": i, "timezone": "UTC", "default_time": "09:00"}
                    for i in range(1, USERS + 1)
                ]
            ).execute()
            started = time.perf_counter()
            (load_postgres if backend == "postgres" else load_sqlite)(database, rows, now)
            load_s = round(time.perf_counter() - started, 1)
            log(f"{backend}: loaded {len(rows)} reminders in {load_s} s")
            log(f"{backend}: claim plan: {claim_plan(database, backend)}")
            times = time_rounds(scheduled, rounds, broker)
        result = {name: summary_ms(values) for name, values in times.items()}
        result["load_s"] = load_s
        return result
    finally:
        database.close_all()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench claims", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REMINDERS} reminders")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)  # reminders (smoke test)
    args = parser.parse_args(argv)
    total = args.size or (QUICK_REMINDERS if args.quick else FULL_REMINDERS)
    rounds = min(ROUNDS, total // (4 * DUE_PER_ROUND) - WARMUP_ROUNDS)
    log = logger(args.json)

    now = time.time()
    rows, scheduled = generate(total, random.Random(SEED), now)
    log(f"generated {total} reminders ({len(scheduled)} scheduled)")
    # claim_due hands each claimed reminder to the broker: in-process here, nothing consumes.
    broker = setup_broker(load_settings(redis_url=None, broker_url=None, _env_file=None))
    result: dict = {"reminders": total, "users": USERS, "due_per_claim": DUE_PER_ROUND}
    result["rounds"] = rounds
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as scratch:
                url = f"sqlite:///{Path(scratch) / 'claims.db'}"
                result["sqlite"] = run_backend(
                    backend, url, rows, scheduled, now, rounds, broker, log
                )
        else:
            with throwaway_postgres("claims") as url:
                result["postgres"] = run_backend(
                    backend, url, rows, scheduled, now, rounds, broker, log
                )
    slower = max(backends, key=lambda name: result[name]["claim"]["p50_ms"])
    result["ms"] = result[slower]["claim"]["p50_ms"]
    result["ms_backend"] = slower
    report(result, args.json)
    return 0
