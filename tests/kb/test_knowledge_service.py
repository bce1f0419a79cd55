"""The knowledge service of the running bot: article files noticed without a restart, publications and
confirmations applied without re-indexing the files, large rebuilds off the request path."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bot.knowledge import KnowledgeService
from bot.store import db
from bot.store.models import KbArticle, KbExample
from tests.kb.helpers import article

WHEN = datetime(2026, 11, 20, 9, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'kb.db'}")
    db.upgrade(engine)
    with db.make_session_factory(engine)() as s:
        yield s


def ids(service: KnowledgeService, session: Session) -> list[str]:
    return sorted(a.id for a in service.for_session(session).articles)


def test_added_changed_and_deleted_files_are_noticed_after_the_recheck_interval(
    folder: Path, session: Session
) -> None:
    clock = Clock()
    service = KnowledgeService(folder, semantic=False, recheck_seconds=10, clock=clock)
    assert ids(service, session) == ["printer", "vpn"]
    (folder / "wifi.md").write_text(article("wifi", "Join the guest wifi"), encoding="utf-8")
    (folder / "vpn.md").unlink()
    changed = folder / "printer.md"
    changed.write_text(article("printer", "Printer toner is empty"), encoding="utf-8")
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    clock.now += 5
    assert ids(service, session) == ["printer", "vpn"]  # not looked at again yet: no stat per message
    clock.now += 5
    assert ids(service, session) == ["printer", "wifi"]
    hit = service.for_session(session).search("printer toner empty").hits[0]
    assert hit.article.title == "Printer toner is empty"


def test_publishing_and_learning_leave_the_files_index_alone(folder: Path, session: Session) -> None:
    service = KnowledgeService(folder, semantic=False)
    first = service.for_session(session)
    files = service._files.kb
    session.add(
        KbArticle(
            id="coffee",
            title="The coffee machine shows error E42",
            body="1. Empty the drip tray.",
            tags=[],
            questions=["coffee machine error"],
            links=[],
            created_at=WHEN,
            updated_at=WHEN,
        )
    )
    session.add(KbExample(article_id="vpn", text="get on the corporate network", created_at=WHEN))
    session.flush()
    kb = service.for_session(session)
    assert kb is not first and service._files.kb is files  # the file articles were not re-indexed
    assert "coffee" in {a.id for a in kb.articles}
    assert kb.extra_questions == {"vpn": ["get on the corporate network"]}
    assert service.for_session(session) is kb  # nothing changed: the same index


def test_a_large_knowledge_base_is_rebuilt_in_the_background(folder: Path, session: Session) -> None:
    service = KnowledgeService(folder, semantic=False, sync_rebuild_articles=1)  # "large" from 2 articles
    before = service.for_session(session)
    session.add(
        KbArticle(
            id="coffee",
            title="Coffee machine error E42",
            body="1. Empty the drip tray.",
            tags=[],
            questions=[],
            links=[],
            created_at=WHEN,
            updated_at=WHEN,
        )
    )
    session.flush()
    assert service.for_session(session) is before  # answers at once, from the previous index
    deadline = time.monotonic() + 30
    while "coffee" not in {a.id for a in service.for_session(session).articles}:
        assert time.monotonic() < deadline, "the background rebuild never landed"
        time.sleep(0.05)
