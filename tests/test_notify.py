"""Sending replies through the real pyTelegramBotAPI client to the fake Bot API."""

from __future__ import annotations

import pytest

from lifeorg import runtime
from lifeorg.models import Job, OutboxMessage, User
from lifeorg.models.states import JobStatus, OutboxStatus
from lifeorg.pacing import LocalStore, Pacer
from lifeorg.pipeline.outbox import say
from lifeorg.telegram import TelegramClient
from tests.fake_telegram import FakeTelegram

CHAT = 4242


@pytest.fixture
def fake():
    server = FakeTelegram().start()
    server.register_chat(CHAT)
    yield server
    server.stop()


@pytest.fixture
def telegram(fake, monkeypatch, messenger):
    """The runtime's messenger is our Telegram adapter, pointed at the fake."""
    client = TelegramClient(fake.token, api_url=fake.base_url)
    monkeypatch.setitem(runtime.current().__dict__, "messenger", client)
    monkeypatch.setitem(runtime.current().__dict__, "pacer", Pacer(LocalStore()))
    return client


@pytest.fixture
def user(database) -> User:
    return User.create(telegram_user_id=CHAT, chat_id=CHAT, timezone="UTC", default_time="09:00")


def outbox(key: str) -> OutboxMessage:
    return OutboxMessage.get(OutboxMessage.idempotency_key == key)


def test_a_reply_arrives_once_with_escaped_html_and_buttons(fake, telegram, user, settle):
    """User text with <, > and & is escaped; buttons arrive as an inline keyboard."""
    say(user, "You said: a &lt; b &amp; <b>bold</b>", [[("Pin", "pin:1:x:y")]], key="r1")
    say(user, "You said: a &lt; b &amp; <b>bold</b>", [[("Pin", "pin:1:x:y")]], key="r1")
    settle()

    sent = fake.messages_to(CHAT)
    assert len(sent) == 1
    assert sent[0].parse_mode == "HTML"
    assert sent[0].reply_markup["inline_keyboard"][0][0]["text"] == "Pin"
    row = outbox("r1")
    assert (row.status, row.telegram_message_id) == (OutboxStatus.SENT, sent[0].message_id)


def test_a_429_is_retried_after_retry_after(fake, telegram, user, settle):
    """Telegram's 429 delays the send by retry_after; it is then sent exactly once."""
    fake.fail_next("sendMessage", 429, retry_after=1)
    say(user, "hello", key="r429")
    settle(timeout=30)

    assert [m.text for m in fake.messages_to(CHAT)] == ["hello"]
    job = Job.get(Job.idempotency_key == "notify:r429")
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)


def test_server_errors_are_retried_with_backoff(fake, telegram, user, settle):
    """A 502 (nginx page) and a 500 are retried; the message arrives once."""
    fake.fail_next("sendMessage", 502)
    fake.fail_next("sendMessage", 500)
    say(user, "eventually", key="r5xx")
    settle(timeout=30)

    assert [m.text for m in fake.messages_to(CHAT)] == ["eventually"]
    assert Job.get(Job.idempotency_key == "notify:r5xx").attempts == 3


def test_a_blocked_bot_deactivates_the_user_and_retries_nothing(fake, telegram, user, settle):
    """403: the user becomes inactive, the row fails, and later replies are not attempted."""
    fake.block(CHAT)
    say(user, "are you there?", key="r403")
    settle()

    assert User.get_by_id(user.id).active is False
    assert outbox("r403").status == OutboxStatus.FAILED
    assert Job.get(Job.idempotency_key == "notify:r403").attempts == 1

    calls_before = len(fake.calls)
    say(User.get_by_id(user.id), "still there?", key="r403b")
    settle()
    assert outbox("r403b").status == OutboxStatus.FAILED
    assert len(fake.calls) == calls_before  # nothing sent to a user who blocked us


def test_a_bad_request_fails_without_retry(fake, telegram, user, settle):
    """A 400 (malformed HTML, say) is kept with its reason and not retried."""
    say(user, "<b>unclosed", key="r400")
    settle()

    row = outbox("r400")
    assert row.status == OutboxStatus.FAILED and "400" in row.last_error
    assert Job.get(Job.idempotency_key == "notify:r400").attempts == 1


def test_a_burst_to_one_chat_stays_within_telegrams_limits(fake, telegram, user, settle):
    """Ten replies to one chat go out paced: no 429 from the (rate-limiting) fake."""
    for i in range(10):
        say(user, f"reply {i}", key=f"burst{i}")
    settle(timeout=60)

    assert sorted(m.text for m in fake.messages_to(CHAT)) == sorted(f"reply {i}" for i in range(10))
    assert fake.count_429 == 0
    times = sorted(m.time for m in fake.messages_to(CHAT))
    assert times[-1] - times[0] >= 5  # 3 at once, then about one a second


def test_a_photo_is_downloaded_through_get_file(fake, telegram):
    """getFile then the file URL give the photo's bytes."""
    fake.add_file("photo-1", b"\xff\xd8\xff fake jpeg bytes")
    assert telegram.download("photo-1") == b"\xff\xd8\xff fake jpeg bytes"


def test_a_file_over_20_mb_is_refused_clearly(fake, telegram):
    """Telegram's getFile limit becomes TelegramFileTooBig, a permanent bad request."""
    from lifeorg.telegram import TelegramBadRequest, TelegramFileTooBig

    fake.add_file("huge", b"x" * (20 * 1024 * 1024 + 1))
    with pytest.raises(TelegramFileTooBig, match="20 MB") as caught:
        telegram.download("huge")
    assert isinstance(caught.value, TelegramBadRequest)


def test_a_worker_lost_after_the_send_does_not_send_again(
    fake, telegram, user, settle, monkeypatch
):
    """The send is recorded the moment Telegram accepts it: when the step then fails (a
    worker killed before its commit, here an error), the retry sends nothing more."""
    from lifeorg.pipeline import outbox as outbox_module

    calls = {"n": 0}
    real = outbox_module.submit_next

    def fail_once(row):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker lost before the commit")
        return real(row)

    monkeypatch.setattr(outbox_module, "submit_next", fail_once)
    say(user, "only once, please", key="once")
    settle()
    assert [m.text for m in fake.messages_to(CHAT)] == ["only once, please"]
    job = Job.get(Job.idempotency_key == "notify:once")
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)
    assert outbox("once").status == OutboxStatus.SENT
