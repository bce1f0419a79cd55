"""The knowledge base as the running bot uses it: file articles + articles written in the bot + what
people taught it (confirmed phrasings) + what they disliked (articles demoted by "not helpful").

The file index is built once per process (and cached on disk by `kb`); the database part is cheap to
re-apply, and is re-read only when it changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store.models import KbArticle, KbExample
from handlers.insights import demotions
from kb.articles import Article, load_articles
from kb.search import KnowledgeBase

SHIPPED_ARTICLES = Path(__file__).resolve().parent.parent / "kb" / "articles"


def kb_folder(configured: Path | None) -> Path:
    return configured or SHIPPED_ARTICLES


class KnowledgeService:
    def __init__(self, folder: Path, semantic: bool | None) -> None:
        self.folder = folder
        self.semantic = semantic
        self._lock = threading.Lock()
        self._files: list[Article] | None = None
        self._cached: tuple[Any, KnowledgeBase] | None = None

    def for_session(self, session: Session) -> KnowledgeBase:
        """The KB with the database's articles and learning applied (rebuilt only when they changed)."""
        fingerprint = _fingerprint(session)
        with self._lock:
            if self._cached is None or self._cached[0] != fingerprint:
                self._cached = (fingerprint, self._build(session))
            return self._cached[1]

    def _build(self, session: Session) -> KnowledgeBase:
        if self._files is None:
            self._files = load_articles(self.folder)
        articles = [*self._files, *(_as_article(row) for row in session.scalars(select(KbArticle)))]
        base = KnowledgeBase.build(articles, semantic=self.semantic)
        return base.with_learning(extra_questions=learned_questions(session), demotions=demotions(session))


def learned_questions(session: Session) -> dict[str, list[str]]:
    learned: dict[str, list[str]] = {}
    for example in session.scalars(select(KbExample)):
        learned.setdefault(example.article_id, []).append(example.text)
    return learned


def _fingerprint(session: Session) -> tuple[Any, ...]:
    def count_and_latest(model: Any, column: Any) -> tuple[Any, Any]:
        count, latest = session.execute(select(func.count(), func.max(column)).select_from(model)).one()
        return count, latest

    return (
        count_and_latest(KbArticle, KbArticle.updated_at),
        count_and_latest(KbExample, KbExample.id),
        tuple(sorted(demotions(session).items())),
    )


def _as_article(row: KbArticle) -> Article:
    return Article(
        id=row.id,
        title=row.title,
        body=row.body,
        tags=tuple(row.tags),
        questions=tuple(row.questions),
        links=tuple(row.links),
        path=None,
    )


KnowledgeFactory = Callable[[Session], KnowledgeBase]
