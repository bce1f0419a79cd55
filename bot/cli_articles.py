"""`frontdesk kb published|withdraw|restore`, and `frontdesk kb search` over the database's articles.

    frontdesk kb published [--json]          # the articles published in the bot, live and withdrawn
    frontdesk kb withdraw ID [--reason TEXT] # stop answering with one at once (kept; audited)
    frontdesk kb restore ID                  # answer with it again (audited)

kb.cli reads a folder only; these need the database (FRONTDESK_DATABASE_URL), so they live here and join
the `kb` group in bot.cli. With FRONTDESK_DATABASE_URL set, `kb search` answers through the knowledge
service the running bot uses: the folder, the published articles that are not withdrawn, what people
taught it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from bot.cli_delivery import _sessions
from bot.cli_support import friendly_errors
from bot.knowledge import KnowledgeService
from bot.store.models import KbArticle
from handlers import articles
from kb import cli as kb_cli
from kb.search import KnowledgeBase

CLI_ACTOR = "frontdesk-cli"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per article, one per line.")
@friendly_errors
def published(as_json: bool) -> None:
    """The articles published in the bot (from resolved tickets), oldest first, withdrawn ones marked."""
    with _sessions()() as session:
        rows = articles.published(session)
        for row in rows:
            click.echo(json.dumps(_row_json(row), ensure_ascii=False) if as_json else _row_line(row))
        if not rows and not as_json:
            click.echo("no published articles")


@click.command()
@click.argument("article_id")
@click.option("--reason", default="", help="Why (kept with the article, shown to technicians).")
@friendly_errors
def withdraw(article_id: str, reason: str) -> None:
    """Stop answering with a published article at once; it is kept, so `kb restore` undoes it."""
    with _sessions().begin() as session:
        article = _find(session, article_id)
        _change(lambda: articles.withdraw(session, article, reason, actor=CLI_ACTOR))
        click.echo(f"withdrawn {article.id}: {article.title}")


@click.command()
@click.argument("article_id")
@friendly_errors
def restore(article_id: str) -> None:
    """Answer with a withdrawn article again."""
    with _sessions().begin() as session:
        article = _find(session, article_id)
        _change(lambda: articles.restore(session, article, actor=CLI_ACTOR))
        click.echo(f"restored {article.id}: {article.title}")


def search_with_database(folder: Path, semantic: bool | None) -> KnowledgeBase | None:
    """`kb search` as the running bot answers, when a database is configured; None: the folder alone."""
    if not os.environ.get("FRONTDESK_DATABASE_URL"):
        return None
    service = KnowledgeService(folder, semantic)
    with _sessions()() as session:
        return service.for_session(session)


def attach(kb: click.Group) -> None:
    for command in (published, withdraw, restore):
        kb.add_command(command)
    kb_cli.open_search_with(search_with_database)


def _find(session: Any, article_id: str) -> KbArticle:
    try:
        return articles.find(session, article_id)
    except articles.ArticleError as error:
        raise click.ClickException(str(error)) from None


def _change(run: Any) -> None:
    try:
        run()
    except articles.ArticleError as error:
        raise click.ClickException(str(error)) from None


def _row_json(row: KbArticle) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": row.title,
        "author": row.author_email,
        "source_ticket": row.source_ticket_id,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "withdrawn": row.withdrawn_at is not None,
        "withdrawn_at": _iso(row.withdrawn_at),
        "withdrawn_reason": row.withdrawn_reason,
    }


def _row_line(row: KbArticle) -> str:
    source = f"#{row.source_ticket_id}" if row.source_ticket_id else "-"
    state = f"  [withdrawn {row.withdrawn_at:%Y-%m-%d}]" if row.withdrawn_at else ""
    return f"{row.id:28} {row.title}  ({row.author_email or '?'}, {source}, {row.created_at:%Y-%m-%d}){state}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
