"""Understanding a message: ``classify``, ``match_task`` and ``search``.

Each takes the job of a memory, loads what it needs for that memory's owner only, and
hands the work to ``lifeorg.pipeline``. The results go to the job's ledger row; routing and
replies build on them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from lifeorg import runtime
from lifeorg.actors.step import step
from lifeorg.errors import LLMError, LLMUnavailable, PermanentStepError
from lifeorg.models import Job, Memory, Task
from lifeorg.models.base import utcnow
from lifeorg.models.states import TaskState
from lifeorg.pipeline import answer, match, route
from lifeorg.pipeline import search as search_index
from lifeorg.pipeline.classify import classify as classify_text
from lifeorg.pipeline.question import search_words

# Steps that may wait on a model get the model's timeout and some room for the rest.
MODEL_STEP_TIME_LIMIT_S = 90
# How many search hits a reply lists and the model answers from.
SEARCH_LIMIT = 10


def _memory(job: Job) -> Memory:
    memory = Memory.get_or_none(Memory.id == job.payload.get("memory_id"))
    if memory is None:
        raise PermanentStepError(f"memory {job.payload.get('memory_id')} does not exist")
    return memory


def _last_attempt(job: Job) -> bool:
    return job.attempts >= job.max_attempts


def read_message(job: Job) -> dict[str, Any]:
    """The parser's (and maybe the model's) reading of the memory's message."""
    memory = _memory(job)
    user = memory.owner
    result = classify_text(
        memory.content,
        now=utcnow(),
        tz=user.timezone,
        default_time=dt.time.fromisoformat(user.default_time),
        llm=runtime.current().llm,
        job=job,
        last_attempt=_last_attempt(job),
    )
    return result.to_json()


@step("classify", time_limit_s=MODEL_STEP_TIME_LIMIT_S, prepare=read_message)
def classify(job: Job, reading: dict[str, Any]) -> dict[str, Any]:
    """File the memory by its intent and reply."""
    reading["filed_as"] = route.file_memory(_memory(job), reading)
    return reading


def find_candidates(job: Job) -> dict[str, Any]:
    """The owner's open tasks that a "done" message may complete, maybe with the model's pick."""
    memory = _memory(job)
    open_tasks = (
        Task.select(Task.id, Task.description)
        .where((Task.owner == memory.owner_id) & (Task.state == TaskState.NOT_DONE))
        .tuples()
    )
    candidates = match.match_candidates(job.payload.get("text") or memory.content, open_tasks)
    chosen, source = (candidates[0].task_id if len(candidates) == 1 else None), "offline"
    llm = runtime.current().llm
    if len(candidates) > 1 and llm.available():
        try:
            chosen = match.choose_with_model(memory.content, candidates, llm, job=job)
            source = "llm"
        except LLMUnavailable:
            if not _last_attempt(job):
                raise
        except LLMError:
            pass  # the user chooses among the candidates instead
    return {"candidates": [asdict(c) for c in candidates], "chosen": chosen, "source": source}


@step("match_task", time_limit_s=MODEL_STEP_TIME_LIMIT_S, prepare=find_candidates)
def match_task(job: Job, result: dict[str, Any]) -> dict[str, Any]:
    """Ask which task was done; never completes one silently."""
    route.ask_about_match(_memory(job), result)
    return result


def find_answer(job: Job) -> dict[str, Any]:
    """Search the owner's memories and events; with a model, an answer citing the memories."""
    memory = _memory(job)
    query = search_words(job.payload.get("query") or memory.content)
    hits = search_index.search(memory.owner_id, query, limit=SEARCH_LIMIT)
    result: dict[str, Any] = {"hits": [asdict(h) for h in hits], "answer": None, "cited": []}
    llm = runtime.current().llm
    memory_ids = [h.id for h in hits if h.kind == "memory" and h.id != memory.id]
    if not memory_ids or not llm.available():
        return result
    shown = (
        Memory.select(Memory.id, Memory.content)
        .where(Memory.id.in_(memory_ids) & (Memory.owner == memory.owner_id))
        .tuples()
    )
    order = {memory_id: rank for rank, memory_id in enumerate(memory_ids)}
    try:
        reply = answer.answer_question(
            memory.content, sorted(shown, key=lambda row: order[row[0]]), llm, job=job
        )
    except LLMUnavailable:
        if not _last_attempt(job):
            raise
        reply = None
    except LLMError:
        reply = None  # the hits alone are the answer
    if reply is not None:
        result.update(answer=reply.text, cited=reply.cited)
    return result


@step("search", time_limit_s=MODEL_STEP_TIME_LIMIT_S, prepare=find_answer)
def search(job: Job, result: dict[str, Any]) -> dict[str, Any]:
    """Reply with the hits and the answer."""
    route.answer_search(_memory(job), result)
    return result
