"""Careless and hostile input through the real command line: an empty knowledge base, control characters
and bidi overrides, undecodable bytes, an unsupported database URL, a mistyped directory file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, insert

from bot.store.models import AuditRecord
from tests.e2e.test_console import ADA, chat, env, frontdesk

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
