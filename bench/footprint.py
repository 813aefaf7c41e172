"""Start-up time of the command line and resident memory of each Procfile process.

``python -m bench footprint [--quick] [--json]``. ``help_s`` is the median wall time of
``lifeorg --help``. Then ``lifeorg bot`` (long polling against the fake Bot API),
``lifeorg scheduler`` and ``lifeorg worker`` (one worker process, the default) run on Redis
and a throwaway PostgreSQL database; once a message has gone through bot, worker and reply,
and a reminder through scheduler, worker and reply, each process's VmRSS is read (the
largest of a few samples). ``rss_mb_worker`` is the worker process that runs the actors (the
largest, were there several); ``rss_mb_worker_total`` is the whole tree: Dramatiq's
supervising process, the worker process(es) and fork processes such as the metrics server.
--quick times fewer --help runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench._common import (
    ROOT,
    Setup,
    child_env,
    descendants,
    lifeorg_argv,
    logger,
    report,
    rss_mb,
    services,
    thread_count,
    wait_until,
)
from lifeorg.config import DEFAULT_WORKER_THREADS
from lifeorg.models import Reminder

FULL_HELP_RUNS = 9
QUICK_HELP_RUNS = 5
CHAT = 7001
# After the warm-up flows, memory is sampled this many times, this far apart: the largest
# sample counts, so a transient peak right after a step is not missed.
SAMPLES = 5
SAMPLE_EVERY_S = 0.4
FLOW_TIMEOUT_S = 20


def help_command() -> list[str]:
    """What a user types: the installed ``lifeorg`` script, else the module."""
    script = Path(sys.executable).with_name("lifeorg")
    return [str(script), "--help"] if script.exists() else lifeorg_argv("--help")


def help_seconds(runs: int) -> float:
    """The median wall time of ``lifeorg --help`` over ``runs`` runs, after one untimed."""
    times = []
    for index in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(help_command(), cwd=ROOT, env=child_env(), capture_output=True, check=True)
        if index:
            times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def exercise(setup: Setup, user_id: int) -> None:
    """A message through bot -> worker -> reply, and a reminder through scheduler -> worker."""
    setup.fake.push_text(CHAT, "the wifi password is hunter2")
    wait_until(lambda: setup.fake.first_replies(), FLOW_TIMEOUT_S, "the reply", setup.children)
    with Reminder._meta.database.connection_context():
        Reminder.create(owner=user_id, text="call mum", fire_at=dt.datetime.now(dt.UTC))
    wait_until(
        lambda: len(setup.fake.messages_to(CHAT)) >= 2,
        FLOW_TIMEOUT_S,
        "the reminder",
        setup.children,
    )


def sample_memory(pids: dict[str, list[int]]) -> dict[str, list[float]]:
    """The largest of SAMPLES readings of VmRSS per process, by name: one value per pid."""
    largest = {name: [0.0] * len(group) for name, group in pids.items()}
    for _ in range(SAMPLES):
        for name, group in pids.items():
            largest[name] = [
                max(a, rss_mb(pid)) for a, pid in zip(largest[name], group, strict=True)
            ]
        time.sleep(SAMPLE_EVERY_S)
    return largest


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench footprint", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_HELP_RUNS} --help runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    log = logger(args.json)

    result = {"help_s": help_seconds(QUICK_HELP_RUNS if args.quick else FULL_HELP_RUNS)}
    log(f"lifeorg --help: {result['help_s']} s")
    with services("footprint", log) as setup:
        users = setup.add_users([CHAT])
        worker = setup.start_worker()
        scheduler = setup.start_scheduler()
        bot = setup.start_bot()
        exercise(setup, users[CHAT])
        tree = [worker.pid, *descendants(worker.pid)]
        # The processes running the actors are those with the worker threads; Dramatiq's
        # supervisor and its fork processes have one or two.
        workers = [pid for pid in tree if thread_count(pid) >= DEFAULT_WORKER_THREADS]
        memory = sample_memory(
            {"bot": [bot.pid], "scheduler": [scheduler.pid], "workers": workers, "tree": tree}
        )
    result["rss_mb_bot"] = memory["bot"][0]
    result["rss_mb_scheduler"] = memory["scheduler"][0]
    result["rss_mb_worker"] = max(memory["workers"])
    result["rss_mb_worker_total"] = round(sum(memory["tree"]), 1)
    result["worker_processes"] = len(workers)
    result["worker_tree_processes"] = len(tree)
    report(result, args.json)
    return 0
