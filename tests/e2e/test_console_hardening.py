"""Careless and hostile input through the real command line: an empty knowledge base, control characters
and bidi overrides, undecodable bytes, an unsupported database URL, a mistyped directory file."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_console import ADA, chat, env

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
