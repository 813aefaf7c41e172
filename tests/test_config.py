"""Settings: laptop defaults, platform variables, .env files and errors that name the fix."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from lifeorg.config import Settings, load_settings
from lifeorg.errors import ConfigError
from tests.conftest import PLATFORM_VARIABLES

SECRET = "s3cret"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts from an environment with none of our variables, in an empty dir."""
    for name in list(os.environ):
        if name in PLATFORM_VARIABLES or name.upper().startswith("LIFEORG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def config_error(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    """Set the variables and return the message of the ConfigError that loading raises."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    return str(caught.value)


# --- defaults -----------------------------------------------------------------------------


def test_defaults_give_the_laptop_setup() -> None:
    """Given no configuration, the settings describe SQLite under data/ and no broker."""
    settings = Settings(_env_file=None)

    assert settings.database_url == "sqlite:///data/lifeorg.db"
    assert settings.data_dir == Path("data")
    assert settings.images_path == Path("data/images")
    assert settings.backups_path == Path("data/backups")
    assert settings.redis_url is None
    assert settings.queue_url is None
    assert settings.timezone == "UTC"
    assert settings.port == 8000
    assert settings.telegram_bot_token is None


def test_default_reminder_time_is_nine_in_the_morning() -> None:
    """Given no configuration, a date without a time means 09:00."""
    settings = load_settings(_env_file=None)

    assert settings.default_reminder_time == "09:00"
    assert settings.default_time == dt.time(9, 0)


# --- environment variables ----------------------------------------------------------------


def test_platform_variables_are_read_unprefixed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the variables a PaaS sets, the settings use them as they are named there."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pw@db.internal:5432/app")
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    monkeypatch.setenv("PORT", "5001")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:ABC-token")

    settings = load_settings(_env_file=None)

    assert settings.database_url == "postgresql://app:pw@db.internal:5432/app"
    assert settings.redis_url == "redis://cache.internal:6379/0"
    assert settings.queue_url == "redis://cache.internal:6379/0"
    assert settings.port == 5001
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == "123456:ABC-token"


def test_platform_variables_are_also_read_with_the_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given LIFEORG_-prefixed forms of the platform variables, the settings use them too."""
    monkeypatch.setenv("LIFEORG_DATABASE_URL", "postgresql://app@db/app")
    monkeypatch.setenv("LIFEORG_PORT", "5002")

    settings = load_settings(_env_file=None)

    assert settings.database_url == "postgresql://app@db/app"
    assert settings.port == 5002


def test_everything_else_is_read_with_the_lifeorg_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given LIFEORG_ variables, each one sets its field."""
    monkeypatch.setenv("LIFEORG_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("LIFEORG_DEFAULT_REMINDER_TIME", "07:30")
    monkeypatch.setenv("LIFEORG_DATA_DIR", "/srv/lifeorg")
    monkeypatch.setenv("LIFEORG_WORKER_THREADS", "3")
    monkeypatch.setenv("LIFEORG_LOG_LEVEL", "DEBUG")

    settings = load_settings(_env_file=None)

    assert settings.timezone == "Europe/Berlin"
    assert settings.default_time == dt.time(7, 30)
    assert settings.data_dir == Path("/srv/lifeorg")
    assert settings.images_path == Path("/srv/lifeorg/images")
    assert settings.worker_threads == 3
    assert settings.log_level == "DEBUG"


def test_unprefixed_names_of_other_settings_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a bare TIMEZONE (some other program's variable), the settings keep their default."""
    monkeypatch.setenv("TIMEZONE", "Europe/Berlin")

    assert load_settings(_env_file=None).timezone == "UTC"


def test_heroku_style_postgres_url_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given DATABASE_URL=postgres://... (as Heroku and Dokku write it), loading succeeds."""
    monkeypatch.setenv("DATABASE_URL", "postgres://app:pw@db.internal:5432/app")

    assert load_settings(_env_file=None).database_url.startswith("postgres://")


def test_broker_url_wins_over_redis_url_for_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given both REDIS_URL and LIFEORG_BROKER_URL=amqp://, the queue uses RabbitMQ."""
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    monkeypatch.setenv("LIFEORG_BROKER_URL", "amqp://guest:guest@rabbit.internal:5672/")

    settings = load_settings(_env_file=None)

    assert settings.queue_url == "amqp://guest:guest@rabbit.internal:5672/"
    assert settings.redis_url == "redis://cache.internal:6379/0"


def test_empty_redis_url_means_no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given REDIS_URL set but empty, the in-process broker is used."""
    monkeypatch.setenv("REDIS_URL", "")

    assert load_settings(_env_file=None).queue_url is None


# --- .env ---------------------------------------------------------------------------------


def test_dotenv_in_the_working_directory_is_read(tmp_path: Path) -> None:
    """Given a .env file in the working directory, its values are used."""
    (tmp_path / ".env").write_text(
        "DATABASE_URL=postgresql://app@db/app\n"
        "LIFEORG_TIMEZONE=Europe/Lisbon\n"
        "LIFEORG_DEFAULT_REMINDER_TIME=08:15\n",
        encoding="utf-8",
    )

    settings = load_settings()

    assert settings.database_url == "postgresql://app@db/app"
    assert settings.timezone == "Europe/Lisbon"
    assert settings.default_time == dt.time(8, 15)


def test_environment_beats_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Given a variable both in .env and in the environment, the environment wins."""
    (tmp_path / ".env").write_text("LIFEORG_TIMEZONE=Europe/Lisbon\n", encoding="utf-8")
    monkeypatch.setenv("LIFEORG_TIMEZONE", "Asia/Tokyo")

    assert load_settings().timezone == "Asia/Tokyo"


def test_invalid_value_in_dotenv_is_reported(tmp_path: Path) -> None:
    """Given a bad value in .env, loading raises ConfigError naming the variable."""
    (tmp_path / ".env").write_text("LIFEORG_TIMEZONE=Mars/Base\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="LIFEORG_TIMEZONE"):
        load_settings()


# --- errors -------------------------------------------------------------------------------


def test_unknown_time_zone_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given LIFEORG_TIMEZONE=Mars/Base, the error names LIFEORG_TIMEZONE and the value."""
    message = config_error(monkeypatch, LIFEORG_TIMEZONE="Mars/Base")

    assert "LIFEORG_TIMEZONE" in message
    assert "Mars/Base" in message


def test_unsupported_database_names_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a MySQL DATABASE_URL, the error names DATABASE_URL."""
    message = config_error(monkeypatch, DATABASE_URL="mysql://app@db/app")

    assert "DATABASE_URL" in message
    assert "LIFEORG_DATABASE_URL" not in message


@pytest.mark.parametrize("value", ["25:00", "9am", "09:60", "9:00"])
def test_malformed_reminder_time_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Given a reminder time that is not HH:MM, the error names LIFEORG_DEFAULT_REMINDER_TIME."""
    message = config_error(monkeypatch, LIFEORG_DEFAULT_REMINDER_TIME=value)

    assert "LIFEORG_DEFAULT_REMINDER_TIME" in message
    assert repr(value) in message


@pytest.mark.parametrize("value", ["0", "65536", "http"])
def test_port_out_of_range_names_port(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """Given PORT outside 1-65535 (or not a number), the error names PORT."""
    message = config_error(monkeypatch, PORT=value)

    assert "PORT:" in message
    assert "LIFEORG_PORT" not in message


def test_redis_url_with_wrong_scheme_names_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given REDIS_URL=http://..., the error names REDIS_URL."""
    message = config_error(monkeypatch, REDIS_URL="http://cache.internal:6379")

    assert "REDIS_URL" in message
    assert "redis://" in message


def test_broker_url_with_wrong_scheme_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given LIFEORG_BROKER_URL=kafka://..., the error names LIFEORG_BROKER_URL."""
    message = config_error(monkeypatch, LIFEORG_BROKER_URL="kafka://bus.internal:9092")

    assert "LIFEORG_BROKER_URL" in message


def test_every_problem_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given several bad variables, one error lists each of them on its own line."""
    message = config_error(
        monkeypatch,
        LIFEORG_TIMEZONE="Mars/Base",
        DATABASE_URL="mysql://app@db/app",
        LIFEORG_DEFAULT_REMINDER_TIME="25:00",
        PORT="70000",
        REDIS_URL="http://cache.internal",
    )

    problems = message.splitlines()[1:]
    named = {line.strip().split(":", 1)[0] for line in problems}
    assert named == {
        "LIFEORG_TIMEZONE",
        "DATABASE_URL",
        "LIFEORG_DEFAULT_REMINDER_TIME",
        "PORT",
        "REDIS_URL",
    }


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("DATABASE_URL", f"mysql://bob:{SECRET}@db.internal/app"),
        ("REDIS_URL", f"http://:{SECRET}@cache.internal:6379"),
        ("LIFEORG_BROKER_URL", f"kafka://bob:{SECRET}@bus.internal:9092"),
    ],
)
def test_password_in_a_bad_url_is_never_shown(
    monkeypatch: pytest.MonkeyPatch, variable: str, url: str
) -> None:
    """Given a rejected URL holding a password, the error names the variable but hides it."""
    message = config_error(monkeypatch, **{variable: url})

    assert variable in message
    assert SECRET not in message


def test_password_in_a_url_without_scheme_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given DATABASE_URL without a scheme but with a password, the error hides the password."""
    message = config_error(monkeypatch, DATABASE_URL=f"bob:{SECRET}@db.internal/app")

    assert "DATABASE_URL" in message
    assert SECRET not in message


def test_telegram_token_is_not_shown_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a bot token, printing the settings does not print the token."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:very-secret-token")

    settings = load_settings(_env_file=None)

    assert "very-secret-token" not in repr(settings)
    assert "very-secret-token" not in str(settings)
    assert settings.telegram_bot_token.get_secret_value() == "123456:very-secret-token"


# --- mailboxes ----------------------------------------------------------------------------


def mailbox(**fields: object) -> dict:
    return {"owner": 7, "host": "imap.example.com", "username": "ann", "password": SECRET} | fields


def test_mailboxes_are_a_json_list_with_safe_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mailbox reads over TLS on 993, leaves the mailbox alone, looks back 30 days."""
    import json

    monkeypatch.setenv("LIFEORG_MAILBOXES", json.dumps([mailbox(), mailbox(name="work")]))
    first, work = load_settings(_env_file=None).mailboxes
    assert (first.security, first.imap_port, first.after, first.since_days) == (
        "tls",
        993,
        "none",
        30,
    )
    assert first.key == "ann@imap.example.com/INBOX" and work.key == "work"
    assert SECRET not in repr(first)


def test_plaintext_imap_only_for_local_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """security=plain is refused for a server on the internet, allowed on loopback/LAN."""
    import json

    message = config_error(monkeypatch, LIFEORG_MAILBOXES=json.dumps(mailbox(security="plain")))
    assert "LIFEORG_MAILBOXES (mailbox 1)" in message and "clear text" in message
    for host in ("127.0.0.1", "localhost", "192.168.1.20", "::1"):
        monkeypatch.setenv("LIFEORG_MAILBOXES", json.dumps(mailbox(security="plain", host=host)))
        assert load_settings(_env_file=None).mailboxes[0].imap_port == 143


def test_mailbox_errors_never_show_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """Broken JSON, a missing field and a move without a folder: named, password hidden."""
    import json

    broken = config_error(monkeypatch, LIFEORG_MAILBOXES='[{"password": "s3cret", ')
    assert "not valid JSON" in broken and SECRET not in broken
    move = config_error(monkeypatch, LIFEORG_MAILBOXES=json.dumps(mailbox(after="move")))
    assert "move_to" in move and SECRET not in move
    twice = config_error(monkeypatch, LIFEORG_MAILBOXES=json.dumps([mailbox(), mailbox()]))
    assert "same name" in twice and SECRET not in twice
