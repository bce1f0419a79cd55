"""Careless and hostile input through the real command line: an empty knowledge base, control characters
and bidi overrides, undecodable bytes, an unsupported database URL, a mistyped directory file."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, insert

from bot.store.models import AuditRecord
from tests.e2e.test_console import ADA, ROOT, chat, env, frontdesk

__all__ = ["env"]  # the fixture, shared with the console tests

NO_ARTICLES = "I don't have any articles yet"


def test_an_empty_knowledge_base_folder_starts_with_a_warning_and_offers_a_ticket(
    env: dict[str, str], tmp_path: Path
) -> None:
    empty = tmp_path / "articles"
    empty.mkdir()
    env["FRONTDESK_KB_DIR"] = str(empty)
    run = chat(env, ADA, "how do I connect to the vpn?")
    assert run.code == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "no articles" in run.stderr.lower()
    answer = run.to(ADA)[0]
    assert NO_ARTICLES in answer["text"]
    assert "Open a ticket" in [b["label"] for b in answer["buttons"]]


HOSTILE = "printer\x1b[2J\x1b]0;owned\x07 \u202eexe.txt\u202c\r jams"
RAW = ("\x1b", "\x07", "\r", "\u202e", "\u202c")


def test_tickets_and_audit_lists_print_control_characters_escaped(env: dict[str, str]) -> None:
    run = chat(env, ADA, "talk to a human", HOSTILE, "not urgent")
    assert run.code == 0, run.stderr
    listed = frontdesk("tickets", "list", env=env)
    shown = frontdesk("tickets", "show", "1", env=env)
    for output in (listed, shown):
        assert output.code == 0, output.stderr
        assert "printer\\x1b[2J" in output.stdout and "\\u202eexe.txt" in output.stdout
        assert not any(ch in output.stdout for ch in RAW)
    as_json = frontdesk("tickets", "show", "1", "--json", env=env)
    assert json.loads(as_json.stdout)["problem"] == HOSTILE  # JSON keeps the text, escaped by json.dumps

    engine = create_engine(env["FRONTDESK_DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(
            insert(AuditRecord).values(
                at=datetime.now(UTC),
                actor=ADA,
                action="reset.requested",
                target=HOSTILE,
                result="pending",
                correlation_id="c0ffee",
                detail={},
            )
        )
    audit = frontdesk("audit", "list", env=env)
    assert audit.code == 0, audit.stderr
    assert "\\u202eexe.txt" in audit.stdout and not any(ch in audit.stdout for ch in RAW)


def test_undecodable_bytes_on_stdin_are_answered_and_the_next_line_still_works(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--as", ADA, "--json"],
        input=b"my caf\xe9 printer \xff\xfe is broken\ntalk to a human\n",
        capture_output=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    messages = [json.loads(line) for line in result.stdout.decode().splitlines() if line.startswith("{")]
    assert messages[0]["text"].startswith("That message contains characters I can't read")
    assert "what's the problem" in messages[1]["text"].lower()


@pytest.mark.parametrize(
    ("url", "command"),
    [
        ("mysql://frontdesk@db.example/frontdesk", ("db", "upgrade")),
        ("foo://bar", ("tickets", "list")),
        ("postgresql+nope://x/y", ("chat", "--as", ADA)),
    ],
)
def test_an_unsupported_database_url_is_one_clear_line(env: dict[str, str], url: str, command: tuple) -> None:
    env["FRONTDESK_DATABASE_URL"] = url
    run = frontdesk(*command, env=env)
    assert run.code != 0
    assert "Traceback" not in run.stderr
    error = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(error) == 1 and "FRONTDESK_DATABASE_URL" in error[0], run.stderr


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("groups", "finance", "groups"),
        ("name", 42, "name"),
        ("locked", "yes", "locked"),
    ],
)
def test_a_wrong_typed_field_in_the_demo_directory_is_one_clear_line(
    env: dict[str, str], tmp_path: Path, field: str, value: object, named: str
) -> None:
    person = {"email": ADA, "name": "Ada Lovelace", field: value}
    path = tmp_path / "people.yaml"
    path.write_text(yaml.safe_dump({"people": [person], "groups": [{"name": "finance"}]}), encoding="utf-8")
    env["FRONTDESK_DEMO_DIRECTORY"] = str(path)
    run = frontdesk("chat", "--as", ADA, env=env)
    assert run.code != 0 and "Traceback" not in run.stderr
    problem = [line for line in run.stderr.splitlines() if str(path) in line]
    assert len(problem) == 1 and f"`{named}`" in problem[0], run.stderr


def test_a_wrong_typed_groups_section_in_the_demo_directory_is_one_clear_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "people.yaml"
    path.write_text(yaml.safe_dump({"people": [{"email": ADA}], "groups": "finance"}), encoding="utf-8")
    env["FRONTDESK_DEMO_DIRECTORY"] = str(path)
    run = frontdesk("chat", "--as", ADA, env=env)
    assert run.code != 0 and "Traceback" not in run.stderr
    assert sum(1 for line in run.stderr.splitlines() if str(path) in line) == 1, run.stderr
