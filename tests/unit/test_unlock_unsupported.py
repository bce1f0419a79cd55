"""A directory with no unlock (Entra ID): the person is offered a reset or a ticket, before any verification
when the directory says so up front, and after it when the unlock itself is refused."""

from __future__ import annotations

from automations.demo_directory import DemoDirectory
from automations.directory import DirectoryPerson, UnlockUnsupported
from handlers.account.records import NO_UNLOCK
from tests.conftest import DIRECTORY, Harness, build_bot

BOB = "bob@example.com"  # locked in the test directory


class NoUnlockUpFront(DemoDirectory):
    supports_unlock = False


class UnlockRefused(DemoDirectory):
    def unlock(self, person: DirectoryPerson) -> None:
        raise UnlockUnsupported("no unlock here")


def test_a_directory_without_unlock_offers_a_reset_or_a_ticket_before_verifying(sqlite_url: str) -> None:
    bot, _ = build_bot(
        sqlite_url,
        directory=NoUnlockUpFront.from_document(DIRECTORY),
        unlock_verification="manager_approval",
    )
    replies = Harness(bot).say(BOB, "I'm locked out")
    assert [r.text for r in replies] == [NO_UNLOCK]  # no approval asked of the manager
    assert [b.label for b in replies[0].buttons] == ["Reset my password", "Open a ticket"]


def test_an_unlock_refused_by_the_directory_offers_the_same(sqlite_url: str) -> None:
    directory = UnlockRefused.from_document(DIRECTORY)
    bot, _ = build_bot(sqlite_url, directory=directory, unlock_verification="chat_identity")
    replies = Harness(bot).say(BOB, "I'm locked out")
    assert NO_UNLOCK in [r.text for r in Harness.to(replies, BOB)]
    assert directory.account_status(directory.find_by_email(BOB)).locked  # type: ignore[arg-type]
