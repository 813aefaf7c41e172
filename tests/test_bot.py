"""The bot process: long polling against the fake Bot API, through the real pyTelegramBotAPI."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from lifeorg import runtime
from lifeorg.bot import intake, polling
from lifeorg.models import Job, Memory, ProcessedUpdate, RefusedUser, User
from lifeorg.telegram import TelegramClient
from tests.conftest import clean_env, lifeorg_command, wait_for
from tests.fake_telegram import FakeTelegram
from tests.test_cli import COMMAND_TIMEOUT_S, lifeorg

ME, STRANGER = 111, 999
# Short long polls, so that stopping the poller never waits long.
POLL_S = 1
# How long a stopped poller may take to notice: one long poll plus the request around it.
STOP_WITHIN_S = POLL_S + 5
# The modules a thin bot process must never load (the brief: no litellm, no pillow).
HEAVY = ("litellm", "PIL", "rapidfuzz", "lifeorg.pipeline.parse", "lifeorg.llm", "lifeorg.actors")


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def client(fake: FakeTelegram) -> TelegramClient:
    return TelegramClient(fake.token, api_url=fake.base_url)


@pytest.fixture
def bot(client: TelegramClient, settle, monkeypatch: pytest.MonkeyPatch):
    """The test runtime as a bot for ME, replying through the fake; backoff made quick."""
    rt = runtime.current()
    monkeypatch.setattr(rt.settings, "allowed_users", [ME])
    monkeypatch.setattr(rt.settings, "polling_timeout_s", POLL_S)
    monkeypatch.setitem(rt.__dict__, "messenger", client)
    monkeypatch.setattr(polling, "BACKOFF_FIRST_S", 0.02)
    monkeypatch.setattr(polling, "BACKOFF_MAX_S", 0.1)
    return rt


@pytest.fixture
def start_poller(bot, client: TelegramClient, settle) -> Iterator[Callable[[], threading.Thread]]:
    """Starts ``run_polling`` in a thread; at the end, checks it stops promptly.

    The pipeline is settled before the workers stop: a message still held by a stopping
    in-process worker would count as unfinished for every later test.
    """
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start() -> threading.Thread:
        threads.append(polling.start_polling(bot.settings, client, stop))
        return threads[-1]

    yield start
    stop.set()
    for thread in threads:
        thread.join(STOP_WITHIN_S)
        assert not thread.is_alive(), "the poller did not stop when asked"
    settle()


def private_message(update_id: int, text: str, user: int = ME) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "text": text,
            "from": {"id": user, "is_bot": False, "first_name": "Ann"},
            "chat": {"id": user, "type": "private"},
        },
    }


def replies_to(fake: FakeTelegram, chat: int) -> list[str]:
    return [sent.text for sent in fake.messages_to(chat)]


def test_a_message_is_polled_queued_and_answered(fake, start_poller, settle):
    """Given the poller and the workers, a message pushed to Telegram is filed and answered."""
    update_id = fake.push_message(ME, "the wifi password is hunter2")

    start_poller()
    fake.wait_for_sent(lambda sent: sent.chat_id == ME, timeout=20)
    settle()

    assert Memory.get().content == "the wifi password is hunter2"
    assert Job.get(Job.kind == "ingest").idempotency_key == f"update:{update_id}"
    # The next poll confirms the update, so Telegram forgets it.
    fake.wait_until(lambda: not fake.pending_update_ids(), what="the update to be confirmed")


def test_commands_are_registered_and_a_webhook_is_removed(fake, client, start_poller):
    """Starting to poll lists the commands in Telegram's menu and leaves webhook mode."""
    client.set_webhook("https://example.org/telegram", "s3cret")
    fake.push_message(ME, "/help")

    start_poller()
    fake.wait_until(lambda: any(c.method == "getUpdates" and c.status == 200 for c in fake.calls))

    names = [c.method for c in fake.calls]
    assert names.index("setMyCommands") < names.index("getUpdates")
    assert fake.webhook.url == ""
    assert [(c["command"], c["description"]) for c in fake.commands] == list(polling.bot_commands())


def test_a_database_outage_holds_the_offset_and_loses_nothing(fake, start_poller, database, settle):
    """While the ledger cannot be written the update stays unconfirmed; then it runs once."""
    database.execute_sql("ALTER TABLE job RENAME TO job_offline")
    update_id = fake.push_message(ME, "buy milk")
    polls_before = sum(c.method == "getUpdates" for c in fake.calls)

    start_poller()
    # Each failed accept backs off and polls again from the same offset.
    fake.wait_until(
        lambda: sum(c.method == "getUpdates" for c in fake.calls) >= polls_before + 4,
        what="the poller to retry",
    )
    assert fake.pending_update_ids() == [update_id]
    database.execute_sql("ALTER TABLE job_offline RENAME TO job")

    fake.wait_for_sent(lambda sent: sent.chat_id == ME, timeout=20)
    settle()
    fake.wait_until(lambda: not fake.pending_update_ids(), what="the update to be confirmed")
    assert Memory.select().count() == 1
    assert Job.select().where(Job.kind == "ingest").count() == 1
    assert len(fake.messages_to(ME)) == 1


def test_a_redelivered_update_makes_one_memory(fake, start_poller, settle):
    """Telegram delivering one update twice files it once and answers once."""
    update = private_message(41, "call the plumber")
    fake.push_update(update)
    fake.push_update(update)

    start_poller()
    fake.wait_for_sent(lambda sent: sent.chat_id == ME, timeout=20)
    fake.wait_until(lambda: not fake.pending_update_ids(), what="both copies to be confirmed")
    settle()

    assert Memory.select().count() == 1
    assert ProcessedUpdate.select().count() == 1
    assert len(fake.messages_to(ME)) == 1


def test_a_stranger_is_refused_once_and_nothing_is_kept(fake, start_poller, settle):
    """Two messages from a stranger get one refusal; no user, memory or job of theirs."""
    fake.push_message(STRANGER, "hello?")
    fake.push_message(STRANGER, "anyone there?")
    fake.push_message(ME, "a note of mine")

    start_poller()
    # Updates are taken in order, so my reply means the stranger's two were handled.
    fake.wait_for_sent(lambda sent: sent.chat_id == ME, timeout=20)
    settle()

    assert len(replies_to(fake, STRANGER)) == 1
    assert replies_to(fake, STRANGER)[0].startswith("Sorry, this is a private organiser")
    assert [r.telegram_user_id for r in RefusedUser.select()] == [STRANGER]
    assert User.select().where(User.telegram_user_id == STRANGER).count() == 0
    assert [m.content for m in Memory.select()] == ["a note of mine"]
    ingested = Job.select().where(Job.kind == "ingest")
    senders = [j.payload["update"]["message"]["from"]["id"] for j in ingested]
    assert STRANGER not in senders


def test_a_strangers_button_press_is_answered_with_the_refusal(fake, start_poller):
    """A stranger pressing a button gets the refusal as the press's answer."""
    fake.push_callback(STRANGER, "tdel:1:x", message_id=1)

    start_poller()
    answer = fake.wait_until(lambda: fake.callback_answers, what="the press to be answered")

    assert answer[0]["text"] == intake.REFUSAL
    assert Job.select().count() == 0


def test_flood_control_and_outages_of_get_updates_are_waited_out(
    fake, start_poller, caplog, settle
):
    """A 429 is waited out for its retry_after, 5xx answers are retried; no token is logged."""
    fake.fail_next("getUpdates", 429, retry_after=1)
    fake.fail_next("getUpdates", 502, times=2)
    fake.push_message(ME, "still here")

    with caplog.at_level("DEBUG"):
        start_poller()
        fake.wait_for_sent(lambda sent: sent.chat_id == ME, timeout=20)
        settle()

    polls = [c for c in fake.calls if c.method == "getUpdates"]
    assert [c.status for c in polls[:4]] == [429, 502, 502, 200]
    assert polls[1].time - polls[0].time >= 0.9  # retry_after=1, less clock granularity
    assert Memory.get().content == "still here"
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("lifeorg")]
    assert any("Telegram asked to wait" in line for line in ours)
    assert not [line for line in ours if fake.token in line]


def test_malformed_updates_are_ignored(bot, client, database):
    """An update without an integer id, or no dict at all, is dropped and nothing is stored."""
    for junk in ({"message": {}}, {"update_id": "7"}, ["not", "a", "dict"], {"update_id": True}):
        assert intake.accept(junk, bot.settings, client) == "ignored"
    assert Job.select().count() == 0


def test_the_bot_process_loads_nothing_heavy(fake, tmp_path: Path):
    """Polling and queueing an update in a fresh process never imports the pipeline's weight."""
    fake.push_message(ME, "a note")
    script = f"""
import json, sys, threading, time
from lifeorg import runtime
from lifeorg.bot import polling, process
from lifeorg.config import load_settings
from lifeorg.models import Job

settings = load_settings(
    database_url="sqlite:///{tmp_path / "bot.db"}", telegram_bot_token="{fake.token}",
    telegram_api_url="{fake.base_url}", allowed_users="{ME}", polling_timeout_s={POLL_S},
    redis_url=None, broker_url=None, data_dir="{tmp_path}", _env_file=None,
)
rt = process.start_runtime(settings, actors=False)
stop = threading.Event()
thread = polling.start_polling(settings, process.telegram_client(settings), stop)
deadline = time.monotonic() + 20
while not Job.select().count() and time.monotonic() < deadline:
    time.sleep(0.05)
stop.set()
thread.join(10)
heavy = sorted(m for m, loaded in sys.modules.items() if loaded and m.startswith({HEAVY!r}))
print(json.dumps({{"jobs": Job.select().count(), "heavy": heavy}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result == {"jobs": 1, "heavy": []}


# --- the command line -------------------------------------------------------------------------


def test_bot_needs_a_token_and_a_broker(tmp_path: Path):
    """`lifeorg bot` names the missing variable instead of starting half-configured."""
    no_token = lifeorg(tmp_path, "bot", REDIS_URL="redis://127.0.0.1:1/0")
    assert no_token.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in no_token.stderr

    no_broker = lifeorg(tmp_path, "bot", TELEGRAM_BOT_TOKEN="1:secret-token-value")
    assert no_broker.returncode == 2
    assert "REDIS_URL" in no_broker.stderr and "lifeorg run" in no_broker.stderr
    assert "secret-token-value" not in no_broker.stderr


@contextmanager
def running(fake: FakeTelegram, tmp_path: Path, *args: str, **variables: str):
    """``lifeorg ARGS`` as a process against the fake Telegram; killed if the test leaves it."""
    env = clean_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'lifeorg.db'}",
        TELEGRAM_BOT_TOKEN=fake.token,
        LIFEORG_TELEGRAM_API_URL=fake.base_url,
        LIFEORG_ALLOWED_USERS=str(ME),
        LIFEORG_POLLING_TIMEOUT_S=str(POLL_S),
        **variables,
    )
    # Files, not pipes: a process logging at DEBUG fills a pipe nobody reads until it exits,
    # and then blocks on its next log line.
    out = open(tmp_path / f"{args[0]}.out", "w+")  # noqa: SIM115 (closed below)
    err = open(tmp_path / f"{args[0]}.err", "w+")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        lifeorg_command(*args), cwd=tmp_path, env=env, stdout=out, stderr=err, text=True
    )
    proc.stderr_file = err  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
        err.close()


def terminate(proc: subprocess.Popen) -> str:
    """SIGTERM the process, as a deploy does; returns its stderr once it has exited."""
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=COMMAND_TIMEOUT_S)
    proc.stderr_file.seek(0)  # type: ignore[attr-defined]
    return proc.stderr_file.read()  # type: ignore[attr-defined]


def test_run_answers_in_one_process_and_stops_on_sigterm(fake, tmp_path: Path):
    """`lifeorg run` polls, runs the pipeline in its own workers, and exits 0 on SIGTERM."""
    fake.push_message(ME, "the wifi password is hunter2")

    # At DEBUG, every library logs its requests; none of it may carry the token.
    with running(fake, tmp_path, "run", LIFEORG_LOG_LEVEL="DEBUG") as proc:
        reply = fake.wait_for_sent(lambda sent: sent.chat_id == ME, timeout=COMMAND_TIMEOUT_S)
        stderr = terminate(proc)

    assert proc.returncode == 0, stderr
    assert reply.text == "📝 Saved."
    assert "SIGTERM: stopping" in stderr and "polling stopped" in stderr
    assert fake.token not in stderr


def test_bot_queues_updates_for_the_workers_and_stops_on_sigterm(
    fake, tmp_path: Path, redis_url: str
):
    """`lifeorg bot` writes the ingest job, sends its id through Redis, and exits 0 on SIGTERM."""
    import redis

    namespace = f"lifeorg-bot-{tmp_path.name}"
    update_id = fake.push_message(ME, "buy milk")
    database = tmp_path / "lifeorg.db"

    def ingest_jobs() -> list[tuple[int, str]]:
        if not database.exists():
            return []
        with closing(sqlite3.connect(database)) as connection:
            try:
                return connection.execute("SELECT id, idempotency_key FROM job").fetchall()
            except sqlite3.OperationalError:  # not migrated yet
                return []

    client = redis.Redis.from_url(redis_url)
    try:
        with running(
            fake, tmp_path, "bot", REDIS_URL=redis_url, LIFEORG_QUEUE_NAMESPACE=namespace
        ) as proc:
            [(job_id, key)] = wait_for(ingest_jobs, timeout=COMMAND_TIMEOUT_S, what="the job")
            stderr = terminate(proc)
        messages = client.hvals(f"{namespace}:default.msgs")
    finally:
        for name in client.keys(f"{namespace}:*"):
            client.delete(name)

    assert proc.returncode == 0, stderr
    assert key == f"update:{update_id}"
    assert [json.loads(m)["args"] for m in messages] == [[job_id]]
    assert [c.method for c in fake.calls if c.method == "setMyCommands"] == ["setMyCommands"]
