"""The Procfile's processes are real lifeorg commands."""

from __future__ import annotations

import shlex

from lifeorg.cli import build_parser
from tests.conftest import ROOT


def test_every_procfile_process_is_a_lifeorg_command():
    """web, bot, worker, scheduler and release each parse as a lifeorg command."""
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        processes[name.strip()] = shlex.split(command)
    assert set(processes) == {"web", "bot", "worker", "scheduler", "release"}
    parser = build_parser()
    for name, argv in processes.items():
        assert argv[0] == "lifeorg", name
        assert callable(parser.parse_args(argv[1:]).handler), name
