"""``lifeorg parse`` run as a real subprocess: one message as an argument, or many on stdin."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, clean_env, lifeorg_command

NOW = ["--now", "2025-03-12T10:00", "--tz", "Europe/Berlin"]


def run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``lifeorg parse ARGS`` with no lifeorg configuration but ``env``."""
    return subprocess.run(
        lifeorg_command("parse", *args),
        cwd=ROOT,
        env=clean_env(**env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_one_message_prints_one_json_object() -> None:
    result = run(*NOW, "remind me tomorrow at 9 to call mum")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "intent": "reminder",
        "text": "call mum",
        "when": "2025-03-13T09:00:00+01:00",
        "all_day": False,
        "recurrence": None,
        "next": ["2025-03-13T09:00:00+01:00"],
    }


def test_stdin_gives_one_line_per_input_line_in_order() -> None:
    lines = ["buy milk", "", "every day at 8 take pills", "what's the wifi password?"]
    result = run(*NOW, stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["intent"] for o in objects] == ["task", "note", "reminder", "search"]
    assert objects[1]["text"] == ""
    assert objects[2]["recurrence"] == "FREQ=DAILY;BYHOUR=8;BYMINUTE=0"


def test_now_without_offset_is_read_in_the_zone_and_output_is_deterministic() -> None:
    first = run("--now", "2025-03-12T10:00", "--tz", "Asia/Kolkata", "in 20 minutes")
    second = run("--now", "2025-03-12T10:00", "--tz", "Asia/Kolkata", "in 20 minutes")
    assert json.loads(first.stdout)["when"] == "2025-03-12T10:20:00+05:30"
    assert first.stdout == second.stdout


def test_default_time_and_configured_zone() -> None:
    result = run("--now", "2025-03-12T10:00", "--default-time", "07:30", "friday",
                 LIFEORG_TIMEZONE="America/New_York")  # fmt: skip
    assert json.loads(result.stdout)["when"] == "2025-03-14T07:30:00-04:00"


def test_bad_options_exit_2_with_a_message() -> None:
    for args in (["--tz", "Mars/Base", "x"], ["--tz", "UTC", "--now", "soon", "x"],
                 ["--tz", "UTC", "--default-time", "25:00", "x"]):  # fmt: skip
        result = run(*args)
        assert result.returncode == 2
        assert "lifeorg parse:" in result.stderr


def test_invalid_settings_fail_without_tz_and_are_ignored_with_it() -> None:
    assert run("x", LIFEORG_TIMEZONE="Bad/Zone").returncode == 2
    result = run(*NOW, "in 1 hour", LIFEORG_TIMEZONE="Bad/Zone")
    assert result.returncode == 0
    assert json.loads(result.stdout)["when"] == "2025-03-12T11:00:00+01:00"


def test_help_does_not_import_the_parser() -> None:
    code = (
        "import sys; from lifeorg.cli import build_parser; build_parser();"
        " print('lifeorg.pipeline.parse' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean_env(), capture_output=True, text=True
    )
    assert result.stdout.strip() == "False"
