"""The home page (handlers/home.py): what each role sees on it, its buttons, and how it is kept fresh —
redrawn once after a burst of changes, only for people who opened it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from automations.demo_directory import DemoDirectory
from bot.messages import Reply
from bot.settings import DEMO_ACCESS_CATALOG, DEMO_DIRECTORY_FILE
from handlers import home
from tests.conftest import Harness, build_bot

ADA, BOB, CAROL, TESS, GRACE = (
    "ada@example.com",
    "bob@example.com",
    "carol@example.com",
    "tess@example.com",
    "grace@example.com",
)


@pytest.fixture
def directory() -> DemoDirectory:
    return DemoDirectory.from_file(DEMO_DIRECTORY_FILE)


@pytest.fixture
def h(sqlite_url: str, directory: DemoDirectory, clock: Callable[..., None]) -> Harness:
    bot, _ = build_bot(sqlite_url, directory=directory, access_catalog=DEMO_ACCESS_CATALOG)
    return Harness(bot)


def open_home(h: Harness, email: str) -> Reply:
    (page,) = [r for r in h.press(email, "home.open") if r.to == email and r.topic == home.HOME_TOPIC]
    return page


def labels(reply: Reply) -> list[str]:
    return [b.label for b in reply.buttons]


def refresh(h: Harness) -> list[Reply]:
    before = len(h.recorder.delivered)
    h.bot.run_job("refresh_home_pages", home.refresh_home_pages)
    h.bot.delivery.dispatcher.run_due()
    return [r for r in h.recorder.delivered[before:] if r.topic == home.HOME_TOPIC]


def ask_finance(h: Harness, who: str = BOB) -> list[Reply]:
    asked = h.say(who, "I need access to the finance share")
    h.press(who, h.button(asked, "8 hours (usual)"))
    h.say(who, "month-end close")
    return h.press(who, h.button([h.sent[-1]], "Confirm"))


def open_ticket(h: Harness, who: str, problem: str, *, urgent: bool) -> None:
    h.say(who, "new ticket")
    asked = h.say(who, problem)
    h.press(who, h.button(asked, "Urgent" if urgent else "Not urgent"))


def test_an_employee_sees_tickets_requests_and_grants_and_releases_from_home(
    h: Harness, directory: DemoDirectory
) -> None:
    open_ticket(h, BOB, "the projector in room 4 is dead", urgent=False)
    ask_finance(h)
    page = open_home(h, BOB)
    assert "Your open tickets:\n• #1" in page.text and "projector in room 4" in page.text
    assert "Your access requests:\n• Finance reports — pending" in page.text
    assert "New ticket" in labels(page) and not any(label.startswith("Release") for label in labels(page))

    approvals = open_home(h, GRACE)  # Bob's manager
    assert "Waiting for your approval:\n• Finance reports for Bob Marley" in approvals.text
    h.press(GRACE, h.button([approvals], "Approve Bob Marley: Finance reports"))

    page = open_home(h, BOB)
    assert "Access you have through me:\n• Finance reports — until" in page.text
    released = h.press(BOB, h.button([page], "Release Finance reports"))
    assert "I'm removing your Finance reports access now" in "\n".join(r.text for r in released)
    bob = directory.find_by_email(BOB)
    assert bob is not None and not directory.is_member(bob, "finance")
    again = h.press(BOB, h.button([page], "Release Finance reports"))  # the old page, pressed again
    assert "nothing to release" in again[-1].text


def test_someone_cannot_release_another_persons_grant(h: Harness) -> None:
    ask_finance(h)
    h.press(GRACE, h.button(Harness.to(h.sent, GRACE), "Approve"))
    release = next(b.id for b in open_home(h, BOB).buttons if b.label.startswith("Release"))
    assert "nothing to release" in h.press(ADA, release)[-1].text
    assert "Finance reports — until" in open_home(h, BOB).text


def test_a_technician_sees_the_queue_unclaimed_urgent_first_and_their_claims(h: Harness) -> None:
    open_ticket(h, ADA, "my monitor flickers all the time", urgent=False)
    open_ticket(h, CAROL, "the payroll server is down for everyone", urgent=True)
    open_ticket(h, BOB, "the printer on floor 2 is jammed again", urgent=False)
    h.press(TESS, "ticket.claim:3")
    page = open_home(h, TESS)
    waiting = page.text.split("Waiting for a technician:\n", 1)[1].split("\n\n", 1)[0]
    assert re.findall(r"#\d+", waiting) == ["#2", "#1"]
    assert "Your claims:\n• #3" in page.text
    assert labels(page)[:2] == ["Claim #2", "Claim #1"] and labels(page)[-1] == "New ticket"


def test_changes_redraw_an_opened_home_once_per_burst(h: Harness, clock: Callable[..., Any]) -> None:
    open_home(h, BOB)
    open_home(h, TESS)
    assert refresh(h) == []  # nothing changed
    open_ticket(h, BOB, "the projector in room 4 is dead", urgent=False)  # three events, a burst
    h.press(TESS, "ticket.claim:1")
    assert refresh(h) == []  # not settled yet
    clock(seconds=3)
    redrawn = refresh(h)
    assert sorted(r.to for r in redrawn) == [BOB, TESS]  # one each, however many changes
    assert "#1" in next(r.text for r in redrawn if r.to == BOB)
    assert "Your claims:\n• #1" in next(r.text for r in redrawn if r.to == TESS)
    clock(seconds=3)
    assert refresh(h) == []  # done until the next change


def test_a_home_nobody_opened_is_never_sent(h: Harness, clock: Callable[..., Any]) -> None:
    open_ticket(h, ADA, "my monitor flickers all the time", urgent=False)
    h.press(TESS, "ticket.claim:1")
    clock(seconds=3)
    assert refresh(h) == []
    assert all(r.topic != home.HOME_TOPIC for r in h.recorder.delivered)


def test_a_waiting_request_is_cancelled_from_home_and_can_no_longer_be_approved(h: Harness) -> None:
    sent = ask_finance(h)
    approve = h.button(Harness.to(sent, GRACE), "Approve")
    page = open_home(h, BOB)
    cancel = h.button([page], "Cancel request: Finance reports")
    assert "nothing to cancel" in h.press(ADA, cancel)[-1].text  # not Ada's to cancel
    done = h.press(BOB, cancel)
    assert "I've cancelled your request for Finance reports" in Harness.to(done, BOB)[0].text
    card = [r for r in Harness.to(done, GRACE) if r.update]
    assert card and "cancelled the request" in card[0].text and card[0].buttons == ()
    assert "nothing to cancel" in h.press(BOB, cancel)[-1].text  # pressed twice
    h.press(GRACE, approve)  # the approver's old card
    assert "No access requests waiting." in open_home(h, BOB).text
    assert "Access you have through me:\nNone." in open_home(h, BOB).text
