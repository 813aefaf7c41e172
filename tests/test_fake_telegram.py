"""The fake Bot API server, driven by the real pyTelegramBotAPI client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import telebot
from telebot import apihelper, types
from telebot.apihelper import ApiHTTPException, ApiTelegramException

from tests.fake_telegram import MAX_DOWNLOAD_BYTES, FakeTelegram, RateLimiter

CHAT = 5001
OTHER_CHAT = 5002
GROUP = -100777


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        monkeypatch.setattr(apihelper, "API_URL", server.api_url)
        monkeypatch.setattr(apihelper, "FILE_URL", server.file_url)
        # the client sends its default (10 s) for long_polling_timeout=0; 0 must mean 0 here
        monkeypatch.setattr(apihelper, "LONG_POLLING_TIMEOUT", 0)
        server.register_chat(CHAT)
        yield server


@pytest.fixture
def bot(fake: FakeTelegram) -> telebot.TeleBot:
    return telebot.TeleBot(fake.token, threaded=False)


def _keyboard(*pairs: tuple[str, str]) -> types.InlineKeyboardMarkup:
    markup = types.InlineKeyboardMarkup()
    markup.row(*(types.InlineKeyboardButton(text, callback_data=data) for text, data in pairs))
    return markup


def _error(call) -> ApiTelegramException:
    with pytest.raises(ApiTelegramException) as caught:
        call()
    return caught.value


# --- the basics -----------------------------------------------------------------------------


def test_get_me_answers_the_bot_behind_the_token(bot: telebot.TeleBot, fake: FakeTelegram):
    me = bot.get_me()

    assert me.is_bot
    assert me.id == int(fake.token.split(":")[0])


def test_a_wrong_token_is_unauthorized(fake: FakeTelegram):
    error = _error(telebot.TeleBot("1:wrong", threaded=False).get_me)

    assert error.error_code == 401


def test_send_message_records_the_decoded_keyboard(bot: telebot.TeleBot, fake: FakeTelegram):
    message = bot.send_message(CHAT, "Saved.", reply_markup=_keyboard(("Pin", "pin:1")))

    sent = fake.wait_for_sent(lambda s: s.text == "Saved.")
    assert sent.chat_id == CHAT and sent.message_id == message.message_id
    assert sent.reply_markup == {"inline_keyboard": [[{"text": "Pin", "callback_data": "pin:1"}]]}
    assert message.reply_markup.keyboard[0][0].callback_data == "pin:1"


def test_replies_need_the_replied_message(bot: telebot.TeleBot, fake: FakeTelegram):
    fake.push_message(CHAT, "hello")
    incoming = bot.get_updates(timeout=5, long_polling_timeout=0)[0].message

    reply = bot.reply_to(incoming, "hi")
    error = _error(
        lambda: bot.send_message(
            CHAT, "x", reply_parameters=types.ReplyParameters(message_id=999_999)
        )
    )

    assert reply.reply_to_message.message_id == incoming.message_id
    assert fake.messages_to(CHAT)[-1].reply_to_message_id == incoming.message_id
    assert error.description == "Bad Request: message to be replied not found"


def test_edit_text_then_edit_again_unchanged_is_not_modified(bot: telebot.TeleBot, fake):
    first = bot.send_message(CHAT, "Remind at 9?", reply_markup=_keyboard(("Yes", "y")))

    edited = bot.edit_message_text("Reminder set for 09:00.", CHAT, first.message_id)
    error = _error(lambda: bot.edit_message_text("Reminder set for 09:00.", CHAT, first.message_id))

    assert edited.text == "Reminder set for 09:00."
    assert edited.reply_markup is None  # an edit without reply_markup drops the keyboard
    assert [s.method for s in fake.sent] == ["sendMessage", "editMessageText"]
    assert "message is not modified" in error.description


def test_edit_reply_markup_and_delete(bot: telebot.TeleBot, fake: FakeTelegram):
    message = bot.send_message(CHAT, "Pick one", reply_markup=_keyboard(("A", "a")))

    bot.edit_message_reply_markup(CHAT, message.message_id, reply_markup=_keyboard(("B", "b")))
    bot.delete_message(CHAT, message.message_id)
    error = _error(lambda: bot.delete_message(CHAT, message.message_id))

    assert fake.sent[1].reply_markup["inline_keyboard"][0][0]["callback_data"] == "b"
    assert fake.message(CHAT, message.message_id) is None
    assert error.description == "Bad Request: message to delete not found"


def test_callback_answers_are_recorded_once(bot: telebot.TeleBot, fake: FakeTelegram):
    message = bot.send_message(CHAT, "Mark 'buy milk' as done?", reply_markup=_keyboard(("Y", "y")))
    fake.push_callback(CHAT, "y", message.message_id)
    query = bot.get_updates(timeout=5, long_polling_timeout=0)[0].callback_query

    bot.answer_callback_query(query.id, "Done")
    error = _error(lambda: bot.answer_callback_query(query.id, "again"))

    assert query.data == "y" and query.message.text == "Mark 'buy milk' as done?"
    assert [a["text"] for a in fake.callback_answers] == ["Done"]
    assert error.error_code == 400


def test_callback_data_over_64_bytes_is_refused(bot: telebot.TeleBot):
    error = _error(lambda: bot.send_message(CHAT, "x", reply_markup=_keyboard(("A", "a" * 65))))

    assert error.description == "Bad Request: BUTTON_DATA_INVALID"


def test_commands_and_webhook_are_stored(bot: telebot.TeleBot, fake: FakeTelegram):
    bot.set_my_commands([types.BotCommand("tasks", "Open tasks")])
    bot.set_webhook("https://example.org/hook", secret_token="s3cret")

    assert [c.command for c in bot.get_my_commands()] == ["tasks"]
    assert fake.commands == [{"command": "tasks", "description": "Open tasks"}]
    assert bot.get_webhook_info().url == "https://example.org/hook"
    assert fake.webhook.secret_token == "s3cret"
    assert _error(lambda: bot.get_updates(long_polling_timeout=0)).error_code == 409
    bot.delete_webhook()
    assert fake.webhook.url == ""


def test_send_photo_upload_and_chat_action(bot: telebot.TeleBot, fake: FakeTelegram):
    bot.send_chat_action(CHAT, "upload_photo")
    message = bot.send_photo(CHAT, b"\x89PNG\r\n\x1a\n fake bytes", caption="Receipt")
    again = bot.send_photo(CHAT, message.photo[0].file_id)

    assert fake.chat_actions == [(CHAT, "upload_photo")]
    assert message.caption == "Receipt" and fake.sent[0].caption == "Receipt"
    assert bot.download_file(bot.get_file(again.photo[0].file_id).file_path).startswith(b"\x89PNG")


def test_send_document_keeps_its_file_name(bot: telebot.TeleBot, fake: FakeTelegram):
    message = bot.send_document(CHAT, b'{"memories": []}', visible_file_name="export.json")

    assert message.document.file_name == "export.json"
    assert fake.messages_to(CHAT)[0].method == "sendDocument"


# --- updates --------------------------------------------------------------------------------


def test_long_poll_returns_promptly_when_an_update_arrives(bot: telebot.TeleBot, fake):
    threading.Timer(0.2, fake.push_message, (CHAT, "remind me at 9")).start()
    started = time.monotonic()

    updates = bot.get_updates(timeout=15, long_polling_timeout=10)

    assert [u.message.text for u in updates] == ["remind me at 9"]
    assert time.monotonic() - started < 5


def test_long_poll_returns_nothing_after_its_timeout(bot: telebot.TeleBot):
    started = time.monotonic()

    assert bot.get_updates(timeout=10, long_polling_timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 5


def test_offset_confirms_and_drops_earlier_updates(bot: telebot.TeleBot, fake: FakeTelegram):
    ids = [fake.push_message(CHAT, text) for text in ("one", "two", "three")]

    first = bot.get_updates(limit=2, long_polling_timeout=0)
    again = bot.get_updates(long_polling_timeout=0)
    rest = bot.get_updates(offset=first[-1].update_id + 1, long_polling_timeout=0)
    bot.get_updates(offset=rest[-1].update_id + 1, long_polling_timeout=0)

    assert [u.update_id for u in first] == ids[:2]
    assert [u.update_id for u in again] == ids  # unconfirmed updates come back
    assert [u.update_id for u in rest] == ids[2:]
    assert fake.pending_update_ids() == []


def test_commands_arrive_with_a_bot_command_entity(bot: telebot.TeleBot, fake):
    fake.push_message(CHAT, "/start now")

    message = bot.get_updates(long_polling_timeout=0)[0].message

    assert message.entities[0].type == "bot_command" and message.entities[0].length == 6


def test_allowed_updates_filters_types(bot: telebot.TeleBot, fake: FakeTelegram):
    fake.push_message(CHAT, "text")
    fake.push_callback(CHAT, "data", message_id=1)

    updates = bot.get_updates(allowed_updates=["callback_query"], long_polling_timeout=0)

    assert [u.callback_query.data for u in updates] == ["data"]


def test_deliver_webhook_sends_the_secret_header(fake: FakeTelegram):
    seen: list[tuple[str | None, dict]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), body))
            self.send_response(200 if seen[-1][0] == "s3cret" else 403)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        good = fake.deliver_webhook(url, {"message": {"text": "hi"}}, secret_token="s3cret")
        bad = fake.deliver_webhook(url, {"message": {"text": "hi"}})
    finally:
        server.shutdown()
        server.server_close()

    assert (good, bad) == (200, 403)
    assert seen[0][1]["update_id"] < seen[1][1]["update_id"]


# --- files ----------------------------------------------------------------------------------


def test_get_file_and_download(bot: telebot.TeleBot, fake: FakeTelegram):
    fake.add_file("photo-1", b"jpeg bytes", file_path="photos/file_1.jpg")

    file = bot.get_file("photo-1")

    assert (file.file_path, file.file_size) == ("photos/file_1.jpg", 10)
    assert bot.download_file(file.file_path) == b"jpeg bytes"


def test_files_over_20_mb_are_too_big(bot: telebot.TeleBot, fake: FakeTelegram):
    fake.add_file("big", b"\0" * (MAX_DOWNLOAD_BYTES + 1))

    assert _error(lambda: bot.get_file("big")).description == "Bad Request: file is too big"


def test_a_path_downloads_only_after_get_file(bot: telebot.TeleBot, fake: FakeTelegram):
    fake.add_file("doc-1", b"x", file_path="documents/a.pdf")

    with pytest.raises(ApiHTTPException):
        bot.download_file("documents/a.pdf")


# --- Telegram's rules -----------------------------------------------------------------------


def test_text_limits(bot: telebot.TeleBot):
    bot.send_message(CHAT, "x" * 4096)

    too_long = _error(lambda: bot.send_message(CHAT, "x" * 4097))
    empty = _error(lambda: bot.send_message(CHAT, " "))

    assert (too_long.error_code, too_long.description) == (400, "Bad Request: message is too long")
    assert empty.description == "Bad Request: message text is empty"


def test_html_length_counts_visible_characters(bot: telebot.TeleBot, fake: FakeTelegram):
    bot.send_message(CHAT, "<b>" + "&amp;" * 4096 + "</b>", parse_mode="HTML")

    assert fake.sent[0].parse_mode == "HTML"
    assert (
        _error(lambda: bot.send_message(CHAT, "&lt;" * 4097, parse_mode="HTML")).error_code == 400
    )


def test_caption_limit(bot: telebot.TeleBot):
    error = _error(lambda: bot.send_photo(CHAT, b"img", caption="c" * 1025))

    assert error.description == "Bad Request: message caption is too long"


@pytest.mark.parametrize(
    "text",
    ["<b>open", "<b>x</i>", "x</b>", "<div>x</div>", "I <3 you", "<span>x</span>", "<a>x</a>"],
)
def test_malformed_html_cannot_be_parsed(bot: telebot.TeleBot, text: str):
    error = _error(lambda: bot.send_message(CHAT, text, parse_mode="HTML"))

    assert error.description.startswith("Bad Request: can't parse entities")


def test_supported_html_is_accepted(bot: telebot.TeleBot):
    text = (
        '<b>Dentist</b> <i>Tue</i> <a href="https://x.org">map</a> <code>id</code> '
        '<span class="tg-spoiler">s</span> <tg-spoiler>t</tg-spoiler> <blockquote>q</blockquote>'
        ' 2 &lt; 3 &amp; <pre><code class="language-python">x</code></pre>'
    )

    message = bot.send_message(CHAT, text, parse_mode="HTML")

    assert message.text.startswith("Dentist Tue map id s t q 2 < 3 &")


def test_unknown_and_blocked_chats(bot: telebot.TeleBot, fake: FakeTelegram):
    fake.block(OTHER_CHAT)

    unknown = _error(lambda: bot.send_message(424242, "hi"))
    blocked = _error(lambda: bot.send_message(OTHER_CHAT, "hi"))

    assert (unknown.error_code, unknown.description) == (400, "Bad Request: chat not found")
    assert (blocked.error_code, blocked.description) == (
        403,
        "Forbidden: bot was blocked by the user",
    )


# --- flood control and faults ---------------------------------------------------------------


def test_private_chat_burst_then_429_with_retry_after(bot: telebot.TeleBot, fake):
    for n in range(3):
        bot.send_message(CHAT, f"burst {n}")

    error = _error(lambda: bot.send_message(CHAT, "one too many"))

    assert error.error_code == 429
    assert error.result_json["parameters"]["retry_after"] >= 1
    assert fake.count_429 == 1 and len(fake.sent) == 3


def test_limits_can_be_switched_off(bot: telebot.TeleBot, fake: FakeTelegram):
    fake.limits_enabled = False

    for n in range(10):
        bot.send_message(CHAT, f"m{n}")

    assert len(fake.messages_to(CHAT)) == 10 and fake.count_429 == 0


def test_global_limit_spans_chats(monkeypatch: pytest.MonkeyPatch):
    with FakeTelegram(clock=lambda: 0.0) as frozen:  # no refill while the requests run
        monkeypatch.setattr(apihelper, "API_URL", frozen.api_url)
        bot = telebot.TeleBot(frozen.token, threaded=False)
        for chat in range(1, 32):
            frozen.register_chat(chat)
        for chat in range(1, 31):
            bot.send_message(chat, "hi")

        error = _error(lambda: bot.send_message(31, "hi"))

    assert error.error_code == 429 and frozen.count_429 == 1


def test_rate_limiter_refills_and_limits_groups():
    now = [0.0]
    limiter = RateLimiter(group_per_minute=20, clock=lambda: now[0])

    group_results = [limiter.acquire(GROUP) for _ in range(21)]
    private_results = [limiter.acquire(CHAT) for _ in range(4)]
    now[0] += 1.0

    assert group_results[:20] == [None] * 20 and group_results[20] == 3  # 60 s / 20
    assert private_results[:3] == [None] * 3 and private_results[3] == 1
    assert limiter.acquire(CHAT) is None


def test_fail_next_500_once_then_succeeds(bot: telebot.TeleBot, fake: FakeTelegram):
    fake.fail_next("sendMessage", 500)

    error = _error(lambda: bot.send_message(CHAT, "first try"))
    bot.send_message(CHAT, "second try")

    assert error.error_code == 500
    assert [s.text for s in fake.sent] == ["second try"]


def test_fail_next_429_and_502(bot: telebot.TeleBot, fake: FakeTelegram):
    fake.fail_next("sendMessage", 429, retry_after=7)
    fake.fail_next("getMe", 502)

    throttled = _error(lambda: bot.send_message(CHAT, "x"))
    with pytest.raises(ApiHTTPException):  # a gateway error answers HTML, not JSON
        bot.get_me()

    assert throttled.result_json["parameters"] == {"retry_after": 7}
    assert fake.count_429 == 1


def test_delay_next_makes_the_client_time_out_but_the_message_is_sent(bot, fake):
    fake.delay_next("sendMessage", 3)

    with pytest.raises(requests.exceptions.ReadTimeout):
        bot.send_message(CHAT, "slow", timeout=0.3)

    assert fake.wait_for_sent(1)[0].text == "slow"


def test_chaos_fails_some_calls_reproducibly(bot: telebot.TeleBot, fake: FakeTelegram):
    fake.chaos(p_5xx=0.3, p_429=0.2, seed=7)

    outcomes = []
    for _ in range(40):
        try:
            bot.get_me()
            outcomes.append(200)
        except ApiTelegramException as exc:
            outcomes.append(exc.error_code)
        except ApiHTTPException:
            outcomes.append(502)

    assert {200, 429}.issubset(outcomes) and {500, 502} & set(outcomes)
    assert fake.count_429 == outcomes.count(429)
    assert [c.status for c in fake.calls] == outcomes


def test_many_threads_send_at_once(bot: telebot.TeleBot, fake: FakeTelegram):
    fake.limits_enabled = False
    chats = range(10, 18)
    for chat in chats:
        fake.register_chat(chat)

    def send(chat: int) -> None:
        for n in range(10):
            bot.send_message(chat, f"{chat}:{n}")

    threads = [threading.Thread(target=send, args=(chat,)) for chat in chats]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(fake.wait_for_sent(80)) == 80
    assert len({s.message_id for s in fake.sent}) == 80


def test_uploads_round_trip_byte_for_byte(bot: telebot.TeleBot):
    data = bytes(range(256)) * 40 + b"\r\n--boundary\r\n\r\n"

    message = bot.send_document(CHAT, data, visible_file_name="blob.bin")

    assert bot.download_file(bot.get_file(message.document.file_id).file_path) == data


@pytest.mark.parametrize("body", ["json", "data"])
def test_json_and_form_bodies_are_read_too(fake: FakeTelegram, body: str):
    url = fake.api_url.format(fake.token, "sendMessage")
    params = {"chat_id": CHAT, "text": "<b>hi</b>", "parse_mode": "HTML"}
    if body == "json":
        params["reply_markup"] = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    else:
        params["reply_markup"] = '{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}'

    answer = requests.post(url, **{body: params}, timeout=5).json()

    assert answer["ok"] and answer["result"]["text"] == "hi"
    assert fake.sent[0].reply_markup["inline_keyboard"][0][0]["callback_data"] == "a"


def test_a_second_poller_terminates_the_first(fake: FakeTelegram):
    first_bot, second_bot = (telebot.TeleBot(fake.token, threaded=False) for _ in range(2))
    outcome: list[object] = []

    def poll() -> None:
        try:
            outcome.append(first_bot.get_updates(timeout=15, long_polling_timeout=10))
        except ApiTelegramException as exc:
            outcome.append(exc.error_code)

    poller = threading.Thread(target=poll)
    poller.start()
    fake.wait_until(lambda: fake.polling, what="the first poll to park")
    second_bot.get_updates(long_polling_timeout=0)
    poller.join(timeout=5)

    assert outcome == [409]
