"""Probe steps for the ledger tests, declared on the in-process broker by the test session
and loaded by real worker processes with ``lifeorg worker tests.steps``.

Each probe's effect is an audit row of entity type ``probe`` keyed by the payload's tag, so a
test counts effects with one query.
"""

from __future__ import annotations

import time
from pathlib import Path

from lifeorg import ledger
from lifeorg.actors.step import step
from lifeorg.errors import PermanentStepError
from lifeorg.models import AuditEntry, Job

# Retries in milliseconds rather than seconds, so retry tests take moments.
FAST_RETRY = {"min_backoff": 10, "max_backoff": 50}
# How long probe_hold waits on its first attempt for the test to kill its process.
HOLD_S = 60


def effect(job: Job, name: str) -> None:
    """Write the probe's one visible effect."""
    AuditEntry.create(
        entity_type="probe",
        entity_id=job.payload["tag"],
        action="updated",
        actor="system",
        detail={"step": name, "attempt": job.attempts},
    )


def effects(tag: str) -> int:
    """How many effects were written for ``tag``."""
    return (
        AuditEntry.select()
        .where((AuditEntry.entity_type == "probe") & (AuditEntry.entity_id == tag))
        .count()
    )


@step("probe_effect", **FAST_RETRY)
def probe_effect(job: Job) -> dict:
    """Write one effect."""
    effect(job, "effect")
    return {"attempt": job.attempts}


@step("probe_flaky", **FAST_RETRY)
def probe_flaky(job: Job) -> dict:
    """Write an effect, then fail on the first ``failures`` attempts (undoing the effect)."""
    effect(job, "flaky")
    if job.attempts <= job.payload["failures"]:
        raise RuntimeError(f"flaky failure on attempt {job.attempts}")
    return {"attempt": job.attempts}


@step("probe_permanent", **FAST_RETRY)
def probe_permanent(job: Job) -> None:
    """Fail in a way no retry can fix."""
    raise PermanentStepError("this input can never work")


@step("probe_chain", **FAST_RETRY)
def probe_chain(job: Job) -> None:
    """Submit a follow-up step, then fail if asked (so the follow-up must not run)."""
    tag = job.payload["tag"]
    ledger.submit("probe_effect", f"chain:{tag}:{job.attempts}", {"tag": tag})
    if job.payload.get("fail"):
        raise PermanentStepError("failing after submitting a follow-up")


@step("probe_hold", time_limit_s=HOLD_S + 5, **FAST_RETRY)
def probe_hold(job: Job) -> dict:
    """Write an effect; on the first attempt, say so in a file and wait to be killed."""
    effect(job, "hold")
    if job.attempts == 1:
        Path(job.payload["signal"]).write_text(str(job.attempts))
        deadline = time.monotonic() + HOLD_S
        while time.monotonic() < deadline:
            time.sleep(0.05)
    return {"attempt": job.attempts}
