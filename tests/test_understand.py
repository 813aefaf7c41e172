"""The classify, match_task and search steps, offline and with a fake model over real HTTP."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from lifeorg import ledger, runtime
from lifeorg.llm import CircuitBreaker, LLMClient
from lifeorg.models import Event, Job, Memory, Task, User
from lifeorg.models.states import EventSource, JobStatus, TaskState
from lifeorg.pipeline.classify import ModelClassification, local_instant, merge
from lifeorg.pipeline.parse import Intent, parse_message
from lifeorg.pipeline.search import index_event, index_memory
from tests.conftest import make_settings
from tests.fake_llm import FakeLLM

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def fake() -> FakeLLM:
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture
def with_model(fake, tmp_path, monkeypatch):
    """The process's model client pointed at the fake server, with a fresh breaker."""
    settings = make_settings(
        tmp_path,
        llm_model="openai/fake-model",
        llm_api_base=fake.api_base,
        llm_api_key="sk-test",
        llm_timeout_s=2,
    )
    client = LLMClient(settings, CircuitBreaker(failures=3, cooldown_s=600))
    monkeypatch.setattr(runtime.current(), "llm", client)
    return client


def user(telegram_id: int = 1, tz: str = "Europe/Berlin") -> User:
    return User.create(
        telegram_user_id=telegram_id, chat_id=telegram_id, timezone=tz, default_time="09:00"
    )


def memory(owner: User, content: str) -> Memory:
    created = Memory.create(owner=owner, content=content)
    index_memory(created)
    return created


def run(kind: str, mem: Memory, settle, **payload) -> Job:
    job = ledger.submit(kind, f"{kind}:{mem.id}", {"memory_id": mem.id, **payload})
    settle()
    return Job.get_by_id(job.id)


# --- classify ------------------------------------------------------------------------------


def test_classify_offline_reads_a_reminder_in_the_users_zone(settle):
    """Without a model, the parser's reading is the result, computed in the user's zone."""
    mem = memory(user(), "remind me tomorrow at 9 to call mum")
    job = run("classify", mem, settle)

    assert job.status == JobStatus.COMPLETED
    result = job.result
    assert (result["intent"], result["text"], result["source"]) == (
        "reminder",
        "call mum",
        "offline",
    )
    when = dt.datetime.fromisoformat(result["when"])
    assert when.astimezone(BERLIN).time() == dt.time(9, 0)
    assert job.model is None and job.tokens_in is None


def test_classify_asks_the_model_when_the_parser_is_unsure(settle, with_model, fake):
    """A message the parser can only call a note goes to the model, whose intent wins."""
    mem = memory(user(), "the plumber should look at the leak before the guests arrive")
    fake.reply(
        {
            "intent": "task",
            "text": "plumber: look at the leak",
            "date": None,
            "time": None,
            "confidence": 0.8,
        }
    )
    job = run("classify", mem, settle)

    assert job.result["intent"] == "task" and job.result["source"] == "llm"
    assert job.model == "openai/fake-model" and job.tokens_in == 50
    assert "the plumber should look at the leak" in fake.user_messages()[0]


def test_classify_does_not_ask_the_model_when_the_parser_is_sure(settle, with_model, fake):
    """A clear reminder with a time is decided offline: no call, no cost."""
    mem = memory(user(), "remind me tomorrow at 9 to call mum")
    job = run("classify", mem, settle)
    assert job.result["source"] == "offline" and fake.requests == []


def test_classify_retries_a_failing_model_then_succeeds(settle, with_model, fake):
    """A 500 is retried by the ledger; the second attempt gets the model's answer."""
    mem = memory(user(), "the plumber should look at the leak before the guests arrive")
    fake.fail(500)
    fake.reply({"intent": "task", "text": "leak", "date": None, "time": None, "confidence": 0.9})
    job = run("classify", mem, settle)
    assert (job.status, job.attempts, job.result["source"]) == (JobStatus.COMPLETED, 2, "llm")


def test_classify_falls_back_offline_when_the_model_keeps_failing(settle, with_model, fake):
    """On the last attempt the offline reading answers: the user always gets a reply."""
    mem = memory(user(), "the plumber should look at the leak before the guests arrive")
    job = ledger.submit("classify", "c", {"memory_id": mem.id}, max_attempts=2)
    fake.fail(503)
    fake.fail(503)
    settle()
    done = Job.get_by_id(job.id)
    assert (done.status, done.attempts) == (JobStatus.COMPLETED, 2)
    assert done.result["source"] == "offline" and done.result["intent"] == "note"
    assert "model unavailable" in done.result["notes"][0]


@pytest.mark.parametrize(
    "bad", ["not json", {"intent": "launch_missiles", "text": "", "confidence": 1}]
)
def test_classify_ignores_invalid_model_output(settle, with_model, fake, bad):
    """Output that does not validate is a failure of the model, not data: offline wins."""
    mem = memory(user(), "the plumber should look at the leak before the guests arrive")
    fake.reply(bad)
    job = run("classify", mem, settle)
    assert (job.attempts, job.result["source"], job.result["intent"]) == (1, "offline", "note")


def test_classify_honours_retry_after(settle, with_model, fake):
    """A 429 with Retry-After: 1 is retried after about a second, not dropped."""
    mem = memory(user(), "the plumber should look at the leak before the guests arrive")
    fake.fail(429, retry_after=1)
    fake.reply({"intent": "task", "text": "leak", "date": None, "time": None, "confidence": 0.9})
    job = run("classify", mem, settle)
    assert (job.status, job.attempts, job.result["source"]) == (JobStatus.COMPLETED, 2, "llm")


def test_the_model_never_overrides_a_date_the_parser_read():
    """The parser's explicit moment stands; the model only changes the intent."""
    now = dt.datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)
    parsed = parse_message("dentist on december 3 at 14:30", now, "Europe/Berlin", dt.time(9, 0))
    answer = ModelClassification(
        intent="reminder", text="dentist", date="2026-12-04", time="08:00", confidence=1
    )
    merged = merge(parsed, answer, BERLIN, dt.time(9, 0))
    assert merged.when == parsed.when
    assert merged.when.astimezone(BERLIN).replace(tzinfo=None) == dt.datetime(2026, 12, 3, 14, 30)
    assert merged.intent == Intent.REMINDER


def test_the_model_fills_a_date_the_parser_could_not_read():
    """Where the parser found no moment, the model's local parts become an instant here."""
    now = dt.datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)
    parsed = parse_message(
        "remind me about the thing with Anna", now, "Europe/Berlin", dt.time(9, 0)
    )
    assert parsed.when is None
    answer = ModelClassification(
        intent="reminder", text="the thing with Anna", date="2026-12-24", time=None, confidence=0.6
    )
    merged = merge(parsed, answer, BERLIN, dt.time(9, 0))
    assert merged.when == dt.datetime(2026, 12, 24, 9, 0, tzinfo=BERLIN)
    assert merged.all_day is True and merged.next == [merged.when]


def test_local_parts_respect_daylight_saving():
    """A skipped local time moves forward by the gap; an impossible date is no moment."""
    assert local_instant("2026-03-29", "02:30", BERLIN).isoformat() == "2026-03-29T03:30:00+02:00"
    assert local_instant("2026-10-25", "02:30", BERLIN).utcoffset() == dt.timedelta(hours=2)
    assert local_instant("2026-02-30", "09:00", BERLIN) is None
    assert local_instant("2026-02-10", "25:00", BERLIN) is None


# --- match_task ----------------------------------------------------------------------------


def test_match_task_offers_only_the_owners_open_tasks(settle):
    """Another user's identical task, and done tasks, are never candidates."""
    me, other = user(1), user(2)
    mine = Task.create(owner=me, description="buy milk")
    Task.create(owner=me, description="buy milk powder", state=TaskState.DONE)
    Task.create(owner=other, description="buy milk")
    job = run("match_task", memory(me, "I bought the milk"), settle)

    assert [c["task_id"] for c in job.result["candidates"]] == [mine.id]
    assert job.result["chosen"] == mine.id
    assert Task.get_by_id(mine.id).state == TaskState.NOT_DONE  # a question, never silent


def test_match_task_lets_the_model_choose_among_candidates_only(settle, with_model, fake):
    """With several candidates the model picks one; an id it makes up counts as no choice."""
    me = user(1)
    oat = Task.create(owner=me, description="buy oat milk")
    Task.create(owner=me, description="buy milk")
    fake.reply({"task_id": oat.id, "confidence": 0.9})
    chosen = run("match_task", memory(me, "bought the oat milk"), settle)
    assert chosen.result["chosen"] == oat.id and chosen.result["source"] == "llm"

    fake.reply({"task_id": 999_999, "confidence": 1.0})
    made_up = run("match_task", memory(me, "I bought milk"), settle)
    assert made_up.result["chosen"] is None
    assert len(made_up.result["candidates"]) == 2


# --- search --------------------------------------------------------------------------------


def test_search_finds_the_owners_memories_and_events_only(settle):
    """Offline, search returns the owner's hits and nobody else's."""
    me, other = user(1), user(2)
    wifi = memory(me, "the wifi password is hunter2")
    memory(other, "the wifi password is correcthorse")
    event = Event.create(
        owner=me, description="wifi router installation", source_type=EventSource.MANUAL
    )
    index_event(event)
    job = run("search", memory(me, "what's the wifi password?"), settle, query="wifi")

    found = {(h["kind"], h["id"]) for h in job.result["hits"]}
    assert ("memory", wifi.id) in found and ("event", event.id) in found
    assert all(
        Memory.get_or_none(Memory.id == h["id"]) is None
        or Memory.get_by_id(h["id"]).owner_id == me.id
        for h in job.result["hits"]
        if h["kind"] == "memory"
    )
    assert job.result["answer"] is None


def test_search_answer_cites_only_memories_it_was_shown(settle, with_model, fake):
    """The model sees only the owner's hits; citations outside them are dropped."""
    me, other = user(1), user(2)
    wifi = memory(me, "the wifi password is hunter2")
    secret = memory(other, "the wifi password is correcthorse")
    fake.reply({"answer": "It is hunter2.", "cited": [wifi.id, secret.id]})
    job = run("search", memory(me, "what's the wifi password?"), settle, query="wifi password")

    assert job.result["answer"] == "It is hunter2."
    assert job.result["cited"] == [wifi.id]
    shown = fake.user_messages()[0]
    assert "hunter2" in shown and "correcthorse" not in shown
