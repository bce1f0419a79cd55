"""Issue 9 (part A) end to end through `frontdesk chat --json`, where a person meets each fix: a technician's
command is never relayed, a typed password is hidden, a typed code is the code, and a wait for a manager's
approval does not swallow what the person asks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_console import ADA, ROOT, TESS, chat, cli_output, env  # noqa: F401 (a fixture)
from tests.servers.smtp import Mailbox

GRACE = "grace@example.com"


def test_a_note_typed_after_pressing_reply_never_reaches_the_requester(env: dict[str, str]) -> None:  # noqa: F811
    run = chat(
        env,
        ADA,
        "Can I bring my dog to the office on Fridays? my password is Summer2024!",
        "Open a ticket",
        "Not urgent",
        "/as tess@example.com",
        "/press ticket.reply:1",
        "note 1 INTERNAL: check her badge history",
        "reply 1",
        "queue",
    )
    assert run.code == 0, run.stderr
    assert any("I hid what looked like a password" in m["text"] for m in run.to(ADA))
    assert "Summer2024!" not in run.stdout + run.stderr
    assert not any("INTERNAL" in m["text"] for m in run.to(ADA))
    prompt = next(m for m in run.to(TESS) if "Your next message will be sent to" in m["text"])
    assert "Ada Lovelace (ada@example.com) on ticket #1" in prompt["text"]
    assert run.to(TESS)[-1]["text"].startswith("Open tickets: 1")  # "queue" was the queue, not a reply
    details = json.loads(cli_output(env, "tickets", "show", "1", "--json"))
    assert [e["kind"] for e in details["events"]] == ["created", "note"]
    assert "Summer2024!" not in json.dumps(details)


def test_a_typed_code_reaches_the_bot_while_the_code_prompt_shows_buttons(
    env: dict[str, str],  # noqa: F811
    smtp_server: Mailbox,
) -> None:
    env = {**env, "FRONTDESK_SMTP_HOST": smtp_server.host, "FRONTDESK_SMTP_PORT": str(smtp_server.port)}
    run = chat(env, ADA, "I forgot my password", "000000")
    assert run.code == 0, run.stderr
    assert "There is no button" not in run.stderr
    prompt, answer = run.to(ADA)[:2]
    assert prompt["input_hint"] == "code" and prompt["buttons"][0]["label"] == "Send a new code"
    assert "isn't right" in answer["text"] or "password" in answer["text"].lower()


def test_my_tickets_works_while_waiting_for_the_managers_approval(env: dict[str, str]) -> None:  # noqa: F811
    run = chat(env, ADA, "I forgot my password", "my tickets")
    assert run.code == 0, run.stderr
    asked, answered = run.to(ADA)[0], run.to(ADA)[1:]
    assert "asked your manager" in asked["text"]
    assert (
        "tickets" in answered[0]["text"].lower()
        and "waiting for your manager's approval;" not in answered[0]["text"]
    )
    assert "still waiting for your manager" in answered[-1]["text"]


def _in(directory: Path, environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=directory,
        env={**environment, "PYTHONPATH": str(ROOT), "FRONTDESK_KB_DIR": str(ROOT / "kb" / "articles")},
    )


def test_read_only_commands_never_create_a_database(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    missing = tmp_path / "typo.db"
    for args in (("stats",), ("audit", "list"), ("tickets", "list")):
        run = _in(tmp_path, {**env, "FRONTDESK_DATABASE_URL": f"sqlite:///{missing}"}, *args)
        assert run.returncode != 0 and f"there is no database at {missing}" in run.stderr, args
    assert not missing.exists()


def test_read_only_commands_find_the_demos_database(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    unset = {k: v for k, v in env.items() if k != "FRONTDESK_DATABASE_URL"}
    seeded = _in(tmp_path, {**env, "FRONTDESK_DATABASE_URL": "sqlite:///frontdesk-demo.db"}, "db", "upgrade")
    assert seeded.returncode == 0, seeded.stderr
    for args in (("stats",), ("audit", "list"), ("tickets", "list", "--json")):
        run = _in(tmp_path, unset, *args)
        assert run.returncode == 0, run.stderr
        assert "frontdesk-demo.db" in run.stderr, args
    assert not (tmp_path / "frontdesk.db").exists()
