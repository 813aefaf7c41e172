"""The Procfile's processes run together under honcho, as Heroku and Dokku run them.

The release command migrates a fresh PostgreSQL database; then web (or bot), worker and
scheduler start on the real Redis with the fake Bot API standing in for Telegram. A message
goes in by webhook (or long polling) and its reply comes out through the worker; then the
whole set gets SIGTERM, as a deploy or a restart sends it, and every process must exit 0 on
its own, with no step left half done in the ledger. Work still queued at that moment is
done once, by the next start.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from lifeorg.bot.webhook import HEALTH_PATH, WEBHOOK_PATH
from tests import services
from tests.conftest import ROOT, clean_env, wait_for
from tests.fake_telegram import FakeTelegram, Sent

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

ME = 111
SECRET = "honcho-webhook-secret"
# Cold imports and migrations of three processes on a loaded 2-core machine.
START_TIMEOUT_S = 45
# An update's way through ingest, classify and notify, once the processes are up.
REPLY_TIMEOUT_S = 30
# honcho sends SIGKILL to what is left 5 s after the first process exits; a clean stop
# ends long before this.
STOP_TIMEOUT_S = 30
# Short long polls, so a stopping bot never waits on Telegram.
POLL_S = 1

# What each process logs once it is up, its SIGTERM handler in place (web's follows within
# microseconds). A SIGTERM before that, a deploy during boot, ends a process by the signal's
# default action (exit status 143): nothing is half done then, but it is not a clean exit.
READY_LINES = {
    "web": "webhook listening on port",
    "worker": "Worker process is ready for action",
    "scheduler": "scheduler running:",
}
STARTED = re.compile(r"\| (\S+) started \(pid=(\d+)\)")
STOPPED = re.compile(r"\| (\S+) stopped \(rc=(-?\d+)\)")


@dataclass
class Deployment:
    """One app: its environment (config vars), its Procfile, its database and web port."""

    root: Path
    env: dict[str, str]
    procfile: Path
    database_url: str
    port: int

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"


def procfile_commands(path: Path) -> dict[str, str]:
    """A Procfile's commands by process name."""
    commands = {}
    for line in path.read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip():
            commands[name.strip()] = command.strip()
    return commands


def platform_procfile(folder: Path) -> Path:
    """The Procfile as the platforms run it: each command replaces the shell that starts it.

    Heroku and Dokku start a command with ``bash -c``, which execs a lone command; honcho
    uses /bin/sh, which on Debian (dash) stays as its parent, so the exit status honcho
    reports would be the shell's. ``exec`` makes it lifeorg's own, as on the platforms.
    """
    commands = procfile_commands(ROOT / "Procfile")
    path = folder / "Procfile"
    path.write_text("".join(f"{name}: exec {command}\n" for name, command in commands.items()))
    return path


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def deployment(
    tmp_path: Path, fake: FakeTelegram, fresh_postgres_url: str, redis_url: str
) -> Iterator[Deployment]:
    """A fresh database, a Redis namespace of its own, and the config vars of a deploy."""
    namespace = f"honcho-{uuid.uuid4().hex[:8]}"
    port = services._free_port()
    env = clean_env(
        DATABASE_URL=fresh_postgres_url,
        REDIS_URL=redis_url,
        PORT=str(port),
        TELEGRAM_BOT_TOKEN=fake.token,
        LIFEORG_TELEGRAM_API_URL=fake.base_url,
        LIFEORG_ALLOWED_USERS=str(ME),
        LIFEORG_WEBHOOK_SECRET=SECRET,
        LIFEORG_POLLING_TIMEOUT_S=str(POLL_S),
        LIFEORG_QUEUE_NAMESPACE=namespace,
        LIFEORG_DATA_DIR=str(tmp_path / "data"),
        # The worker's metrics server, on a port no other test run holds.
        LIFEORG_METRICS_PORT=str(services._free_port()),
        # `lifeorg` from this checkout's environment, as the buildpack installs it.
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    yield Deployment(tmp_path, env, platform_procfile(tmp_path), fresh_postgres_url, port)
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{namespace}:*"):
        client.delete(key)


def honcho(deployment: Deployment, *args: str) -> list[str]:
    """A honcho command line for the deployment's Procfile (and no .env file of its own)."""
    return [sys.executable, "-m", "honcho", "-f", str(deployment.procfile), "-d", ".", *args]


def release(deployment: Deployment) -> None:
    """Run the Procfile's release command with the app's environment, as a deploy does."""
    command = procfile_commands(deployment.procfile)["release"]
    result = subprocess.run(
        [*honcho(deployment, "run"), "sh", "-c", command],
        cwd=deployment.root,
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "schema now at" in result.stdout


class Formation:
    """``honcho start`` running some of the Procfile's processes; its output in a file."""

    def __init__(
        self, deployment: Deployment, fake: FakeTelegram, processes: tuple[str, ...]
    ) -> None:
        self.fake, self.processes = fake, processes
        self.log = deployment.root / f"honcho-{uuid.uuid4().hex[:6]}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                honcho(deployment, "--no-colour", "start", *processes),
                cwd=deployment.root,
                env=deployment.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.names = {f"{name}.1" for name in processes}

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        """Wait until honcho has started every process and each is up and handles SIGTERM."""
        try:
            wait_for(
                lambda: {name for name, _ in STARTED.findall(self.output())} == self.names,
                timeout=START_TIMEOUT_S,
                what=f"honcho to start {sorted(self.names)}",
            )
            wait_for(
                lambda: all(self.ready(name) for name in self.processes),
                timeout=START_TIMEOUT_S,
                what=f"{', '.join(self.processes)} to be up",
            )
        except pytest.fail.Exception as exc:
            raise AssertionError(f"{exc}; honcho's output:\n{self.output()}") from None

    def ready(self, process: str) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"honcho exited early:\n{self.output()}")
        if process == "bot":  # it polls once its signal handlers are in place
            return any(call.method == "getUpdates" for call in self.fake.calls)
        return READY_LINES[process] in self.output()

    def stop(self) -> dict[str, int]:
        """SIGTERM, as a deploy sends it; returns each process's exit status."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=STOP_TIMEOUT_S)
        return {name: int(code) for name, code in STOPPED.findall(self.output())}

    def kill(self) -> None:
        """Leave nothing running when a test fails half-way: honcho, then each process group."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for _, pid in STARTED.findall(self.output()):
            with suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGKILL)


@contextmanager
def formation(deployment: Deployment, fake: FakeTelegram, *processes: str) -> Iterator[Formation]:
    """``honcho start PROCESSES``, once every one is up; nothing of it is left afterwards."""
    running = Formation(deployment, fake, processes)
    try:
        running.wait_ready()
        yield running
    finally:
        running.kill()


def update(text: str, message_id: int) -> dict:
    """A private message from ME, as Telegram posts it to a webhook."""
    sender = {"id": ME, "is_bot": False, "first_name": "Ann"}
    message = {"message_id": message_id, "date": 0, "text": text, "from": sender}
    return {"message": message | {"chat": {"id": ME, "type": "private"}}}


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def replies(fake: FakeTelegram, words: str) -> list[Sent]:
    return [s for s in fake.messages_to(ME) if words in (s.text or "")]


def job_statuses(deployment: Deployment) -> dict[str, int]:
    """How many ledger rows are in each status."""
    with psycopg.connect(deployment.database_url) as connection:
        rows = connection.execute("SELECT status, count(*) FROM job GROUP BY status").fetchall()
    return dict(rows)


def assert_stopped_cleanly(running: Formation, codes: dict[str, int]) -> None:
    """Every process exited 0 by itself: none was left for honcho to SIGKILL."""
    output = running.output()
    assert codes == dict.fromkeys(running.names, 0), output
    assert "SIGKILL" not in output, output


def test_webhook_formation_answers_and_stops_cleanly(deployment: Deployment, fake: FakeTelegram):
    """Given the release phase and web, worker and scheduler under honcho, a message posted
    to the webhook is answered; on SIGTERM every process exits 0 with no step in progress;
    what was still queued is answered once by the next start."""
    release(deployment)
    with formation(deployment, fake, "web", "worker", "scheduler") as running:
        wait_for(
            lambda: running.process.poll() is None and healthy(deployment.port),
            timeout=START_TIMEOUT_S,
            what="the web process to pass its health check",
        )
        note = update("the wifi password is hunter2", 1)
        assert fake.deliver_webhook(deployment.webhook_url, note, SECRET) == 200
        fake.wait_for_sent(lambda sent: sent.chat_id == ME, timeout=REPLY_TIMEOUT_S)
        # Posted just before the deploy's SIGTERM: in flight, or still queued, when it comes.
        reminder = update("remind me tomorrow at 9 to call mum", 2)
        assert fake.deliver_webhook(deployment.webhook_url, reminder, SECRET) == 200
        codes = running.stop()

    assert_stopped_cleanly(running, codes)
    assert "processing" not in job_statuses(deployment)
    assert fake.messages_to(ME)[0].text == "📝 Saved."

    with formation(deployment, fake, "web", "worker", "scheduler") as restarted:
        wait_for(
            lambda: replies(fake, "call mum"),
            timeout=REPLY_TIMEOUT_S,
            what="the reminder's reply after the restart",
        )
        codes = restarted.stop()

    assert_stopped_cleanly(restarted, codes)
    assert len(replies(fake, "call mum")) == 1  # once, though two deploys saw it
    assert set(job_statuses(deployment)) == {"completed"}


def test_polling_formation_answers_and_stops_cleanly(deployment: Deployment, fake: FakeTelegram):
    """Given bot instead of web, an update taken by long polling is answered, and SIGTERM
    stops bot, worker and scheduler with exit 0 and no step in progress."""
    release(deployment)
    fake.push_message(ME, "the wifi password is hunter2")
    with formation(deployment, fake, "bot", "worker", "scheduler") as running:
        reply = fake.wait_for_sent(
            lambda sent: sent.chat_id == ME, timeout=START_TIMEOUT_S + REPLY_TIMEOUT_S
        )
        fake.push_message(ME, "remind me tomorrow at 9 to call mum")
        wait_for(
            lambda: not fake.pending_update_ids(),
            timeout=REPLY_TIMEOUT_S,
            what="the bot to take the second update",
        )
        codes = running.stop()

    assert_stopped_cleanly(running, codes)
    assert reply.text == "📝 Saved."
    assert "processing" not in job_statuses(deployment)
    assert fake.pending_update_ids() == []  # every update taken was confirmed
