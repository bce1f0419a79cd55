"""`frontdesk kb published|withdraw|restore` and `frontdesk kb search` over the database, as an operator
runs them: the real command on a SQLite database where a technician published an article in chat."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.store.models import AuditRecord
from tests.conftest import Harness, build_bot
from tests.e2e.test_console import frontdesk
from tests.kb.helpers import article

ADA, TESS = "ada@example.com", "tess@example.com"
ARTICLE_ID = "teams-has-no-sound-in-calls"
QUESTION = "teams has no sound in calls"


@pytest.fixture
def published(tmp_path: Path) -> tuple[dict[str, str], Harness]:
    """A database with one article published from a ticket, a one-file KB folder, and the environment."""
    url = f"sqlite:///{tmp_path / 'frontdesk.db'}"
    bot, _ = build_bot(url)
    h = Harness(bot)
    for line in ("talk to a human", "Teams has no sound in calls", "not urgent"):
        h.say(ADA, line)
    h.say(TESS, "resolve 1 Selected the headset as the Teams speaker")
    h.press(TESS, "kb.draft:1")
    assert "Published" in h.press(TESS, "publish.confirm")[0].text
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "vpn.md").write_text(article("vpn", "Connect to the VPN"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env.update(
        {
            "FRONTDESK_DATABASE_URL": url,
            "FRONTDESK_KB_DIR": str(folder),
            "FRONTDESK_KB_SEMANTIC": "off",
            "FRONTDESK_TECHNICIAN_GROUP": "it-support",
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        }
    )
    return env, h


def run_ok(env: dict[str, str], *args: str) -> str:
    run = frontdesk(*args, env=env)
    assert run.code == 0, run.stderr
    return run.stdout


def search_answer(env: dict[str, str], question: str) -> str | None:
    return json.loads(run_ok(env, "kb", "search", "--json", question))["answer"]


def test_published_lists_the_articles_written_in_the_bot(published) -> None:
    env, _ = published
    rows = [json.loads(line) for line in run_ok(env, "kb", "published", "--json").splitlines()]
    assert [(r["id"], r["author"], r["source_ticket"], r["withdrawn"]) for r in rows] == [
        (ARTICLE_ID, TESS, 1, False)
    ]
    assert rows[0]["title"] == "How to fix: Teams has no sound in calls"
    assert ARTICLE_ID in run_ok(env, "kb", "published")


def test_search_sees_published_articles_until_withdrawn_and_again_when_restored(published) -> None:
    env, h = published
    assert search_answer(env, QUESTION) == ARTICLE_ID
    assert search_answer(env, "connect to the vpn") == "vpn"
    files_only = {k: v for k, v in env.items() if k != "FRONTDESK_DATABASE_URL"}
    assert search_answer(files_only, QUESTION) != ARTICLE_ID  # the folder alone has no such article

    assert "withdrawn" in run_ok(env, "kb", "withdraw", ARTICLE_ID, "--reason", "headset driver bug instead")
    assert search_answer(env, QUESTION) != ARTICLE_ID
    row = json.loads(run_ok(env, "kb", "published", "--json"))
    assert row["withdrawn"] and row["withdrawn_reason"] == "headset driver bug instead"
    again = frontdesk("kb", "withdraw", ARTICLE_ID, env=env)
    assert again.code != 0 and "already withdrawn" in again.stderr

    assert "restored" in run_ok(env, "kb", "restore", ARTICLE_ID)
    assert search_answer(env, QUESTION) == ARTICLE_ID
    with h.bot.sessions() as s:
        audited = [(a.action, a.actor) for a in s.scalars(select(AuditRecord).order_by(AuditRecord.id))]
    assert audited[-2:] == [
        ("kb_article_withdrawn", "frontdesk-cli"),
        ("kb_article_restored", "frontdesk-cli"),
    ]


def test_an_unknown_article_is_one_clear_line(published) -> None:
    env, _ = published
    run = frontdesk("kb", "withdraw", "no-such-article", env=env)
    assert run.code != 0 and "no published article 'no-such-article'" in run.stderr
    assert "Traceback" not in run.stderr
