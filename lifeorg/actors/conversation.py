"""``ingest``: one Telegram update, stored once and handed to the pipeline."""

from __future__ import annotations

from lifeorg import runtime
from lifeorg.actors.step import step
from lifeorg.models import Job
from lifeorg.pipeline.ingest import take_update


@step("ingest", time_limit_s=30)
def ingest(job: Job) -> dict[str, str]:
    """Store the update's message as a memory (or run its command or button) exactly once."""
    return {"outcome": take_update(job.payload["update"], runtime.current().settings)}
