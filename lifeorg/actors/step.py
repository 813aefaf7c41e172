"""``@step``: a Dramatiq actor backed by the job ledger.

The message carries a job id. The wrapper claims the job by compare-and-set (a duplicate or
late message finds it taken or done and does nothing), runs the step function and marks the
job completed in one transaction with the step's own writes, so a step's effects happen once.
A failure is written to the ledger, which decides whether it is retried.

A step that talks to the network (a model, Telegram) does so in its ``prepare`` function,
outside any transaction; the step function then only writes. A transaction never waits on
the network, and on SQLite it takes the write lock first (BEGIN IMMEDIATE): a transaction
that read, waited, and then wrote after another thread's commit would fail outright.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import threading
import traceback
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import Interrupt

from lifeorg import ledger
from lifeorg.errors import PermanentStepError, StepDeferred
from lifeorg.logs import redact
from lifeorg.middleware import note_attempt
from lifeorg.models import Job
from lifeorg.models.base import utcnow
from lifeorg.models.states import JobStatus

log = logging.getLogger(__name__)

# Retries start quickly (a blip in a service) and back off to a few minutes (an outage).
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 300_000
DRAMATIQ_MAX_RETRIES = 1_000
# A step that runs longer than this is stuck; Dramatiq interrupts it and it is retried.
DEFAULT_TIME_LIMIT_S = 60
# Added to a step's time limit to make its lease; past it the worker is presumed dead.
LEASE_GRACE = dt.timedelta(seconds=30)


def lease_grace() -> dt.timedelta:
    """``LIFEORG_JOB_LEASE_GRACE_S`` of the running process, or LEASE_GRACE outside one."""
    from lifeorg import runtime

    try:
        return dt.timedelta(seconds=runtime.current().settings.job_lease_grace_s)
    except RuntimeError:
        return LEASE_GRACE


def backoff_ms(attempts: int) -> int:
    """The wait before retry number ``attempts``: doubling from MIN_BACKOFF_MS, capped, with
    up to a quarter of jitter so retries after an outage do not arrive together."""
    base = min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** max(0, attempts - 1))
    return int(base * (1 + random.random() / 4)) if base < MAX_BACKOFF_MS else base


def worker_name() -> str:
    """Who holds a lease: host, process and thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def step(
    kind: str,
    *,
    time_limit_s: int = DEFAULT_TIME_LIMIT_S,
    prepare: Callable[[Job], Any] | None = None,
    **actor_options: Any,
) -> Callable[[Callable[..., Any]], dramatiq.Actor]:
    """Declare the ledger-backed actor ``kind``: ``fn(job)``, or ``fn(job, prepare(job))``.

    ``fn``'s return is the job's result. The retry budget is the job row's ``max_attempts``,
    set by whoever submits the job.
    """

    def decorate(fn: Callable[..., Any]) -> dramatiq.Actor:
        def run(job_id: int) -> None:
            run_step(fn, job_id, time_limit_s=time_limit_s, prepare=prepare)

        run.__name__ = run.__qualname__ = kind
        run.__doc__ = fn.__doc__
        # The ledger decides when to stop (a spent job returns without raising), so Dramatiq
        # only carries the retries there and must never give up first.
        actor_options.setdefault("max_retries", DRAMATIQ_MAX_RETRIES)
        actor_options.setdefault("min_backoff", MIN_BACKOFF_MS)
        actor_options.setdefault("max_backoff", MAX_BACKOFF_MS)
        return dramatiq.actor(
            run,
            actor_name=kind,
            queue_name=ledger.queue_for(kind),
            time_limit=time_limit_s * 1000,
            **actor_options,
        )

    return decorate


def run_step(
    fn: Callable[..., Any],
    job_id: int,
    *,
    time_limit_s: int,
    prepare: Callable[[Job], Any] | None = None,
) -> None:
    """Claim, run and settle one job; raises only to ask Dramatiq for a retry."""
    lease_until = utcnow() + dt.timedelta(seconds=time_limit_s) + lease_grace()
    job = Job.claim(job_id, worker_name(), lease_until)
    if job is None:
        note_attempt(job_id, None, "skipped")
        log.info("job %s not queued (done, taken or gone); message skipped", job_id)
        return
    try:
        prepared = prepare(job) if prepare is not None else None
        with ledger.unit_of_work(write=True):
            result = fn(job, prepared) if prepare is not None else fn(job)
            if not job.complete(result=result):
                raise _LeaseLost
        note_attempt(job_id, job.attempts, "completed")
    except _LeaseLost:
        note_attempt(job_id, job.attempts, "lease_lost")
        log.warning("job %s: lease lost to another worker; this attempt's writes undone", job_id)
    except PermanentStepError as exc:
        # Errors are stored where operators read them: never with a secret in them.
        job.fail(redact(f"{type(exc).__name__}: {exc}"), retry_until=None)
        note_attempt(job_id, job.attempts, "failed")
        log.error("job %s (%s) failed for good: %s", job_id, job.kind, exc)
    except StepDeferred as exc:
        delay = dt.timedelta(seconds=exc.retry_after_s)
        job.defer(redact(str(exc)), retry_until=utcnow() + delay + lease_grace())
        note_attempt(job_id, job.attempts, "deferred")
        raise dramatiq.Retry(delay=int(delay.total_seconds() * 1000)) from exc
    except (Exception, Interrupt) as exc:
        # The step says when it comes back (a 429's Retry-After), or backoff decides; the
        # lease runs just past that, so a retry lost with its message is soon swept.
        retry_after_s = getattr(exc, "retry_after_s", None)
        delay_ms = int(retry_after_s * 1000) if retry_after_s else backoff_ms(job.attempts)
        retry_until = utcnow() + dt.timedelta(milliseconds=delay_ms) + lease_grace()
        job.fail(redact(traceback.format_exc()), retry_until=retry_until)
        note_attempt(job_id, job.attempts, "failed" if job.status == JobStatus.FAILED else "retry")
        if job.status == JobStatus.FAILED:
            log.error(
                "job %s (%s) failed after %s attempts: %s", job_id, job.kind, job.attempts, exc
            )
            return
        log.warning(
            "job %s (%s) attempt %s failed, retried in %.1f s: %s: %s",
            job_id,
            job.kind,
            job.attempts,
            delay_ms / 1000,
            type(exc).__name__,
            exc,
        )
        raise dramatiq.Retry(delay=delay_ms) from exc


class _LeaseLost(Exception):
    """The job was handed to another worker while this one ran; roll this attempt back."""
