"""``ping``: a step that proves a worker is consuming the queue (used by ``lifeorg doctor``)."""

from __future__ import annotations

from lifeorg.actors.step import step, worker_name
from lifeorg.models import Job
from lifeorg.models.base import utcnow


@step("ping", time_limit_s=10)
def ping(job: Job) -> dict[str, str]:
    """Answer with who ran the job and when."""
    return {"worker": worker_name(), "at": utcnow().isoformat()}
