"""Pipeline throughput: text messages through bot, ingest, classify, route and notify.

``python -m bench pipeline [--quick] [--json]``. ``lifeorg bot`` long-polls the fake Bot API
(its limits off) and one ``lifeorg worker`` process with eight threads runs the steps on
Redis and a throwaway PostgreSQL database, offline (no LLM). 1000 messages (200 with
--quick) from 50 chats are queued at once; ``msgs_per_s`` counts them until the last reply
arrives, ``hops_per_s`` the actor messages processed meanwhile (the attempts in the job
ledger). Then, on the same Redis with the same processes and threads, raw Dramatiq runs a
no-op actor (``bench/_noop.py``) through the ``dramatiq`` command: ``ratio`` is
``hops_per_s / noop_per_s``, what the steps' own work leaves of the queue's speed. The
replies still pass the real pacer (28/s overall, about 1/s per chat), so ``msgs_per_s``
cannot exceed 28.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from bench._common import (
    MESSAGE_MIX,
    START_TIMEOUT_S,
    Children,
    Setup,
    child_env,
    logger,
    queue_namespace,
    redis_url,
    report,
    services,
    wait_for_replies,
    wait_until,
)
from lifeorg.models import Job
from lifeorg.models.states import JobStatus

FULL_MESSAGES = 1000
QUICK_MESSAGES = 200
CHATS = 50
FIRST_CHAT = 200_000
WORKER_PROCESSES = 1
WORKER_THREADS = 8
WARMUP_MESSAGES = 10
# No-op messages per pipeline message: enough for the no-op run to last seconds, not ticks.
NOOP_PER_MESSAGE = 10
# Even at two messages a second, everything is through within this.
PIPELINE_TIMEOUT_S = 600
NOOP_TIMEOUT_S = 300
NOOP_POLL_S = 0.005


def offer(setup: Setup, chats: list[int], count: int) -> list[tuple[int, int]]:
    """Queue ``count`` messages at the fake, round the chats, cycling through the mix."""
    texts, rooms = itertools.cycle(MESSAGE_MIX), itertools.cycle(chats)
    return [setup.fake.push_text(next(rooms), next(texts)) for _ in range(count)]


def last_job_id() -> int:
    with Job._meta.database.connection_context():
        return Job.select(Job.id).order_by(Job.id.desc()).scalar() or 0


def ledger_hops(after_id: int, children: Children) -> tuple[int, int]:
    """Once the jobs after ``after_id`` are all settled: (jobs, attempts made on them)."""
    unfinished = (JobStatus.QUEUED, JobStatus.PROCESSING)

    def settled() -> bool:
        with Job._meta.database.connection_context():
            later = Job.select().where((Job.id > after_id) & Job.status.in_(unfinished))
            return not later.exists()

    wait_until(settled, PIPELINE_TIMEOUT_S, "the ledger to settle", children, 0.1)
    with Job._meta.database.connection_context():
        jobs = Job.select().where(Job.id > after_id)
        return jobs.count(), sum(job.attempts for job in jobs)


def run_pipeline(setup: Setup, count: int, log) -> dict:
    """Warm up, then time ``count`` messages from queued to replied."""
    chats = [FIRST_CHAT + i for i in range(min(CHATS, count))]
    setup.add_users(chats)
    setup.start_worker(
        LIFEORG_WORKER_PROCESSES=str(WORKER_PROCESSES), LIFEORG_WORKER_THREADS=str(WORKER_THREADS)
    )
    setup.start_bot()
    wait_for_replies(setup, offer(setup, chats, WARMUP_MESSAGES), START_TIMEOUT_S)
    before = last_job_id()
    log(f"warmed up; offering {count} messages")
    started = time.monotonic()
    replies = wait_for_replies(setup, offer(setup, chats, count), PIPELINE_TIMEOUT_S)
    elapsed = max(replies.values()) - started
    jobs, hops = ledger_hops(before, setup.children)
    setup.children.stop()
    return {
        "messages": count,
        "pipeline_s": round(elapsed, 2),
        "msgs_per_s": round(count / elapsed, 1),
        "jobs": jobs,
        "hops": hops,
        "hops_per_s": round(hops / elapsed, 1),
    }


def run_noop(children: Children, count: int) -> float:
    """Raw Dramatiq's no-op messages per second, queued first and then drained."""
    with queue_namespace("noop") as namespace:
        broker = RedisBroker(url=redis_url(), namespace=namespace)
        broker.declare_queue("default")
        for _ in range(count):
            broker.enqueue(dramatiq.Message("default", "noop", (), {}, {}))
        client = redis.Redis.from_url(redis_url())
        waiting = f"{namespace}:default.msgs"  # a message leaves this hash when it is acked
        env = child_env(LIFEORG_BENCH_REDIS_URL=redis_url(), LIFEORG_BENCH_NAMESPACE=namespace)
        argv = [sys.executable, "-m", "dramatiq", "bench._noop"]
        argv += ["--processes", str(WORKER_PROCESSES), "--threads", str(WORKER_THREADS)]
        children.start("noop", argv, env)

        def first_acks() -> tuple[float, int] | None:
            left = client.hlen(waiting)
            return (time.monotonic(), left) if left < count else None

        started, left = wait_until(first_acks, START_TIMEOUT_S, "the no-op worker", children)
        wait_until(
            lambda: client.hlen(waiting) == 0, NOOP_TIMEOUT_S, "the no-ops", children, NOOP_POLL_S
        )
        elapsed = time.monotonic() - started
        children.stop("noop")
        client.close()
        broker.close()
    return left / elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench pipeline", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_MESSAGES} messages")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)  # messages (smoke test)
    args = parser.parse_args(argv)
    count = args.size or (QUICK_MESSAGES if args.quick else FULL_MESSAGES)
    log = logger(args.json)

    with services("pipeline", log, telegram_limits=False) as setup:
        result = run_pipeline(setup, count, log)
        log(f"pipeline: {result}")
        noop_per_s = run_noop(setup.children, count * NOOP_PER_MESSAGE)
    result["noop_messages"] = count * NOOP_PER_MESSAGE
    result["noop_per_s"] = round(noop_per_s, 1)
    result["ratio"] = round(result["hops_per_s"] / noop_per_s, 3)
    result["worker_processes"], result["worker_threads"] = WORKER_PROCESSES, WORKER_THREADS
    report(result, args.json)
    return 0
