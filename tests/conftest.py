"""Shared fixtures: real SQLite and PostgreSQL databases, a real Redis, the in-process broker.

A service that cannot be found or started skips its tests on a laptop and fails them on CI
(``CI=true``), so CI never passes by skipping.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import dramatiq
import pytest

from lifeorg.config import Settings, load_settings
from lifeorg.database import open_database
from lifeorg.models import ALL_MODELS
from tests import services

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["sqlite", "postgres"]


def _require(factory: Callable[[], str], what: str) -> str:
    try:
        return factory()
    except services.ServiceUnavailable as exc:
        if ON_CI:
            pytest.fail(f"{what} is required on CI and could not be had: {exc}", pytrace=False)
        pytest.skip(f"{what} unavailable: {exc}")


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _require(services.redis_url, "Redis")


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    return _require(services.postgres_url, "PostgreSQL")


@pytest.fixture(scope="session")
def imap_server() -> services.DovecotServer:
    """A throwaway Dovecot: ``new_account()`` gives a fresh mailbox, ``append()`` fills it."""
    return _require(services.dovecot_server, "Dovecot (IMAP)")


@pytest.fixture(scope="session")
def postgres_test_url(postgres_admin_url: str) -> Iterator[str]:
    """One database for the session; each test empties its tables."""
    name = f"lifeorg_test_{os.getpid()}"
    url = services.create_database(postgres_admin_url, name)
    yield url
    from lifeorg.models.base import db

    if db.obj is not None:
        db.obj.close_all()
    services.drop_database(postgres_admin_url, name)


@pytest.fixture
def fresh_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A brand-new, empty database for tests that need to start from nothing."""
    name = f"lifeorg_fresh_{uuid.uuid4().hex[:12]}"
    url = services.create_database(postgres_admin_url, name)
    yield url
    from lifeorg.models.base import db

    if db.obj is not None:
        db.obj.close_all()
    services.drop_database(postgres_admin_url, name)


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a test: its own data dir, no broker URL, nothing read from .env."""
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "database_url": f"sqlite:///{tmp_path / 'lifeorg.db'}",
        "redis_url": None,
        "broker_url": None,
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'lifeorg.db'}"
    return request.getfixturevalue("postgres_test_url")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url)


@pytest.fixture
def database(settings: Settings):
    """The configured database, migrated and empty, bound to ``lifeorg.models.base.db``."""
    database = open_database(settings, migrate=True)
    with database.connection_context():
        if settings.database_url.startswith("postgres"):
            tables = ", ".join(f'"{m._meta.table_name}"' for m in ALL_MODELS)
            database.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    database.connect()
    yield database
    if not database.is_closed():
        database.close()
    database.close_all()


def pytest_configure(config: pytest.Config) -> None:
    """The test session is a process start: set up the in-process broker, then the actors."""
    from lifeorg import runtime
    from lifeorg.broker import setup_broker
    from lifeorg.models.base import db

    settings = Settings(redis_url=None, broker_url=None, llm_model=None, _env_file=None)
    broker = setup_broker(settings)
    import lifeorg.actors  # noqa: F401
    import tests.steps  # noqa: F401

    # Each test binds its own database to ``db``; the runtime holds the proxy.
    runtime.register(runtime.Runtime(settings, db, broker))


@pytest.fixture(scope="session")
def broker() -> dramatiq.Broker:
    """The in-process broker with every actor and the probe steps declared."""
    return dramatiq.get_broker()


@pytest.fixture
def worker(broker: dramatiq.Broker, database) -> Iterator[dramatiq.Worker]:
    """In-process worker threads over the test database."""
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=20)
    worker.start()
    yield worker
    # A message still held by a stopping worker is never counted done, and every later
    # settle() would wait for it: finish what is in flight first.
    from lifeorg.runtime import settle as settle_all

    try:
        settle_all(broker, [worker], 30)
    finally:
        worker.stop()
        broker.flush_all()


@pytest.fixture
def settle(broker: dramatiq.Broker, worker: dramatiq.Worker) -> Callable[[], None]:
    """Wait until the in-process pipeline has nothing left to do."""
    from lifeorg.runtime import settle

    return lambda timeout=20.0: settle(broker, [worker], timeout)


def lifeorg_command(*args: str) -> list[str]:
    """The command line that runs ``lifeorg`` from this checkout."""
    return [sys.executable, "-m", "lifeorg.cli", *args]


# The variables read unprefixed (the platforms' conventions); the rest are LIFEORG_*. DYNO is
# set by Heroku and Dokku in each process they run.
PLATFORM_VARIABLES = ("DATABASE_URL", "REDIS_URL", "PORT", "TELEGRAM_BOT_TOKEN", "DYNO")


def clean_env(**variables: str) -> dict[str, str]:
    """This process's environment without any lifeorg configuration, plus ``variables``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in PLATFORM_VARIABLES and not name.upper().startswith("LIFEORG_")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # Workers started by tests serve no metrics unless a test asks: several at once would
    # all reach for the default port.
    env["LIFEORG_METRICS_PORT"] = "0"
    env.update(variables)
    return env


class RecordingMessenger:
    """Stands in for Telegram: keeps what would have been sent."""

    def __init__(self) -> None:
        self.files: dict[str, bytes | Exception] = {}  # what download() serves (or raises)
        self.sent: list[dict] = []
        self.answers: list[tuple[str, str | None]] = []
        self.documents: list[dict] = []  # send_document: chat, name, caption, data, id
        self._ids = itertools.count(5000)
        self._lock = threading.Lock()

    def send_message(self, chat_id, text, buttons=None, reply_to=None):
        with self._lock:
            message_id = next(self._ids)
            self.sent.append(
                {
                    "chat": chat_id,
                    "text": text,
                    "buttons": buttons or [],
                    "id": message_id,
                    "edit": False,
                }
            )
        return message_id

    def edit_message_text(self, chat_id, message_id, text, buttons=None):
        with self._lock:
            self.sent.append(
                {
                    "chat": chat_id,
                    "text": text,
                    "buttons": buttons or [],
                    "id": message_id,
                    "edit": True,
                }
            )

    def answer_callback(self, callback_id, text=None):
        with self._lock:
            self.answers.append((callback_id, text))

    def send_document(self, chat_id, path, file_name, caption=None):
        data = Path(path).read_bytes()  # the sender deletes its file once this returns
        with self._lock:
            message_id = next(self._ids)
            self.documents.append(
                {"chat": chat_id, "name": file_name, "caption": caption, "data": data}
                | {"id": message_id}
            )
        return message_id

    def download(self, file_id: str) -> bytes:
        value = self.files[file_id]
        if isinstance(value, Exception):
            raise value
        return value

    def to(self, chat_id: int) -> list[dict]:
        return [m for m in self.sent if m["chat"] == chat_id]


@pytest.fixture(autouse=True)
def messenger(monkeypatch) -> RecordingMessenger:
    """Replies go to a recorder unless a test points the runtime at a (fake) Telegram."""
    from lifeorg import runtime
    from lifeorg.pacing import Unlimited

    recorder = RecordingMessenger()
    # cached_properties, replaced in the instance's dict; a recorder has no rate limits
    monkeypatch.setitem(runtime.current().__dict__, "messenger", recorder)
    monkeypatch.setitem(runtime.current().__dict__, "pacer", Unlimited())
    return recorder


# The conversation's `chat` fixture (a simulated Telegram chat), for every test module.
from tests.test_conversation import chat  # noqa: E402, F401
