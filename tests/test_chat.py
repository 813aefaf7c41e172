"""The terminal chat: the real ``lifeorg chat`` command, fed a script on stdin."""

from __future__ import annotations

import os
import re
import select
import sqlite3
import subprocess
from pathlib import Path

import pytest

from lifeorg.bot.terminal import TerminalMessenger, button_line, clean_line, html_to_plain
from tests.conftest import clean_env, lifeorg_command

# A chat script finishes in a few seconds; this bound only stops a hung chat from hanging
# the suite.
CHAT_TIMEOUT_S = 120
NOTE_BUTTONS = "[Pin] [Delete] [Make task] [Remind me]"
REMINDER = re.compile(r"I'll remind you \w{3} \d{1,2} \w{3}, 09:00:\ncall mum")


def chat(cwd: Path, script: str | bytes, *args: str, **variables: str) -> tuple[str, str]:
    """Run ``lifeorg chat`` in ``cwd`` with ``script`` on stdin; returns (stdout, stderr)."""
    data = script if isinstance(script, bytes) else script.encode()
    result = subprocess.run(
        lifeorg_command("chat", *args),
        cwd=cwd,
        env=clean_env(**variables),
        input=data,
        capture_output=True,
        timeout=CHAT_TIMEOUT_S,
    )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, f"chat exited {result.returncode}:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    return stdout, stderr


def replies(transcript: str) -> list[tuple[str, str]]:
    """(what was typed, what came back) for each echoed line of a transcript."""
    turns = []
    for block in ("\n" + transcript).split("\n> ")[1:]:
        said, _, answer = block.partition("\n")
        turns.append((said, answer.strip()))
    return turns


def reply_to(transcript: str, said: str) -> str:
    """What came back to the last time ``said`` was typed."""
    answers = [answer for typed, answer in replies(transcript) if typed == said]
    assert answers, f"{said!r} is not in the transcript:\n{transcript}"
    return answers[-1]


def processed_updates(cwd: Path) -> list[int]:
    with sqlite3.connect(cwd / "data" / "lifeorg.db") as connection:
        rows = connection.execute("SELECT update_id FROM processed_update ORDER BY update_id")
        return [row[0] for row in rows]


@pytest.fixture(scope="module")
def conversation(tmp_path_factory) -> str:
    """One chat through the main flows; the tests below read its transcript."""
    script = "\n".join(
        [
            "the wifi password is hunter2",
            "",
            "remind me tomorrow at 9 to call mum",
            "!Cancel",
            "!Nope",
            "pay the electricity bill by friday",
            "/tasks",
            "/help",
        ]
    )
    stdout, _ = chat(tmp_path_factory.mktemp("chat"), script + "\n")
    return stdout


def test_a_note_is_saved_with_its_buttons(conversation):
    assert reply_to(conversation, "the wifi password is hunter2") == f"📝 Saved.\n{NOTE_BUTTONS}"


def test_empty_lines_are_ignored(conversation):
    assert "" not in [typed for typed, _ in replies(conversation)]


def test_a_reminder_states_its_time_with_one_tap_fixes(conversation):
    answer = reply_to(conversation, "remind me tomorrow at 9 to call mum")
    assert REMINDER.search(answer), answer
    assert answer.endswith("\n[Cancel] [Change time]")


def test_pressing_a_button_shows_the_notice_and_the_edit(conversation):
    answer = reply_to(conversation, "!Cancel")
    assert "(notice) Cancelled." in answer.splitlines()
    assert "(edited) 🚫 Cancelled: call mum" in answer.splitlines()


def test_a_missing_button_is_a_clear_local_error(conversation):
    answer = reply_to(conversation, "!Nope")
    assert answer.startswith("(error) no button [Nope] to press")
    assert NOTE_BUTTONS in answer  # what could be pressed instead; [Cancel] is gone


def test_a_task_and_the_commands_answer(conversation):
    task = reply_to(conversation, "pay the electricity bill by friday")
    assert task.startswith("✅ Task: pay the electricity bill\nDue ")
    # /tasks lists the task once the commands exist; until then every command shows help.
    tasks = reply_to(conversation, "/tasks")
    assert "pay the electricity bill" in tasks or "remind me" in tasks, tasks
    assert "remind me" in reply_to(conversation, "/help")


def test_logs_stay_out_of_the_chat(conversation):
    assert not re.search(r"\b(INFO|DEBUG|WARNING)\b", conversation)
    assert "<b>" not in conversation and "&amp;" not in conversation


def test_a_second_run_keeps_the_data_and_takes_new_update_ids(tmp_path):
    """Given a note saved in one run, a later run finds it and none of its updates is lost."""
    chat(tmp_path, "the wifi password is hunter2\nbuy milk\n")
    first = processed_updates(tmp_path)

    stdout, _ = chat(tmp_path, "what's the wifi password?\n!Done\n")

    assert "hunter2" in reply_to(stdout, "what's the wifi password?")
    # A reused update id would be deduped by ingest: no reply, and fewer rows.
    assert "(notice) Done!" in reply_to(stdout, "!Done")
    after = processed_updates(tmp_path)
    assert len(first) == 2 and len(after) == 4
    assert min(after[2:]) > max(first)


def test_quit_ends_the_chat(tmp_path):
    stdout, _ = chat(tmp_path, "/quit\nthe wifi password is hunter2\n")
    assert "hunter2" not in stdout
    assert processed_updates(tmp_path) == []


def test_a_configured_broker_is_overridden_with_a_note(tmp_path):
    """REDIS_URL pointing nowhere does not matter: the chat runs its own queue."""
    stdout, stderr = chat(
        tmp_path, "buy milk\n", "--user-id", "42", REDIS_URL="redis://127.0.0.1:1"
    )
    assert "ignoring the configured broker" in stderr
    assert reply_to(stdout, "buy milk").startswith("✅ Task: buy milk")


def test_bad_input_never_crashes_the_chat(tmp_path):
    """Long lines, control characters, emoji and undecodable bytes each get an answer."""
    long_line = "word " * 2000
    script = (
        long_line.encode()
        + b"\nclear \x1b[2J\x00the \x07screen\n"
        + "🎉🦄 party\n".encode()
        + b"caf\xe9 \xff\xfe\n"
        + b"/help\n"
    )
    stdout, _ = chat(tmp_path, script)

    turns = replies(stdout)
    assert [typed for typed, _ in turns] == [
        long_line.strip(),
        "clear [2Jthe screen",
        "🎉🦄 party",
        "caf� ��",
        "/help",
    ]
    assert all(answer for _, answer in turns), stdout
    assert "\x1b" not in stdout and "\x00" not in stdout


def read_until(fd: int, marker: bytes, count: int, seen: bytearray) -> None:
    """Read the terminal until ``marker`` has appeared ``count`` times; fail on a timeout."""
    while seen.count(marker) < count:
        ready, _, _ = select.select([fd], [], [], CHAT_TIMEOUT_S)
        assert ready, f"no {marker!r} from the chat:\n{seen.decode(errors='replace')}"
        seen += os.read(fd, 4096)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("leave", [b"/quit\n", b"\x04"], ids=["quit", "ctrl-d"])
def test_a_terminal_gets_a_prompt_and_can_leave(tmp_path, leave):
    """On a terminal the chat prompts, answers, and exits 0 on /quit or Ctrl-D."""
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        lifeorg_command("chat"), cwd=tmp_path, env=clean_env(), stdin=terminal, stdout=terminal
    )
    os.close(terminal)
    seen = bytearray()
    try:
        read_until(controller, b"you> ", 1, seen)
        os.write(controller, b"the wifi password is hunter2\n")
        read_until(controller, b"you> ", 2, seen)
        os.write(controller, leave)
        assert process.wait(CHAT_TIMEOUT_S) == 0
    finally:
        process.kill()
        os.close(controller)
    assert NOTE_BUTTONS.encode() in seen


def test_html_becomes_plain_text():
    text = "☑️ Done: <s>buy &lt;milk&gt;</s>\n<b>Tom &amp; Jerry</b> <i>it's</i>"
    assert html_to_plain(text) == "☑️ Done: buy <milk>\nTom & Jerry it's"


def test_buttons_print_on_one_line():
    keyboard = [[("Pin", "pin:1"), ("Delete", "mdel:1")], [("Make task", "mtask:1")]]
    assert button_line(keyboard) == "[Pin] [Delete] [Make task]"
    assert button_line(None) == ""


def test_typed_lines_lose_control_characters():
    assert clean_line("\tbuy\x1b milk\x00\r\n") == "buy milk"


def test_a_press_finds_the_newest_message_showing_the_label():
    messenger = TerminalMessenger(first_message_id=10)
    older = messenger.send_message(1, "a", [[("Delete", "old")]])
    newer = messenger.send_message(1, "b", [[("Delete", "new"), ("Pin", "pin")]])
    assert messenger.find_button("delete") == (newer, "new")

    messenger.edit_message_text(1, newer, "b, deleted", None)  # its buttons are gone
    assert messenger.find_button("Delete") == (older, "old")
    assert messenger.find_button("Pin") is None
