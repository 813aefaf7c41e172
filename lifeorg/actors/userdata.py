"""``export`` and ``forget_files``: a user's data sent to them, and their photos deleted."""

from __future__ import annotations

import datetime as dt
from typing import Any

from lifeorg import runtime
from lifeorg.actors.step import step
from lifeorg.models import Job
from lifeorg.pipeline.export import EXPORT, finish_export, send_export
from lifeorg.pipeline.forget import FORGET_FILES, remove_files

# Building a large export and uploading it at 50 MB a part over a slow uplink: parts sent
# before a time-out are not sent again, so a retry picks up where this left off.
EXPORT_TIME_LIMIT_S = 1800
# Deleting thousands of files is seconds of work; a stuck disk is retried.
FORGET_FILES_TIME_LIMIT_S = 300


def build_and_send(job: Job) -> dict[str, Any]:
    """Build the export and upload its parts (long file and network work: no transaction)."""
    rt = runtime.current()
    return send_export(
        job,
        messenger=rt.messenger,
        pacer=rt.pacer,
        images_dir=rt.settings.images_path,
        data_dir=rt.settings.data_dir,
    )


@step(EXPORT, time_limit_s=EXPORT_TIME_LIMIT_S, prepare=build_and_send)
def export(job: Job, outcome: dict[str, Any]) -> dict[str, Any]:
    """Everything the user saved, sent to them as zip files (/export)."""
    return finish_export(job, outcome)


def delete_files(job: Job) -> dict[str, Any]:
    """Delete the files (file work: outside the step's transaction)."""
    before = dt.datetime.fromisoformat(job.payload["before"])
    settings = runtime.current().settings
    return remove_files(job.payload["user_id"], settings.images_path, settings.data_dir, before)


@step(FORGET_FILES, time_limit_s=FORGET_FILES_TIME_LIMIT_S, prepare=delete_files)
def forget_files(job: Job, removed: dict[str, Any]) -> dict[str, Any]:
    """A forgotten user's files, deleted from disk once their rows are gone (/forget)."""
    return removed
