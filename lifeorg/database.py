"""Opening the database named by the configuration, and keeping its schema current.

SQLite (the laptop default) runs in WAL mode with a busy timeout and foreign keys on;
PostgreSQL goes through psycopg 3. Both are pooled, because the worker middleware opens and
closes a connection around every message. Schema changes are numbered migration files in
``lifeorg/models/migrations``, applied by Peewee's runner under a cross-process lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

import peewee
from playhouse.migrations import Runner
from playhouse.pool import PooledSqliteDatabase
from playhouse.postgres_ext import PooledPsycopg3Database

from lifeorg.config import Settings
from lifeorg.errors import DatabaseError, SchemaOutOfDate
from lifeorg.models.base import db

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "models" / "migrations"
MIGRATIONS_TABLE = "schema_migration"

# Writers wait this long for SQLite's lock instead of failing at once: longer than any
# single transaction we run, short enough that a stuck process shows up as an error.
SQLITE_BUSY_TIMEOUT_S = 15
SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # readers never block the writer, nor it them
    "synchronous": "normal",  # durable across process crashes; WAL makes it safe
    "foreign_keys": 1,
    "busy_timeout": SQLITE_BUSY_TIMEOUT_S * 1000,
}
# Idle pooled connections are dropped after this long, so a restarted server or a
# load balancer's idle cut never hands a dead connection to a step.
POOL_STALE_S = 300
# How long a thread waits for a free pooled connection before it is an error.
POOL_WAIT_S = 20
# Any constant; it names the migration lock among PostgreSQL advisory locks.
PG_MIGRATION_LOCK = 0x11FE0126


def open_database(settings: Settings, *, migrate: bool = False) -> peewee.Database:
    """Bind ``db`` to the configured database; with ``migrate``, bring the schema up to date.

    Raises DatabaseError when it cannot be opened, SchemaOutOfDate when migrations are
    pending and ``migrate`` is false.
    """
    database = build_database(settings.database_url, settings.database_pool_size)
    db.initialize(database)
    try:
        with db.connection_context():
            if migrate:
                upgrade(database)
            else:
                pending = pending_migrations(database)
                if pending:
                    raise SchemaOutOfDate(
                        f"the database schema is behind ({len(pending)} pending migration(s), "
                        "first "
                        f"{pending[0]}); run `lifeorg db upgrade`"
                    )
    except peewee.OperationalError as exc:
        raise DatabaseError(f"cannot open the database: {_first_line(exc)}") from exc
    return database


def build_database(url: str, pool_size: int) -> peewee.Database:
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme == "sqlite":
        path = rest.removeprefix("/")  # sqlite:///rel/path, sqlite:////abs/path
        if not path:
            raise DatabaseError("DATABASE_URL: sqlite:/// needs a file path")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return PooledSqliteDatabase(
            path,
            pragmas=SQLITE_PRAGMAS,
            timeout=SQLITE_BUSY_TIMEOUT_S,
            max_connections=pool_size,
            stale_timeout=POOL_STALE_S,
            check_same_thread=False,
        )
    if scheme in ("postgres", "postgresql"):
        # Heroku and Dokku hand out postgres://; libpq wants postgresql://.
        return PooledPsycopg3Database(
            f"postgresql://{rest}",
            max_connections=pool_size,
            stale_timeout=POOL_STALE_S,
            timeout=POOL_WAIT_S,
            # No server-side prepared statements: after five runs psycopg would prepare a
            # query, and PostgreSQL may then plan it once for any parameters. That generic
            # plan cannot know how common a search word is (a 40 ms search instead of 14;
            # `python -m bench search`) nor use the reminder claim's partial index.
            prepare_threshold=None,
        )
    raise DatabaseError(f"DATABASE_URL: unsupported scheme {scheme!r}")


def migration_runner(database: peewee.Database) -> Runner:
    return Runner(database, str(MIGRATIONS_DIR), table_name=MIGRATIONS_TABLE)


def pending_migrations(database: peewee.Database) -> list[str]:
    """Names of the migrations not yet applied to this database."""
    return [m.name for m in migration_runner(database).status() if m.applied is None and m.path]


def applied_migrations(database: peewee.Database) -> list[str]:
    """Names of the migrations recorded as applied, in order."""
    return [m.name for m in migration_runner(database).status() if m.applied is not None]


def upgrade(database: peewee.Database) -> list[str]:
    """Apply pending migrations once, even with several processes starting together."""
    with _migration_lock(database):
        applied = migration_runner(database).up()
    for name in applied:
        log.info("applied migration %s", name)
    return applied


@contextlib.contextmanager
def _migration_lock(database: peewee.Database) -> Iterator[None]:
    """Hold a lock that one process at a time can have, for the whole migration run."""
    if isinstance(database, peewee.PostgresqlDatabase):
        database.execute_sql("SELECT pg_advisory_lock(%s)", (PG_MIGRATION_LOCK,))
        try:
            yield
        finally:
            database.execute_sql("SELECT pg_advisory_unlock(%s)", (PG_MIGRATION_LOCK,))
        return
    if database.database == ":memory:":
        yield
        return
    # A file lock beside the database: SQLite's own lock cannot span the table rebuilds
    # that SQLite migrations need outside a transaction.
    with open(f"{database.database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check(database: peewee.Database) -> tuple[str, list[str]]:
    """Describe a reachable database and list its pending migrations; raises DatabaseError."""
    try:
        with database.connection_context():
            database.execute_sql("SELECT 1")
            applied, pending = applied_migrations(database), pending_migrations(database)
    except peewee.PeeweeException as exc:
        raise DatabaseError(_first_line(exc)) from exc
    kind = "PostgreSQL" if isinstance(database, peewee.PostgresqlDatabase) else "SQLite"
    return f"{kind}, schema at {applied[-1] if applied else 'empty'}", pending


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
