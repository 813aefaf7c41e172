"""docs/configuration.md names every setting, with the default the code has."""

from __future__ import annotations

import re
from pathlib import Path

from lifeorg.config import Mailbox, Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
BARE = {"database_url", "redis_url", "port", "telegram_bot_token", "dyno"}


def variable(name: str) -> str:
    return name.upper() if name in BARE else f"LIFEORG_{name.upper()}"


def documented_rows() -> dict[str, str]:
    """The first cell (without backticks) of every table row -> the row's default cell."""
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3:
            rows[cells[0].strip("`")] = cells[1]
    return rows


def test_every_setting_is_documented_with_its_default():
    rows = documented_rows()
    for name, field in Settings.model_fields.items():
        assert variable(name) in rows, f"{variable(name)} is not in docs/configuration.md"
        default = field.default
        if isinstance(default, (int, float, str)) and not isinstance(default, bool):
            shown = re.sub(r"\.0$", "", str(default))
            assert shown in rows[variable(name)], (variable(name), rows[variable(name)])


def test_every_mailbox_key_is_documented():
    rows = documented_rows()
    for name in Mailbox.model_fields:
        assert name in rows, f"mailbox key {name!r} is not in docs/configuration.md"


def test_nothing_documented_that_does_not_exist():
    known = {variable(name) for name in Settings.model_fields} | set(Mailbox.model_fields)
    for name in documented_rows():
        if name.startswith(("LIFEORG_", "DATABASE_URL", "REDIS_URL", "PORT", "TELEGRAM", "DYNO")):
            assert name in known, f"docs/configuration.md documents {name}, which is no setting"
