"""The webhook server: Telegram's POSTs checked, accepted or refused with the right status."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from lifeorg import runtime
from lifeorg.bot import webhook
from lifeorg.database import build_database
from lifeorg.models import Job, Memory, ProcessedUpdate, RefusedUser
from lifeorg.models.base import db
from lifeorg.telegram import TelegramClient
from tests.fake_telegram import FakeTelegram
from tests.test_cli import lifeorg

ME, STRANGER = 111, 999
SECRET = "s3cret_Token-42"
# Nothing listens on port 1: connecting fails at once, as with a database that is down.
UNREACHABLE_DATABASE = "postgresql://lifeorg@127.0.0.1:1/lifeorg"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def client(fake: FakeTelegram) -> TelegramClient:
    return TelegramClient(fake.token, api_url=fake.base_url)


@pytest.fixture
def server(client: TelegramClient, settle, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The webhook server on a free loopback port, for ME, replying through the fake; its URL."""
    rt = runtime.current()
    monkeypatch.setattr(rt.settings, "allowed_users", [ME])
    monkeypatch.setattr(rt.settings, "webhook_secret", SecretStr(SECRET))
    monkeypatch.setitem(rt.__dict__, "messenger", client)
    httpd = webhook.make_server(rt.settings, client, host="127.0.0.1", port=0)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    settle()  # nothing may be left in flight when the workers stop


class Outage:
    """Points the models at a database nobody answers, and back."""

    def __init__(self) -> None:
        self.working = None

    def begin(self) -> None:
        self.working = db.obj
        db.initialize(build_database(UNREACHABLE_DATABASE, 1))

    def end(self) -> None:
        if self.working is not None:
            db.initialize(self.working)
            self.working = None


@pytest.fixture
def outage() -> Iterator[Outage]:
    outage = Outage()
    yield outage
    outage.end()


def message(text: str, user: int = ME, message_id: int = 1) -> dict:
    return {
        "message": {
            "message_id": message_id,
            "date": 0,
            "text": text,
            "from": {"id": user, "is_bot": False, "first_name": "Ann"},
            "chat": {"id": user, "type": "private"},
        }
    }


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_an_update_with_the_secret_is_queued_and_answered(server, fake, settle):
    """The right secret gets 200; the update is filed and answered through Telegram."""
    status = fake.deliver_webhook(
        f"{server}/telegram", message("the wifi password is hunter2"), SECRET
    )
    settle()

    assert status == 200
    assert Memory.get().content == "the wifi password is hunter2"
    assert fake.wait_for_sent(lambda sent: sent.chat_id == ME).text == "📝 Saved."


@pytest.mark.parametrize(("secret", "status"), [(None, 401), ("wrong", 403), (SECRET[:-1], 403)])
def test_a_missing_or_wrong_secret_stores_nothing(server, fake, caplog, secret, status):
    """Without the right secret the update is turned away and nothing is stored or logged."""
    with caplog.at_level("DEBUG"):
        answer = fake.deliver_webhook(f"{server}/telegram", message("let me in"), secret)

    assert answer == status
    assert Job.select().count() == 0 and ProcessedUpdate.select().count() == 0
    assert SECRET not in caplog.text and "let me in" not in caplog.text


def test_a_body_that_is_not_json_is_a_bad_request(server):
    """Garbage with the right secret is 400 and stores nothing."""
    headers = {webhook.SECRET_HEADER: SECRET, "Content-Type": "application/json"}

    assert post(f"{server}/telegram", b"{not json", headers) == 400
    assert Job.select().count() == 0


def test_an_oversized_body_is_refused_unread(server):
    """A body over the limit is 413 before any of it is read."""
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/telegram")
    connection.putheader(webhook.SECRET_HEADER, SECRET)
    connection.putheader("Content-Length", str(webhook.MAX_BODY_BYTES + 1))
    connection.endheaders()  # the body never comes: the answer must not wait for it

    assert connection.getresponse().status == 413
    connection.close()
    assert Job.select().count() == 0


def test_a_stranger_is_refused_once_with_200(server, fake, settle):
    """A stranger's updates are taken (200, so Telegram stops) and refused once."""
    for message_id in (1, 2):
        update = message("hello?", user=STRANGER, message_id=message_id)
        assert fake.deliver_webhook(f"{server}/telegram", update, SECRET) == 200
    settle()

    assert len(fake.messages_to(STRANGER)) == 1
    assert [r.telegram_user_id for r in RefusedUser.select()] == [STRANGER]
    assert Job.select().count() == 0


def test_a_database_outage_is_503_and_telegrams_retry_succeeds(server, fake, settle, outage):
    """When the job cannot be written Telegram gets 503; its retry later is taken once."""
    update = {"update_id": 500, **message("buy milk")}

    outage.begin()
    assert fake.deliver_webhook(f"{server}/telegram", update, SECRET) == 503
    outage.end()
    assert fake.deliver_webhook(f"{server}/telegram", update, SECRET) == 200
    assert fake.deliver_webhook(f"{server}/telegram", update, SECRET) == 200  # a duplicate
    settle()

    assert Memory.select().count() == 1
    assert Job.select().where(Job.kind == "ingest").count() == 1
    assert len(fake.messages_to(ME)) == 1


def test_health_reports_the_database(server, outage):
    """/healthz is 200 while the database answers and 503 when it does not."""
    assert get(f"{server}/healthz") == (200, {"ok": True, "database": "ok"})
    outage.begin()
    assert get(f"{server}/healthz") == (503, {"ok": False, "database": "unreachable"})


def test_other_paths_are_not_found(server):
    """Only /telegram takes updates and only /healthz answers a GET."""
    headers = {webhook.SECRET_HEADER: SECRET, "Content-Type": "application/json"}

    assert post(f"{server}/telegram/other", b"{}", headers) == 404
    assert get(f"{server}/")[0] == 404


# --- the command line -------------------------------------------------------------------------


def test_web_needs_a_secret(tmp_path: Path):
    """`lifeorg web` refuses to serve an unprotected webhook."""
    done = lifeorg(tmp_path, "web", TELEGRAM_BOT_TOKEN="1:abc", REDIS_URL="redis://127.0.0.1:1/0")

    assert done.returncode == 2
    assert "LIFEORG_WEBHOOK_SECRET is not set" in done.stderr


def test_set_webhook_registers_the_url_with_the_secret(tmp_path: Path, fake: FakeTelegram):
    """`lifeorg web --set-webhook` points Telegram at /telegram with the secret, then exits."""
    variables = {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "LIFEORG_TELEGRAM_API_URL": fake.base_url,
        "LIFEORG_WEBHOOK_SECRET": SECRET,
    }
    done = lifeorg(tmp_path, "web", "--set-webhook", "https://organiser.example.org/", **variables)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "webhook set to https://organiser.example.org/telegram"
    assert (fake.webhook.url, fake.webhook.secret_token) == (
        "https://organiser.example.org/telegram",
        SECRET,
    )
    assert fake.commands  # the menu is set in webhook mode too
    output = done.stdout + done.stderr
    assert SECRET not in output and fake.token not in output

    plain = lifeorg(tmp_path, "web", "--set-webhook", "http://organiser.example.org", **variables)
    assert plain.returncode == 2 and "https://" in plain.stderr
