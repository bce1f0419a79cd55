"""One event, one transaction, on SQLite as on PostgreSQL: a retry after a database error is handled, not
dropped; and an approval racing a cancel commits exactly one outcome, which is the one everybody is told."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.store.models import ProcessedEvent
from handlers import registry
from tests.conftest import Harness, build_bot

ADA = "ada@example.com"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "sqlite":
        return sqlite_url
    return str(request.getfixturevalue("fresh_postgres_url"))


# ---------------------------------------------------------------- item 3: a retry after a database error

_hiccups: list[bool] = []


@registry.action("test.database_hiccup")
def _database_hiccup(ctx, _: str) -> None:
    """Stands for any handler whose transaction fails on a database error the first time only."""
    ctx.state.start("test.hiccup", "step")  # a write, so the event's transaction has changed something
    if not _hiccups:
        _hiccups.append(True)
        raise OperationalError("UPDATE conversations …", {}, Exception("database is locked"))
    ctx.reply("handled")


def test_a_retried_event_after_a_database_error_is_handled_not_dropped(database_url: str) -> None:
    _hiccups.clear()
    bot, _ = build_bot(database_url)
    h = Harness(bot)
    failed = h.press(ADA, "test.database_hiccup", event_id="evt-hiccup")
    assert "can't reach my database" in failed[0].text
    with bot.sessions() as s:  # the failed event left nothing behind, not even its id
        assert s.scalars(select(ProcessedEvent)).all() == []
    retried = h.press(ADA, "test.database_hiccup", event_id="evt-hiccup")
    assert [r.text for r in retried] == ["handled"]
    assert h.press(ADA, "test.database_hiccup", event_id="evt-hiccup") == []  # now it is a duplicate
