"""One event, one transaction, on SQLite as on PostgreSQL: a retry after a database error is handled, not
dropped; and an approval racing a cancel commits exactly one outcome, which is the one everybody is told."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.messages import Reply
from bot.store.models import ProcessedEvent, ResetRequest
from handlers import registry
from tests.conftest import Harness, build_bot

ADA, GRACE = "ada@example.com", "grace@example.com"
ROUNDS = 30


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


# ---------------------------------------------------------------- item 4: approve vs cancel


def _cancel_by_typing(h: Harness) -> list[Reply]:
    return h.say(ADA, "cancel")


def _cancel_by_button(h: Harness) -> list[Reply]:
    return h.press(ADA, "account.cancel")


def _race(bot, approve: str, cancel: Callable[[Harness], list[Reply]]) -> tuple[list[Reply], list[Reply]]:
    barrier = threading.Barrier(2)
    results: dict[str, list[Reply]] = {}

    def run(name: str, act: Callable[[], list[Reply]]) -> None:
        barrier.wait()
        results[name] = act()

    threads = [
        threading.Thread(target=run, args=("approve", lambda: Harness(bot).press(GRACE, approve))),
        threading.Thread(target=run, args=("cancel", lambda: cancel(Harness(bot)))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(results) == {"approve", "cancel"}, "a side of the race never answered"
    return results["approve"], results["cancel"]


def _said_cancelled(text: str) -> bool:
    lowered = text.lower()
    return "cancelled" in lowered or "nothing was changed" in lowered or "dropped" in lowered


def test_approve_racing_cancel_commits_one_outcome_and_says_that_one(database_url: str) -> None:
    bot, _ = build_bot(
        database_url,
        reset_verification="manager_approval",
        resets_per_day=ROUNDS + 1,
        account_requests_per_day=ROUNDS + 1,
    )
    account = bot.services.directory._accounts[ADA]
    outcomes = []
    for round_number in range(ROUNDS):
        resets_before = account.resets
        asked = Harness(bot).say(ADA, "I forgot my password")
        approve = Harness.button(Harness.to(asked, GRACE), "Approve")
        cancel = _cancel_by_typing if round_number % 2 else _cancel_by_button
        approve_replies, cancel_replies = _race(bot, approve, cancel)
        every = approve_replies + cancel_replies
        with bot.sessions() as s:
            status = s.scalars(select(ResetRequest).order_by(ResetRequest.id.desc())).first().status
        to_ada = [r for r in every if r.to == ADA]
        to_grace = [r for r in every if r.to == GRACE]
        where = f"round {round_number}: {status}, {[r.text for r in every]}"
        assert not any("database" in r.text or "went wrong" in r.text for r in every), where
        if status == "cancelled":
            outcomes.append("cancelled")
            assert account.resets == resets_before, where
            assert not any(r.secret for r in to_ada), where
            assert any(_said_cancelled(r.text) for r in to_ada), where
            assert any("already handled (cancelled)" in r.text for r in to_grace), where
        else:
            outcomes.append("reset")
            assert status == "done" and account.resets == resets_before + 1, where
            assert sum(1 for r in to_ada if r.secret) == 1, where
            assert not any(_said_cancelled(r.text) for r in to_ada), where
            assert any("Approved" in r.text for r in to_grace), where
    assert len(outcomes) == ROUNDS
