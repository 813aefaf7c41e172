"""The benchmarks run: each one's --quick --json path at a tiny size prints its figures as
numbers, and an interrupted run leaves no process, database or queue behind."""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys

import psycopg
import pytest
import redis

from bench._common import descendants
from tests.conftest import ROOT, clean_env, wait_for

pytestmark = pytest.mark.slow

# A tiny run starts up to three processes on two shared cores: allow for a busy machine.
RUN_TIMEOUT_S = 240


@pytest.fixture
def bench_env(redis_url: str, postgres_admin_url: str) -> dict[str, str]:
    """The benchmarks' services are the test suite's (they make their own database and
    namespace inside them)."""
    return clean_env(
        LIFEORG_BENCH_REDIS_URL=redis_url, LIFEORG_BENCH_POSTGRES_URL=postgres_admin_url
    )


def run_bench(env: dict[str, str], *args: str) -> dict:
    """``python -m bench ARGS --quick --json``; its one JSON object."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args, "--quick", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def assert_numbers(result: dict, *keys: str) -> None:
    for key in keys:
        value = result[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value), (key, value)


def test_claims_on_both_backends(bench_env):
    """The claim rounds run (each checks it claimed exactly the due reminders)."""
    result = run_bench(bench_env, "claims", "--size", "2000")
    assert_numbers(result, "ms")
    for backend in ("sqlite", "postgres"):
        for timing in ("claim", "idle_claim", "next_due"):
            assert_numbers(result[backend][timing], "p50_ms", "p99_ms")
    assert result["ms_backend"] in ("sqlite", "postgres")


def test_reminders_go_out_once_within_the_limits(bench_env):
    result = run_bench(bench_env, "reminders", "--size", "20")
    assert_numbers(result, "rate_vs_cap", "http_429", "duplicates", "first_late_s", "total_s")
    assert result["reminders"] == 20
    assert (result["http_429"], result["duplicates"]) == (0, 0)
    assert result["rate_vs_cap"] > 0


def test_footprint(bench_env):
    result = run_bench(bench_env, "footprint")
    keys = ("help_s", "rss_mb_bot", "rss_mb_scheduler", "rss_mb_worker", "rss_mb_worker_total")
    assert_numbers(result, *keys)
    assert all(result[key] > 0 for key in keys)
    assert result["rss_mb_worker_total"] > result["rss_mb_worker"]


def test_pipeline_and_raw_dramatiq(bench_env):
    result = run_bench(bench_env, "pipeline", "--size", "16")
    assert_numbers(result, "msgs_per_s", "hops_per_s", "noop_per_s", "ratio")
    # ingest, classify and notify at least, for each message
    assert result["hops"] >= 3 * result["messages"] == 48
    assert result["ratio"] == pytest.approx(result["hops_per_s"] / result["noop_per_s"], abs=2e-3)


def test_latency(bench_env):
    result = run_bench(bench_env, "latency", "--size", "2")
    assert_numbers(result, "p50_ms", "p99_ms")
    assert result["messages"] == 40
    assert 0 < result["p50_ms"] <= result["p99_ms"]


def test_an_interrupted_run_leaves_nothing_behind(bench_env, tmp_path):
    """Ctrl-C in the middle: the bot and the worker are stopped, the run's database is
    dropped and its Redis namespace emptied."""
    client = redis.Redis.from_url(bench_env["LIFEORG_BENCH_REDIS_URL"])
    log = open(tmp_path / "bench.log", "w+")  # noqa: SIM115 (closed below)
    run = subprocess.Popen(
        [sys.executable, "-m", "bench", "latency", "--json", "--size", "60"],
        cwd=ROOT,
        env=bench_env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        started = wait_for(
            lambda: "warmed up" in (text := _read(log)) and text,
            timeout=RUN_TIMEOUT_S,
            what="the benchmark to get going",
        )
        database, namespace = re.search(r"database (\S+), queue namespace (\S+),", started).groups()
        children = descendants(run.pid)
        assert len(children) >= 3  # the bot, the worker and its worker process
        assert _database_exists(bench_env["LIFEORG_BENCH_POSTGRES_URL"], database)
        assert list(client.scan_iter(f"{namespace}:*"))

        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=60) != 0
    finally:
        if run.poll() is None:
            run.kill()
        log.close()
    wait_for(lambda: not any(map(_running, children)), timeout=10, what="the children to be gone")
    assert not _database_exists(bench_env["LIFEORG_BENCH_POSTGRES_URL"], database)
    assert not list(client.scan_iter(f"{namespace}:*"))


def _read(log) -> str:
    log.seek(0)
    return log.read()


def _database_exists(admin_url: str, name: str) -> bool:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.fetchone() is not None


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for init to reap it does not)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return "State:\tZ" not in status.read()
    except FileNotFoundError:
        return False
