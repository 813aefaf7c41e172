"""What the process benchmarks share: throwaway services, child processes, a timed fake Bot API.

Every run gets its own PostgreSQL database (created, then dropped), its own Redis queue
namespace (its keys deleted afterwards) and its own temporary directory, so a benchmark never
disturbs a test suite running beside it. Child processes run in their own sessions and are
stopped (SIGTERM, then SIGKILL) however the run ends, Ctrl-C and SIGTERM included.

PostgreSQL is reached through $LIFEORG_BENCH_POSTGRES_URL (an admin URL that may create
databases) and Redis through $LIFEORG_BENCH_REDIS_URL; both default to the local servers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import peewee
import psycopg
import redis
from psycopg import sql

from lifeorg.config import load_settings
from lifeorg.database import open_database
from lifeorg.models import User
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# The variables lifeorg reads without its prefix (the platforms' conventions).
PLATFORM_VARIABLES = ("DATABASE_URL", "REDIS_URL", "PORT", "TELEGRAM_BOT_TOKEN")
# A stopping worker finishes the step in hand, and a notify may wait 5 s for a sending turn.
STOP_GRACE_S = 20
# How often a wait looks at its condition: fine enough for timings in tens of milliseconds.
POLL_S = 0.01
# Starting a process that imports the pipeline and migrates takes a few seconds; on two
# shared cores under a test suite, several times that.
START_TIMEOUT_S = 90
# The bot's long poll; short, so that stopping it (which waits for the poll) is quick. An
# update still reaches the bot the moment it arrives: a parked poll answers at once.
BOT_POLL_S = 2
# Lines of a child's log quoted when it dies.
LOG_TAIL_LINES = 30
# What the users of the pipeline and latency benchmarks write: every intent the offline
# parser files without asking back (note, task, reminder, event, search), in the shares a
# day of use might have. Each takes ingest -> classify -> notify; a search one more hop.
MESSAGE_MIX = (
    "the wifi password for the cabin is hunter2",
    "pay the electricity bill by friday",
    "remind me tomorrow at 9 to call mum",
    "idea: a birthday party for Anna in the garden",
    "dentist on december 3 at 14:30",
    "buy milk, eggs and bread",
    "the plumber's number is 0171 555 0199",
    "what's the wifi password?",
)


class BenchError(Exception):
    """The benchmark could not run (a service missing, a process died, a timeout)."""


def postgres_admin_url() -> str:
    return os.environ.get("LIFEORG_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)


def redis_url() -> str:
    return os.environ.get("LIFEORG_BENCH_REDIS_URL", DEFAULT_REDIS_URL)


def logger(to_stderr: bool) -> Callable[[str], None]:
    """Progress lines: on stderr when stdout carries the JSON report."""

    def log(message: str) -> None:
        print(message, file=sys.stderr if to_stderr else sys.stdout, flush=True)

    return log


def report(result: dict[str, Any], as_json: bool) -> None:
    """Print the result: one JSON object, or one ``key: value`` line each."""
    if as_json:
        print(json.dumps(result))
    else:
        print("\n".join(f"{key}: {value}" for key, value in result.items()))


# --- numbers --------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.99 is p99)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """p50, p99 and max of durations given in seconds, in milliseconds."""
    return {
        "p50_ms": round(statistics.median(seconds) * 1000, 2),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2),
    }


# --- throwaway services ---------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_postgres(kind: str) -> Iterator[str]:
    """A new PostgreSQL database for this run; yields its URL and drops it afterwards."""
    admin = postgres_admin_url()
    name = f"lifeorg_bench_{kind}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise BenchError(f"cannot create a database through {admin}: {exc}") from exc
    try:
        yield urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
            # FORCE: a child killed mid-transaction may leave a backend behind for a moment.
            drop = "DROP DATABASE IF EXISTS {} WITH (FORCE)"
            connection.execute(sql.SQL(drop).format(sql.Identifier(name)))


@contextlib.contextmanager
def queue_namespace(kind: str) -> Iterator[str]:
    """A Redis namespace of this run's own; its keys (queues, pacing) are deleted afterwards."""
    namespace = f"lifeorg-bench-{kind}-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url(), socket_connect_timeout=5)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise BenchError(f"cannot reach Redis at {redis_url()}: {exc}") from exc
    try:
        yield namespace
    finally:
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)
        client.close()


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM stops the run like Ctrl-C does, so every cleanup below still runs."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- child processes ------------------------------------------------------------------------


def lifeorg_argv(*args: str) -> list[str]:
    """The command line that runs ``lifeorg`` from this checkout."""
    return [sys.executable, "-m", "lifeorg.cli", *args]


def child_env(**variables: str) -> dict[str, str]:
    """This environment without any lifeorg configuration, plus ``variables``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in PLATFORM_VARIABLES and not name.upper().startswith("LIFEORG_")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(variables)
    return env


class Children:
    """Child processes, each in its own session (so a terminal's Ctrl-C reaches only us);
    all of them stopped when the block ends, however it ends."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        # A file, not a pipe: nobody reads a pipe while the child runs, and a full one blocks it.
        with open(self.log_path(name), "w") as log:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log_text(self, name: str) -> str:
        return self.log_path(name).read_text(errors="replace")

    def check(self) -> None:
        """Raise BenchError, with its log's tail, if a child has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = "\n".join(self.log_text(name).splitlines()[-LOG_TAIL_LINES:])
                raise BenchError(f"{name} exited with {process.returncode}:\n{tail}")

    def stop(self, *names: str) -> None:
        """SIGTERM the named children (all by default) together; SIGKILL what lingers."""
        chosen = {n: p for n, p in self.processes.items() if not names or n in names}
        for process in chosen.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in chosen.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The whole group: dramatiq's worker processes are children of the one we started.
            _signal_group(process, signal.SIGKILL)
            process.wait()
        for name in chosen:
            del self.processes[name]

    def __enter__(self) -> Children:
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        if exc_type is not None and exc_type is not KeyboardInterrupt:
            for name in self.processes:  # what each child was doing when the run failed
                tail = "\n".join(self.log_text(name).splitlines()[-LOG_TAIL_LINES:])
                print(f"--- {name} (last lines of its log)\n{tail}", file=sys.stderr)
        self.stop()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def wait_until(
    ready: Callable[[], Any],
    timeout: float,
    what: str,
    children: Children | None = None,
    poll_s: float = POLL_S,
) -> Any:
    """Poll ``ready()`` until it is truthy; BenchError on timeout or when a child dies."""
    deadline = time.monotonic() + timeout
    while not (value := ready()):
        if children is not None:
            children.check()
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll_s)
    return value


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def thread_count(pid: int) -> int:
    """How many threads a process runs."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    """A process's resident memory (VmRSS) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise BenchError(f"process {pid} has no VmRSS (a zombie?)")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, found through each process's parent in /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # The command name (2nd field) may hold spaces; the parent id follows its ")".
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    found, frontier = [], [pid]
    while frontier:
        children = parents.get(frontier.pop(), [])
        found += children
        frontier += children
    return found


# --- the fake Bot API -----------------------------------------------------------------------


class TimedBotApi(FakeTelegram):
    """The fake Bot API, also noting when each user message was handed to the bot and when
    its first reply came: it hooks the fake's getUpdates and its record of what was sent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delivered: dict[tuple[int, int], float] = {}
        self.replied: dict[tuple[int, int], float] = {}

    def push_text(self, chat_id: int, text: str) -> tuple[int, int]:
        """Queue a text message from the user of a private chat; returns (chat, message id)."""
        with self._cv:  # re-entrant: the id read here is the one push_message assigns
            message_id = self._next_message_id
            self.push_message(chat_id, text)
        return chat_id, message_id

    def _get_updates(self, p: dict, f: dict) -> list[dict]:
        batch = super()._get_updates(p, f)
        now = self._clock()
        for update in batch:
            if message := update.get("message"):
                self.delivered.setdefault((message["chat"]["id"], message["message_id"]), now)
        return batch

    def _record(self, method: str, message: dict, p: dict, **details: Any) -> dict:
        recorded = super()._record(method, message, p, **details)
        sent = self.sent[-1]
        if method == "sendMessage" and sent.reply_to_message_id is not None:
            self.replied.setdefault((sent.chat_id, sent.reply_to_message_id), sent.time)
        return recorded

    def new_messages(self) -> list:
        """Every sendMessage the bot made, oldest first."""
        with self._cv:
            return [s for s in self.sent if s.method == "sendMessage"]

    def first_replies(self) -> dict[tuple[int, int], float]:
        """When the first reply to each user message arrived, by (chat, message id)."""
        with self._cv:
            return dict(self.replied)


def wait_for_replies(
    setup: Setup, sent: list[tuple[int, int]], timeout: float
) -> dict[tuple[int, int], float]:
    """Wait until every message in ``sent`` (chat, message id) has its reply; their times."""
    wanted = set(sent)

    def answered() -> dict[tuple[int, int], float] | None:
        replies = setup.fake.first_replies()
        return replies if wanted <= replies.keys() else None

    # The fake notes each reply's time itself, so looking less often loses no precision.
    replies = wait_until(answered, timeout, f"{len(wanted)} replies", setup.children, 0.1)
    return {key: replies[key] for key in sent}


# --- one run's services ---------------------------------------------------------------------


@dataclass
class Setup:
    """One run's database, queue namespace, fake Telegram and child processes."""

    tmp: Path
    database_url: str
    namespace: str
    fake: TimedBotApi
    children: Children
    database: peewee.Database
    allowed: list[int] = field(default_factory=list)
    metrics_port: int = field(default_factory=free_port)

    def add_users(self, chat_ids: list[int]) -> dict[int, int]:
        """Onboarded, allowed users in UTC, one per private chat (known to the fake);
        returns {chat id: user id}. Processes started afterwards let them in."""
        now = dt.datetime.now(dt.UTC)
        rows = [
            {
                "telegram_user_id": chat_id,
                "chat_id": chat_id,
                "display_name": f"User {chat_id}",
                "timezone": "UTC",
                "default_time": quiet_time_of_day(),
                "onboarded_at": now,
            }
            for chat_id in chat_ids
        ]
        for chat_id in chat_ids:
            self.fake.register_chat(chat_id)
        self.allowed += chat_ids
        with self.database.connection_context():
            User.insert_many(rows).execute()
            users = User.select(User.id, User.telegram_user_id)
            return {
                u.telegram_user_id: u.id for u in users.where(User.telegram_user_id.in_(chat_ids))
            }

    def env(self, **variables: str) -> dict[str, str]:
        """The environment of a lifeorg process of this run."""
        return child_env(
            LIFEORG_ALLOWED_USERS=",".join(map(str, self.allowed)),
            DATABASE_URL=self.database_url,
            REDIS_URL=redis_url(),
            LIFEORG_QUEUE_NAMESPACE=self.namespace,
            TELEGRAM_BOT_TOKEN=self.fake.token,
            LIFEORG_TELEGRAM_API_URL=self.fake.base_url,
            LIFEORG_DATA_DIR=str(self.tmp / "data"),
            LIFEORG_POLLING_TIMEOUT_S=str(BOT_POLL_S),
            # The worker's metrics on a port of this run's own, not the default a test suite's
            # worker (or another run) may hold.
            LIFEORG_METRICS_PORT=str(self.metrics_port),
            **variables,
        )

    def start_worker(self, name: str = "worker", **variables: str) -> subprocess.Popen:
        """``lifeorg worker``, once each of its processes is consuming."""
        env = self.env(**variables)
        process = self.children.start(name, lifeorg_argv("worker"), env)
        processes = int(env.get("LIFEORG_WORKER_PROCESSES", "1"))
        wait_until(
            lambda: self.children.log_text(name).count("ready for action") >= processes,
            START_TIMEOUT_S,
            f"{name} to start",
            self.children,
        )
        return process

    def start_bot(self, name: str = "bot") -> subprocess.Popen:
        """``lifeorg bot``, once its first long poll is parked at the fake."""
        process = self.children.start(name, lifeorg_argv("bot"), self.env())
        wait_until(lambda: self.fake.polling, START_TIMEOUT_S, f"{name} to poll", self.children)
        return process

    def start_scheduler(self, name: str = "scheduler") -> subprocess.Popen:
        """``lifeorg scheduler``, once its passes are scheduled."""
        process = self.children.start(name, lifeorg_argv("scheduler"), self.env())
        wait_until(
            lambda: "scheduler running" in self.children.log_text(name),
            START_TIMEOUT_S,
            f"{name} to start",
            self.children,
        )
        return process


@contextlib.contextmanager
def services(
    kind: str, log: Callable[[str], None], *, telegram_limits: bool = True
) -> Iterator[Setup]:
    """Everything a process benchmark runs on, torn down in reverse order afterwards."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(interruptible())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"lifeorg-{kind}-")))
        url = stack.enter_context(throwaway_postgres(kind))
        namespace = stack.enter_context(queue_namespace(kind))
        log(f"database {urlsplit(url).path[1:]}, queue namespace {namespace}, files in {tmp}")
        fake = stack.enter_context(TimedBotApi())
        fake.limits_enabled = telegram_limits
        settings = load_settings(database_url=url, redis_url=None, broker_url=None, _env_file=None)
        database = open_database(settings, migrate=True)
        stack.callback(database.close_all)
        children = stack.enter_context(Children(tmp))
        yield Setup(tmp, url, namespace, fake, children, database)


def quiet_time_of_day() -> str:
    """A default time twelve hours away, so no daily digest falls due during the run."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)).strftime("%H:%M")
