"""Answering a question from the user's own memories, citing the ones used."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from lifeorg.pipeline.prompts import ANSWER

# How much of each memory the model is shown: enough for a password or an address, little
# enough that ten memories stay a cheap prompt.
MAX_MEMORY_CHARS = 800


class ModelAnswer(BaseModel):
    """What the model answers for ANSWER."""

    answer: str = Field(min_length=1, max_length=2000)
    cited: list[int] = Field(default_factory=list, max_length=20)


@dataclass(frozen=True)
class Answer:
    """A short answer and the ids of the memories it rests on (all among those shown)."""

    text: str
    cited: list[int]


def answer_question(
    question: str, memories: Sequence[tuple[int, str]], llm: Any, *, job: Any = None
) -> Answer | None:
    """Ask the model to answer from ``memories`` (the user's own search hits).

    Returns None when there is nothing to answer from; raises LLMError when the model fails.
    Citations of ids that were not shown are dropped: the model cannot point at other rows.
    """
    if not memories:
        return None
    shown = {memory_id: text[:MAX_MEMORY_CHARS] for memory_id, text in memories}
    data = {
        "question": question,
        "memories": [{"id": memory_id, "text": text} for memory_id, text in shown.items()],
    }
    reply = llm.complete(ANSWER, data, ModelAnswer, job=job)
    cited = [memory_id for memory_id in dict.fromkeys(reply.cited) if memory_id in shown]
    return Answer(reply.answer.strip(), cited)
