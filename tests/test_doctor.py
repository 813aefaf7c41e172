"""`lifeorg doctor` checks every configured part: the Bot API, the model, each mailbox."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fake_llm import FakeLLM
from tests.fake_telegram import DEFAULT_TOKEN, FakeTelegram
from tests.test_cli import lifeorg, report_line


def test_doctor_checks_the_bot_token_the_model_and_each_mailbox(tmp_path: Path, imap_server):
    """With a token, a model and two mailboxes configured, each gets its own line; a wrong
    mailbox password fails that line only, and no secret is printed."""
    good = imap_server.new_account()
    mailboxes = [
        {
            "owner": 1,
            "host": imap_server.host,
            "port": imap_server.port,
            "username": good.user,
            "password": good.password,
            "security": "plain",
            "name": "home",
        },
        {
            "owner": 1,
            "host": imap_server.host,
            "port": imap_server.port,
            "username": good.user,
            "password": "wrong-password-123",
            "security": "plain",
            "name": "broken",
        },
    ]
    model = FakeLLM().start()
    model.reply({"ok": True})
    try:
        with FakeTelegram() as telegram:
            result = lifeorg(
                tmp_path,
                "doctor",
                TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN,
                LIFEORG_TELEGRAM_API_URL=telegram.base_url,
                LIFEORG_LLM_MODEL="openai/fake-model",
                LIFEORG_LLM_API_BASE=model.api_base,
                LIFEORG_LLM_API_KEY="sk-secret-key-456",
                LIFEORG_MAILBOXES=json.dumps(mailboxes),
            )
    finally:
        model.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # the broken mailbox
    assert report_line(result.stdout, "telegram").startswith("ok")
    assert report_line(result.stdout, "llm").startswith("ok")
    assert report_line(result.stdout, "mailbox").startswith("ok")  # "mailbox home"
    assert "home" in report_line(result.stdout, "mailbox")
    broken = next(line for line in result.stdout.splitlines() if "mailbox broken" in line)
    assert broken.startswith("FAIL") and "refused the login" in broken
    for secret in (DEFAULT_TOKEN, "sk-secret-key-456", "wrong-password-123", good.password):
        assert secret not in output


def test_doctor_fails_a_bad_bot_token_without_showing_it(tmp_path: Path):
    """A token the Bot API does not know fails the telegram line; the token stays hidden."""
    with FakeTelegram() as telegram:
        result = lifeorg(
            tmp_path,
            "doctor",
            TELEGRAM_BOT_TOKEN="999:not-the-token",
            LIFEORG_TELEGRAM_API_URL=telegram.base_url,
        )
    assert result.returncode == 1
    assert report_line(result.stdout, "telegram").startswith("FAIL")
    assert "not-the-token" not in result.stdout + result.stderr
