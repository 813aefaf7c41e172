"""Write the next migration from the difference between the models and the current head."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playhouse.migrations import Runner, template
from playhouse.schema_diff import diff_models

from lifeorg.config import load_settings
from lifeorg.database import MIGRATIONS_DIR, MIGRATIONS_TABLE, open_database
from lifeorg.models import ALL_MODELS


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m lifeorg.models.migrations NAME", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        settings = load_settings(database_url=f"sqlite:///{Path(scratch) / 'head.db'}")
        database = open_database(settings, migrate=True)
        with database.connection_context():
            diff = diff_models(database, ALL_MODELS)
            if not diff:
                print("the models match the migrations; nothing to write")
                return 0
            runner = Runner(database, str(MIGRATIONS_DIR), table_name=MIGRATIONS_TABLE)
            print(runner.create(argv[0], body=template(diff)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
