"""The chaos run at a tiny size: with the worker SIGKILLed, Redis restarted and the fakes
failing, every message still gets one memory and one reply, and no job is left behind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import redis

from bench._chaos_support import FAKE_MODEL, ThrowawayRedis, flaky_model
from lifeorg.llm import LLMClient
from lifeorg.pipeline.answer import ModelAnswer
from lifeorg.pipeline.classify import ModelClassification
from lifeorg.pipeline.match import ModelChoice
from lifeorg.pipeline.prompts import ANSWER, CLASSIFY, TASK_MATCH
from tests.conftest import ON_CI, ROOT, clean_env, make_settings

MESSAGES = 40
# Requests to the flaky model: enough for its failure share to show within a few points.
CALLS = 200
# A step cut short by a SIGKILL is handed on only when its lease (time limit + 30 s) has run
# out and the next sweep (every 30 s) sees it: minutes, not seconds.
SETTLE_TIMEOUT_S = 240
# Starting four processes on two shared cores, the messages, then the settling.
RUN_TIMEOUT_S = SETTLE_TIMEOUT_S + 120
COUNTS = (
    "updates",
    "memories",
    "replies",
    "duplicate_replies",
    "lost",
    "reminders_fired_twice",
    "reminders_missed",
    "stuck_jobs",
    "kills",
    "redis_restarts",
    "elapsed_s",
    "http_5xx",
    "http_429",
    "llm_failures",
)
MUST_BE_ZERO = (
    "lost",
    "duplicate_replies",
    "reminders_fired_twice",
    "reminders_missed",
    "stuck_jobs",
)


@pytest.fixture
def redis_server() -> str:
    """The redis-server binary the run starts (its own, so the machine's is never restarted)."""
    found = shutil.which("redis-server")
    if found is None:
        reason = "the chaos run starts its own redis-server, and none is on PATH"
        if ON_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return found


@pytest.fixture
def chaos_env(redis_server: str, postgres_admin_url: str) -> dict[str, str]:
    """The run's PostgreSQL is the suite's (it makes and drops its own database)."""
    return clean_env(LIFEORG_BENCH_POSTGRES_URL=postgres_admin_url)


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT_S + 30)
def test_nothing_lost_or_doubled_under_chaos(chaos_env):
    # Given the bench's chaos at a tiny size
    argv = [sys.executable, "-m", "bench", "chaos", "--quick", "--json"]
    argv += ["--messages", str(MESSAGES), "--settle-timeout", str(SETTLE_TIMEOUT_S)]
    # When it runs
    done = subprocess.run(
        argv, cwd=ROOT, env=chaos_env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    # Then it reports every count, and nothing went missing, twice or stuck
    assert done.stdout.strip(), done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert set(COUNTS) <= result.keys(), result
    assert result["updates"] == MESSAGES
    assert result["kills"] >= 1 and result["redis_restarts"] == 1, result
    trouble = {name: result[name] for name in MUST_BE_ZERO}
    assert trouble == dict.fromkeys(trouble, 0), (result, done.stderr[-3000:])
    assert result["memories"] == result["replies"] == MESSAGES, result
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_restarted_redis_forgets_its_queue(redis_server, tmp_path):
    """What the run does to Redis loses what was queued, on the same port, as a crash would."""
    # Given the run's own Redis with a message queued
    with ThrowawayRedis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        client.rpush("queue", "job 1")
        # When it is restarted
        server.restart()
        # Then it answers at the same address, empty
        assert client.llen("queue") == 0
        assert server.restarts == 1
        client.close()


def test_the_flaky_model_answers_every_prompt_in_its_schema(tmp_path):
    """The chaos run's model answers what the product asks in the shape the product checks,
    through real litellm, so the run exercises the model path and not the fallback."""
    # Given the run's fake model, failing nothing
    with flaky_model(0.0, seed=1) as fake:
        model = LLMClient(
            make_settings(
                tmp_path, llm_model=FAKE_MODEL, llm_api_base=fake.api_base, llm_api_key="sk-x"
            )
        )
        # When the product classifies, matches a task and answers a question
        kind = model.complete(CLASSIFY, {"message": "the gate code is 4417"}, ModelClassification)
        task = {"message": "I paid it", "candidates": [{"id": 7, "task": "pay invoice"}]}
        choice = model.complete(TASK_MATCH, task, ModelChoice)
        question = {"question": "gate code?", "memories": [{"id": 3, "text": "gate 4417"}]}
        answer = model.complete(ANSWER, question, ModelAnswer)
    # Then each answer is the sensible one
    assert (kind.intent, kind.text, kind.date) == ("note", "the gate code is 4417", None)
    assert choice.task_id == 7
    assert answer.cited == [3] and "gate 4417" in answer.answer


def test_the_flaky_model_fails_its_share_of_calls():
    """chaos(ratio) turns that share of unscripted answers into 500s, and counts them."""
    # Given the run's fake model failing 30% of calls
    with flaky_model(0.3, seed=7) as fake:
        # When it is asked 200 times
        statuses = [_classify_status(fake.api_base) for _ in range(CALLS)]
    # Then about 30% failed, each counted, and the rest answered
    assert fake.failures == statuses.count(500)
    assert 0.2 * CALLS <= fake.failures <= 0.4 * CALLS
    assert set(statuses) == {200, 500}


def _classify_status(api_base: str) -> int:
    """The HTTP status of one classification request, as litellm would send it."""
    messages = [{"role": "system", "content": CLASSIFY.system}]
    messages.append({"role": "user", "content": json.dumps({"data": {"message": "x"}})})
    body = json.dumps({"model": "fake-model", "messages": messages}).encode()
    request = urllib.request.Request(f"{api_base}/chat/completions", body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
