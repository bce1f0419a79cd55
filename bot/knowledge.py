"""The knowledge base as the running bot uses it: file articles + articles written in the bot + what
people taught it (confirmed phrasings) + what they disliked (articles demoted by "not helpful" votes).

Three layers, each rebuilt only when its own input changed:
1. the *files* index, from the article folder (kb.index: cached on disk, keyed by the folder's manifest).
   The manifest (names, sizes, modification times) is re-read at most every RECHECK_SECONDS, so added,
   changed and deleted files are picked up without a restart;
2. the *base*: the files plus the articles published in the bot (the files index itself when there are
   none, so publishing never touches a files-only bot's other layers);
3. the *learned* KB: the base with confirmed phrasings and demotions applied (`with_learning` re-indexes
   only the example questions; embeddings of known texts come from the cache).

A rebuild of a large knowledge base (more than SYNC_REBUILD_ARTICLES articles) runs in a background
thread while the previous index keeps answering, so a confirmation or a publication never makes a person
wait for a 10,000-article re-index; small ones (the sample articles, tests) are rebuilt on the spot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.insights import demotions, taken_back_questions
from bot.store.models import KbArticle, KbExample, KbVote, Ticket
from kb.articles import Article
from kb.index import manifest, open_folder
from kb.search import KnowledgeBase

log = logging.getLogger(__name__)

SHIPPED_ARTICLES = Path(__file__).resolve().parent.parent / "kb" / "articles"
RECHECK_SECONDS = 10.0
SYNC_REBUILD_ARTICLES = 2000


def kb_folder(configured: Path | None) -> Path:
    return configured or SHIPPED_ARTICLES


class _Layer:
    """One cached build and the key it was built for; a stale one keeps serving during a background
    rebuild."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.key: Hashable = None
        self.kb: KnowledgeBase | None = None
        self._building: Hashable = None
        self._lock = threading.Lock()

    def get(
        self, key: Hashable, build: Callable[[], KnowledgeBase], *, background: bool
    ) -> tuple[Hashable, KnowledgeBase]:
        """The index to serve and the key it was built for — read together, because a background
        rebuild may land at any moment and a key paired with the other index would stick."""
        with self._lock:
            if self.kb is not None and self.key == key:
                return self.key, self.kb
            if self.kb is None or not background:
                self.kb, self.key = build(), key
                return self.key, self.kb
            if self._building != key:
                self._building = key
                threading.Thread(target=self._build, args=(key, build), daemon=True).start()
            return self.key, self.kb

    def current(self) -> tuple[Hashable, KnowledgeBase | None]:
        with self._lock:
            return self.key, self.kb

    def _build(self, key: Hashable, build: Callable[[], KnowledgeBase]) -> None:
        started = time.perf_counter()
        try:
            kb = build()
        except Exception:
            log.exception(
                "kb: background rebuild of the %s index failed; keeping the previous one", self.name
            )
            return
        with self._lock:
            if self._building == key:
                self.kb, self.key, self._building = kb, key, None
        log.info("kb: %s index rebuilt in the background in %.1f s", self.name, time.perf_counter() - started)


class KnowledgeService:
    def __init__(
        self,
        folder: Path,
        semantic: bool | None,
        *,
        recheck_seconds: float = RECHECK_SECONDS,
        sync_rebuild_articles: int = SYNC_REBUILD_ARTICLES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.semantic = semantic
        self.recheck_seconds = recheck_seconds
        self.sync_rebuild_articles = sync_rebuild_articles
        self._clock = clock
        self._lock = threading.Lock()
        self._manifest: Any = None
        self._checked_at = float("-inf")
        self._files = _Layer("files")
        self._base = _Layer("base")
        self._learned = _Layer("learned")
        self._learning: tuple[Hashable, tuple[tuple[str, tuple[str, ...]], ...]] = (None, ())
        self._demoted: tuple[Hashable, dict[str, float]] = (None, {})

    def for_session(self, session: Session) -> KnowledgeBase:
        """The KB with the database's articles and learning applied (rebuilt only when they changed)."""
        background = self._large()
        files_key, files = self._files.get(self._folder_manifest(), self._build_files, background=background)
        changes = _Changes.read(session)
        # Withdrawing or restoring changes the withdrawn count, so the base is rebuilt without (or with) it.
        base_key = (files_key, changes.articles, changes.withdrawn)
        built_for, base = self._base.current()
        if built_for != base_key or base is None:
            extra = [_as_article(row) for row in answerable_articles(session)]
            built_for, base = self._base.get(
                base_key, lambda: _with_articles(files, extra), background=background
            )
        demoted = self._demotions(session, changes.votes)
        learned = self._learned_questions(session, built_for, base, changes)
        learned_key = (built_for, learned, tuple(sorted(demoted.items())))
        extra_questions = {article: list(texts) for article, texts in learned}
        _, kb = self._learned.get(
            learned_key, lambda: base.with_learning(extra_questions, demoted), background=background
        )
        return kb

    def _demotions(self, session: Session, votes: Hashable) -> dict[str, float]:
        """The demoted articles, re-tallied only when a vote was added (or removed) since."""
        with self._lock:
            if self._demoted[0] != votes:
                self._demoted = (votes, demotions(session))
            return self._demoted[1]

    def _learned_questions(
        self, session: Session, base_key: Hashable, base: KnowledgeBase, changes: _Changes
    ) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The learned phrasings, re-read only when an example or a ticket (which may take a confirmation
        back) was added since; a ticket that takes nothing back changes nothing."""
        fingerprint = (base_key, changes.examples, changes.tickets)
        with self._lock:
            if self._learning[0] != fingerprint:
                learned = learned_questions(session, base)
                self._learning = (fingerprint, tuple(sorted((a, tuple(t)) for a, t in learned.items())))
            return self._learning[1]

    def _folder_manifest(self) -> Any:
        """The folder's manifest, re-read at most every recheck_seconds (a stat per file)."""
        with self._lock:
            if self._manifest is None or self._clock() - self._checked_at >= self.recheck_seconds:
                self._manifest = tuple(sorted(manifest(self.folder).items()))
                self._checked_at = self._clock()
            return self._manifest

    def _build_files(self) -> KnowledgeBase:
        kb, report = open_folder(self.folder, semantic=self.semantic)
        if not len(kb):
            log.warning(
                "kb: %s has no articles; every question is offered a ticket until some are added",
                self.folder,
            )
        elif not report.from_cache:
            log.info(
                "kb: %s indexed: %d articles (%d added, %d changed, %d removed) in %.1f s",
                self.folder,
                report.articles,
                len(report.added),
                len(report.changed),
                len(report.removed),
                report.seconds,
            )
        return kb

    def _large(self) -> bool:
        kb = self._learned.kb if self._learned.kb is not None else self._files.kb
        return kb is not None and len(kb) > self.sync_rebuild_articles


def learned_questions(session: Session, knowledge: KnowledgeBase) -> dict[str, list[str]]:
    """Confirmed phrasings per article, each wording once; a confirmation taken back by a same-topic
    ticket (handlers.insights) teaches nothing."""
    retracted = (
        taken_back_questions(session, knowledge) if session.scalar(select(func.count(Ticket.id))) else set()
    )
    learned: dict[str, list[str]] = {}
    for example in session.scalars(select(KbExample).order_by(KbExample.id)):
        if example.question_id in retracted:
            continue
        texts = learned.setdefault(example.article_id, [])
        # handlers.question teaches each wording once, but rows from before that rule (every confirmation
        # was stored) and from two confirmations at once (no unique key) can repeat a text.
        if example.text not in texts:
            texts.append(example.text)
    return learned


def answerable_articles(session: Session) -> list[KbArticle]:
    """The articles published in the bot that may answer questions: every one not withdrawn."""
    statement = select(KbArticle).where(KbArticle.withdrawn_at.is_(None)).order_by(KbArticle.id)
    return list(session.scalars(statement))


@dataclass(frozen=True)
class _Changes:
    """What the layers are keyed on, as (count, latest) of the tables they come from — every message reads
    them, so all in one statement (one round trip instead of five)."""

    articles: tuple[Any, Any]  # KbArticle.updated_at
    withdrawn: tuple[Any, Any]  # KbArticle.withdrawn_at
    examples: tuple[Any, Any]  # KbExample.id
    tickets: tuple[Any, Any]  # Ticket.id
    votes: tuple[Any, Any]  # KbVote.id: votes are only ever added (and old ones removed)

    @classmethod
    def read(cls, session: Session) -> _Changes:
        columns = (KbArticle.updated_at, KbArticle.withdrawn_at, KbExample.id, Ticket.id, KbVote.id)
        values = session.execute(
            select(
                *(
                    select(aggregate(column)).scalar_subquery()
                    for column in columns
                    for aggregate in (func.count, func.max)
                )
            )
        ).one()
        pairs = [(values[i], values[i + 1]) for i in range(0, len(values), 2)]
        return cls(*pairs)


def _with_articles(files: KnowledgeBase, extra: list[Article]) -> KnowledgeBase:
    if not extra:
        return files
    return KnowledgeBase.build([*files.articles, *extra], semantic=files.semantic)


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
