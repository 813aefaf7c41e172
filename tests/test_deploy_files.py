"""The files Heroku and Dokku deploy from, checked against the code they configure.

``app.json`` names config vars, add-ons, the process formation and Dokku's zero-downtime
health check; ``.python-version`` and ``requirements.txt`` are what the Python buildpack
reads. Each is held to the settings class, ``pyproject.toml``, the ``Procfile`` and a real
``lifeorg web`` process, so none of them can drift from the code. The rule that refuses a
SQLite file shared by the containers of a platform deployment is tested here too, through
the real command line.
"""

from __future__ import annotations

import json
import secrets
import shlex
import signal
import subprocess
import tomllib
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from pydantic import AliasChoices

from lifeorg.bot.webhook import HEALTH_PATH, SECRET_RULE
from lifeorg.config import Settings, load_settings
from tests import services
from tests.conftest import ROOT, clean_env, lifeorg_command, wait_for
from tests.fake_telegram import DEFAULT_TOKEN, FakeTelegram

APP_JSON = json.loads((ROOT / "app.json").read_text())
# What each add-on sets in the app's environment (Heroku's documented behaviour).
ADDON_VARIABLES = {"heroku-postgresql": "DATABASE_URL", "heroku-redis": "REDIS_URL"}
# A one-off process, a command or a server start, takes seconds; allow a loaded CI machine.
COMMAND_TIMEOUT_S = 60
# The buildpack's "secret" generator: 64 hexadecimal characters.
SECRET_BYTES = 32


def procfile() -> dict[str, str]:
    """The Procfile's processes by name."""
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip():
            processes[name.strip()] = command.strip()
    return processes


def setting_variables() -> dict[str, str]:
    """Every environment variable the settings read, mapped to its field."""
    names: dict[str, str] = {}
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            choices = [choice for choice in alias.choices if isinstance(choice, str)]
        elif isinstance(alias, str):
            choices = [alias]
        else:
            choices = [f"LIFEORG_{field_name.upper()}"]
        names.update((choice.upper(), field_name) for choice in choices)
    return names


def is_required(spec: dict) -> bool:
    """Heroku's rule: a config var is required unless it says otherwise."""
    return spec.get("required", True)


def deploy_env(**platform: str) -> dict[str, str]:
    """The config vars app.json gives a new app: values, generated secrets, user input."""
    given = {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "LIFEORG_ALLOWED_USERS": "111"}
    env = {}
    for name, spec in APP_JSON["env"].items():
        if "value" in spec:
            env[name] = spec["value"]
        elif spec.get("generator") == "secret":
            env[name] = secrets.token_hex(SECRET_BYTES)
        elif is_required(spec):
            env[name] = given[name]
    return env | platform


# --- the buildpack's files ------------------------------------------------------------------


def test_python_version_is_one_the_project_supports():
    """.python-version names a major.minor (the buildpack takes its latest patch release)
    that pyproject's requires-python accepts."""
    version = (ROOT / ".python-version").read_text().strip()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert version.count(".") == 1 and version.replace(".", "").isdigit(), version
    assert version in SpecifierSet(requires)


def test_requirements_install_the_project_itself():
    """requirements.txt installs this project, so pyproject.toml stays the one list of
    dependencies; a non-editable install, because the buildpack moves the build directory."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    requirements = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert requirements == ["."]


# --- app.json ---------------------------------------------------------------------------------


def test_app_json_describes_the_app():
    """A name and description for the platform's dashboard; the Python buildpack."""
    assert APP_JSON["name"] and APP_JSON["description"]
    assert APP_JSON["buildpacks"] == [{"url": "heroku/python"}]


def test_every_config_var_is_a_setting():
    """Every variable app.json names is one the settings class reads."""
    known = setting_variables()
    unknown = [name for name in APP_JSON["env"] if name not in known]
    assert unknown == []


def test_required_config_vars_have_no_usable_default():
    """What app.json asks the deployer for is what the code cannot default: the bot token
    and the allowlist; everything it fills in or generates, the settings accept."""
    known = setting_variables()
    asked = [n for n, s in APP_JSON["env"].items() if is_required(s) and "generator" not in s]
    assert sorted(asked) == ["LIFEORG_ALLOWED_USERS", "TELEGRAM_BOT_TOKEN"]
    for name in asked:
        assert "value" not in APP_JSON["env"][name], name
        assert Settings.model_fields[known[name]].get_default(call_default_factory=True) in (
            None,
            [],
        ), name

    env = deploy_env()
    settings = load_settings(**{known[name]: value for name, value in env.items()}, _env_file=None)
    assert SECRET_RULE.fullmatch(settings.webhook_secret.get_secret_value())
    assert settings.secret_key is not None
    assert settings.worker_processes >= 1 and settings.worker_threads >= 1


def test_addons_provide_the_database_and_the_broker():
    """PostgreSQL and Redis come from add-ons, which set DATABASE_URL and REDIS_URL: the
    variables the settings read unprefixed."""
    known = setting_variables()
    provided = {ADDON_VARIABLES[addon] for addon in APP_JSON["addons"]}
    assert provided == {"DATABASE_URL", "REDIS_URL"}
    assert provided <= set(known)
    assert provided.isdisjoint(APP_JSON["env"])  # set by the add-ons, never by hand


def test_formation_takes_updates_by_webhook():
    """web, worker and scheduler run; bot does not, because Telegram refuses long polling
    while a webhook is set. Every process named exists in the Procfile."""
    formation = {name: spec["quantity"] for name, spec in APP_JSON["formation"].items()}
    assert set(formation) == set(procfile()) - {"release"}
    assert formation["web"] == 1 and formation["bot"] == 0
    assert formation["worker"] >= 1 and formation["scheduler"] >= 1


def test_the_release_phase_applies_migrations():
    """Both platforms run the Procfile's release command before switching to a new build."""
    assert shlex.split(procfile()["release"]) == ["lifeorg", "db", "upgrade"]


def test_the_health_check_is_the_web_process_health_path():
    """Dokku checks the web process on the path the webhook server answers."""
    [check] = APP_JSON["healthchecks"]["web"]
    assert check["type"] == "startup"
    assert check["path"] == HEALTH_PATH
    assert set(APP_JSON["healthchecks"]) <= set(procfile())


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.mark.slow
def test_the_web_process_starts_from_app_json_and_passes_its_health_check(
    tmp_path: Path, fake: FakeTelegram, fresh_postgres_url: str, redis_url: str
):
    """Given only what app.json and its add-ons configure (and what the platform sets:
    PORT, DYNO), the Procfile's web process serves the health check Dokku runs, then stops
    with exit 0 on SIGTERM."""
    [check] = APP_JSON["healthchecks"]["web"]
    port = services._free_port()
    env = clean_env(
        **deploy_env(
            DATABASE_URL=fresh_postgres_url,
            REDIS_URL=redis_url,
            PORT=str(port),
            DYNO="web.1",
            LIFEORG_QUEUE_NAMESPACE=f"deploy-{uuid.uuid4().hex[:8]}",
            LIFEORG_TELEGRAM_API_URL=fake.base_url,  # the test's stand-in for Telegram
            LIFEORG_DATA_DIR=str(tmp_path / "data"),
        )
    )
    argv = shlex.split(procfile()["web"])
    assert argv[0] == "lifeorg"
    log = tmp_path / "web.log"
    with log.open("w") as out:
        web = subprocess.Popen(
            lifeorg_command(*argv[1:]), cwd=tmp_path, env=env, stdout=out, stderr=out
        )
        try:
            body = wait_for(
                lambda: web.poll() is None and health(port, check["path"]),
                timeout=COMMAND_TIMEOUT_S,
                what="the web process to answer its health check",
            )
            web.send_signal(signal.SIGTERM)
            code = web.wait(timeout=COMMAND_TIMEOUT_S)
        finally:
            if web.poll() is None:
                web.kill()
                web.wait()
    assert check["content"] in body
    assert code == 0, log.read_text()


def health(port: int, path: str) -> str | None:
    """The health check's body when it answers 200, else None (not up yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
            return answer.read().decode() if answer.status == 200 else None
    except OSError:
        return None


# --- SQLite on a platform -------------------------------------------------------------------


def lifeorg(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        lifeorg_command(*args),
        cwd=tmp_path,
        env=clean_env(**variables),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )


def test_a_platform_worker_without_a_database_url_is_refused(tmp_path: Path, redis_url: str):
    """Given DYNO (Heroku, Dokku) and REDIS_URL but no DATABASE_URL, `lifeorg worker` refuses
    the default SQLite file, naming DATABASE_URL and how to get PostgreSQL."""
    result = lifeorg(tmp_path, "worker", DYNO="worker.1", REDIS_URL=redis_url)
    assert result.returncode == 2, result.stderr
    assert "DATABASE_URL is not set, so the database would be a SQLite file" in result.stderr
    assert "DYNO=worker.1" in result.stderr and "REDIS_URL" in result.stderr
    assert "heroku-postgresql" in result.stderr and "postgres:link" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was created


def test_the_release_phase_refuses_a_sqlite_database_url(tmp_path: Path, redis_url: str):
    """The release command fails the deploy before any process starts on a SQLite file."""
    database = tmp_path / "shared.db"
    result = lifeorg(
        tmp_path,
        *shlex.split(procfile()["release"])[1:],
        DYNO="release.7",
        DATABASE_URL=f"sqlite:///{database}",
        LIFEORG_BROKER_URL=redis_url,
    )
    assert result.returncode == 2, result.stderr
    assert f"DATABASE_URL sqlite:///{database} is a SQLite file" in result.stderr
    assert "LIFEORG_BROKER_URL hands work between them" in result.stderr
    assert not database.exists()


@pytest.mark.parametrize(
    "where",
    [
        pytest.param({"REDIS_URL": "redis://127.0.0.1:6379/0"}, id="laptop-with-redis"),
        pytest.param({"DYNO": "run.1"}, id="one-platform-process-without-broker"),
    ],
)
def test_sqlite_on_one_machine_is_left_alone(tmp_path: Path, where: dict[str, str]):
    """Without a platform, or without a broker that hands work to other containers, SQLite
    is one machine's file and works as before."""
    database = tmp_path / "lifeorg.db"
    result = lifeorg(tmp_path, "db", "upgrade", DATABASE_URL=f"sqlite:///{database}", **where)
    assert result.returncode == 0, result.stderr
    assert "schema now at" in result.stdout
    assert database.exists()
