"""What the chaos run stands on: a Redis of its own to restart, a flaky model, a worker to kill.

The machine's shared Redis is never touched: the run starts its own ``redis-server`` on a
free port (nothing saved, so a restart loses every queued message, as a crashed broker
would). The fake model server answers any prompt of the product sensibly and fails a share
of the calls; the fake Bot API fails a share of its answers with 5xx and 429. The worker is
SIGKILLed (its whole process group) a few seconds after it is ready, and started again.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from bench._common import (
    START_TIMEOUT_S,
    BenchError,
    Children,
    Setup,
    TimedBotApi,
    free_port,
    interruptible,
    lifeorg_argv,
    throwaway_postgres,
    wait_until,
)
from lifeorg.config import load_settings
from lifeorg.database import open_database
from lifeorg.pipeline.prompts import ANSWER, CLASSIFY, TASK_MATCH
from tests.fake_llm import FakeLLM

# How long a restarted redis-server may take to answer PING.
REDIS_START_TIMEOUT_S = 20
# The queue namespace inside the run's own Redis (the whole server is the run's).
NAMESPACE = "lifeorg-chaos"
# What litellm is told: an OpenAI-compatible model at the fake's address.
FAKE_MODEL = "openai/fake-model"
FAKE_API_KEY = "sk-fake"
WORKER_READY = "ready for action"  # what dramatiq logs once a worker process consumes


class ThrowawayRedis:
    """A ``redis-server`` of this run's own on a free port, which ``restart`` kills and starts
    again on the same port: with nothing saved, every queued message is gone afterwards."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.restarts = 0
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        try:
            with open(self.directory / "redis.log", "a") as log:
                self._process = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
        except FileNotFoundError as exc:
            raise BenchError("the chaos run needs redis-server on PATH") from exc
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            wait_until(self._answers(client), REDIS_START_TIMEOUT_S, "redis-server to start")
        finally:
            client.close()

    def _answers(self, client: redis.Redis) -> Callable[[], bool]:
        def ready() -> bool:
            if self._process is not None and self._process.poll() is not None:
                raise BenchError(f"redis-server exited with {self._process.returncode}")
            with contextlib.suppress(redis.RedisError, OSError):
                return bool(client.ping())
            return False

        return ready

    def holdings(self) -> dict[str, int]:
        """Each key and how many messages it holds: queues, and the acks (messages taken
        but not finished) of every worker, dead or alive."""
        client = redis.Redis.from_url(self.url, decode_responses=True)
        sizes = {"hash": client.hlen, "list": client.llen, "set": client.scard}
        sizes |= {"zset": client.zcard}
        try:
            return {
                key: size(key)
                for key in sorted(client.scan_iter())
                if (size := sizes.get(client.type(key)))
            }
        finally:
            client.close()

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def restart(self) -> float:
        """Kill the server (no shutdown, nothing saved) and start it again; seconds it took."""
        started = time.monotonic()
        self.kill()
        self.start()
        self.restarts += 1
        return time.monotonic() - started

    def __enter__(self) -> ThrowawayRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


# --- the model ------------------------------------------------------------------------------


def model_answer(request: dict[str, Any]) -> dict[str, Any]:
    """What a careful model would answer to one of the product's prompts.

    Classification keeps the parser's catch-all (a note, no date): a model that invented an
    intent or a date would change what the user gets, and the run counts replies, not taste.
    """
    system = request["messages"][0]["content"]
    data = json.loads(request["messages"][1]["content"])["data"]
    if system.startswith(CLASSIFY.system):
        text = data["message"]
        return {"intent": "note", "text": text, "date": None, "time": None, "confidence": 0.9}
    if system.startswith(TASK_MATCH.system):
        candidates = data.get("candidates") or []
        return {"task_id": candidates[0]["id"] if candidates else None, "confidence": 0.8}
    if system.startswith(ANSWER.system):
        memories = data.get("memories") or []
        if not memories:
            return {"answer": "Your notes do not say.", "cited": []}
        return {"answer": f"You noted: {memories[0]['text'][:200]}", "cited": [memories[0]["id"]]}
    raise ValueError(f"the chaos run does not expect this prompt: {system[:60]!r}")


@contextlib.contextmanager
def flaky_model(fail_ratio: float, seed: int) -> Iterator[FakeLLM]:
    """The fake model server, answering every prompt and failing ``fail_ratio`` of the calls."""
    server = FakeLLM()
    server.responder = model_answer
    server.chaos(fail_ratio, seed=seed)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- the run's services ---------------------------------------------------------------------


@dataclass
class ChaosSetup(Setup):
    """``Setup`` on the run's own Redis, with the fake model, and a short dispatch lease."""

    redis: ThrowawayRedis | None = None
    model: FakeLLM | None = None
    dispatch_lease_s: int = 10

    def env(self, **variables: str) -> dict[str, str]:
        assert self.redis is not None and self.model is not None
        env = super().env()
        env.update(
            REDIS_URL=self.redis.url,
            LIFEORG_LLM_MODEL=FAKE_MODEL,
            LIFEORG_LLM_API_BASE=self.model.api_base,
            LIFEORG_LLM_API_KEY=FAKE_API_KEY,
            LIFEORG_JOB_DISPATCH_LEASE_S=str(self.dispatch_lease_s),
            # Killed and restarted workers, and other runs beside this one: no shared port.
            LIFEORG_METRICS_PORT="0",
        )
        env.update(variables)
        return env


@contextlib.contextmanager
def chaos_services(
    log: Callable[[str], None], *, dispatch_lease_s: int, model_fail_ratio: float, seed: int
) -> Iterator[ChaosSetup]:
    """A throwaway database, Redis, fake Bot API and fake model; the child processes are
    stopped and all of it removed afterwards, except the directory of logs (``setup.tmp``),
    which the caller removes or keeps as evidence."""
    tmp = Path(tempfile.mkdtemp(prefix="lifeorg-chaos-"))
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(interruptible())
            url = stack.enter_context(throwaway_postgres("chaos"))
            broker = stack.enter_context(ThrowawayRedis(tmp))
            model = stack.enter_context(flaky_model(model_fail_ratio, seed))
            fake = stack.enter_context(TimedBotApi())
            log(f"database {urlsplit(url).path[1:]}, redis on port {broker.port}, files in {tmp}")
            settings = load_settings(
                database_url=url, redis_url=None, broker_url=None, _env_file=None
            )
            database = open_database(settings, migrate=True)
            stack.callback(database.close_all)
            children = stack.enter_context(Children(tmp))
            yield ChaosSetup(
                tmp,
                url,
                NAMESPACE,
                fake,
                children,
                database,
                redis=broker,
                model=model,
                dispatch_lease_s=dispatch_lease_s,
            )
    finally:
        if not any(tmp.iterdir()):  # nothing started, so no log to keep
            tmp.rmdir()


# --- the worker that keeps dying ------------------------------------------------------------


class DyingWorker:
    """``lifeorg worker``, SIGKILLed with its whole process group a random few seconds after
    each start is ready (while ``killing``), and started again at once. Each start logs to
    its own file (``worker-001.log``...), so a step cut short can be traced."""

    def __init__(
        self, setup: ChaosSetup, rng: random.Random, lifetime_s: tuple[float, float]
    ) -> None:
        self.setup, self.rng, self.lifetime_s = setup, rng, lifetime_s
        self.killing = False
        self.kills = 0
        self.crashes = 0  # exits nobody asked for
        self.starts = 0
        self.name = ""
        self._ready = False
        self._kill_at: float | None = None

    def start(self) -> None:
        self.starts += 1
        self.name = f"worker-{self.starts:03d}"
        self.setup.children.start(self.name, lifeorg_argv("worker"), self.setup.env())
        self._ready, self._kill_at = False, None

    @property
    def process(self) -> subprocess.Popen:
        return self.setup.children.processes[self.name]

    def tick(self, now: float) -> None:
        """Notice readiness or a crash; kill when this start's time is up."""
        if self.process.poll() is not None:
            self.crashes += 1
            del self.setup.children.processes[self.name]
            self.start()
            return
        if not self._ready:
            self._ready = WORKER_READY in self.setup.children.log_text(self.name)
            if self._ready and self.killing:
                self._kill_at = now + self.rng.uniform(*self.lifetime_s)
            return
        if self.killing and self._kill_at is not None and now >= self._kill_at:
            self.kill()
            self.start()

    def kill(self) -> None:
        """SIGKILL the worker and every process it started (dramatiq's forks)."""
        process = self.setup.children.processes.pop(self.name)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self.kills += 1

    def unleash(self) -> None:
        """Start killing: this start dies a random few seconds from now."""
        self.killing = True
        if self._ready:
            self._kill_at = time.monotonic() + self.rng.uniform(*self.lifetime_s)

    def calm(self) -> None:
        """Stop killing; wait until a worker is up and consuming."""
        self.killing, self._kill_at = False, None

        def ready() -> bool:
            self.tick(time.monotonic())
            return self._ready

        wait_until(ready, START_TIMEOUT_S, f"{self.name} to start", self.setup.children, 0.1)
