"""``tag_image``: store a photo safely, describe and tag it, and show the suggestions."""

from __future__ import annotations

from typing import Any

from lifeorg import runtime
from lifeorg.actors.step import step
from lifeorg.errors import PermanentStepError
from lifeorg.models import Job, Memory
from lifeorg.pipeline.photos import file_image, read_image

# Downloading 20 MB, decoding it and a vision model's answer fit well within this.
TAG_IMAGE_TIME_LIMIT_S = 120


def _memory(job: Job) -> Memory:
    memory = Memory.get_or_none(Memory.id == job.payload["memory_id"])
    if memory is None:
        raise PermanentStepError(f"memory {job.payload['memory_id']} does not exist")
    return memory


def read(job: Job) -> dict[str, Any]:
    """Download, store and describe the image (outside any transaction)."""
    rt = runtime.current()
    return read_image(
        _memory(job),
        job.payload["file_id"],
        messenger=rt.messenger,
        llm=rt.llm,
        images_dir=rt.settings.images_path,
        job=job,
        last_attempt=job.attempts >= job.max_attempts,
    )


@step("tag_image", time_limit_s=TAG_IMAGE_TIME_LIMIT_S, prepare=read)
def tag_image(job: Job, reading: dict[str, Any]) -> dict[str, Any]:
    """Keep the image and its suggested tags; reply with [Confirm tags] [Edit]."""
    key = f"reply:image:{job.payload['memory_id']}:{job.payload['file_id']}"
    outcome = file_image(_memory(job), job.payload["file_id"], reading, key)
    return {**{k: v for k, v in reading.items() if k != "stored"}, "outcome": outcome}
