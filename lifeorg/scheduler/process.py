"""``lifeorg scheduler``: the process that only decides what is due and enqueues it.

APScheduler (in UTC, coalescing missed runs, one instance of each job at a time) runs the
passes; every pass is safe to run in several scheduler processes at once, because due
reminders are claimed by compare-and-set and jobs are keyed. The work itself is done by
the workers.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
from collections.abc import Callable
from typing import Any

from lifeorg import runtime
from lifeorg.config import Settings
from lifeorg.errors import ConfigError
from lifeorg.models.base import db
from lifeorg.scheduler.reminders import claim_due
from lifeorg.scheduler.ticker import MAX_SLEEP_S, periodic_passes

log = logging.getLogger(__name__)

# A pass that could not start on time (the process was busy or asleep) still runs if it is
# at most this late; later ones are merged into one (coalesced).
MISFIRE_GRACE_S = 30


def _pass(name: str, work: Callable[[], Any]) -> Callable[[], None]:
    """A scheduled pass with its own connection, whose failure is logged, not fatal."""

    def run() -> None:
        try:
            with db.connection_context():
                work()
        except Exception:
            log.exception("scheduler pass %s failed; it runs again on its next turn", name)

    run.__name__ = name
    return run


def build_scheduler(settings: Settings) -> Any:
    """An APScheduler with the due-work passes, not yet started."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(
        timezone=dt.UTC,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_S,
        },
    )
    passes = [("reminders", claim_due, MAX_SLEEP_S), *periodic_passes(settings)]
    for name, work, every_s in passes:
        scheduler.add_job(_pass(name, work), "interval", seconds=every_s, id=name)
    return scheduler


def run_scheduler(settings: Settings) -> None:
    """Run the passes until SIGTERM or SIGINT."""
    if settings.queue_url is None:
        raise ConfigError(
            "lifeorg scheduler hands due work to worker processes, so it needs a broker: set "
            "REDIS_URL (or LIFEORG_BROKER_URL=amqp://...). For everything in one process, "
            "use `lifeorg run`."
        )
    rt = runtime.start(settings, migrate=True, actors=False)
    scheduler = build_scheduler(settings)

    def stop(signum: int, frame: Any) -> None:
        log.info("scheduler stopping (signal %s)", signum)
        # Wait for a pass in progress: exiting while one is inside the database driver
        # can crash the interpreter's shutdown.
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler running: %s", ", ".join(job.id for job in scheduler.get_jobs()))
    try:
        scheduler.start()
    finally:
        rt.stop()
