"""Where the core answers a message written in a shared place (`Inbound.place`, a channel thread): back
there, unless the conversation is private — then in the person's DM, with a note in the place."""

from __future__ import annotations

import pytest

from bot.messages import Inbound, Person, Reply
from handlers.places import MOVED_TO_DM
from tests.conftest import Harness, build_bot

ADA = "ada@example.com"
THREAD = "CGENERAL:1700000000.000100"


@pytest.fixture
def h(sqlite_url: str) -> Harness:
    bot, _ = build_bot(sqlite_url, reset_verification="chat_identity")
    return Harness(bot)


def in_thread(h: Harness, text: str = "", action: str | None = None) -> list[Reply]:
    inbound = Inbound(Person("test", ADA, ADA), text=text, action=action, place=THREAD)
    return h._deliver(inbound)


def test_an_answer_goes_back_to_the_thread_it_was_asked_in(h: Harness) -> None:
    replies = in_thread(h, "how do I set up the vpn")
    assert replies and all(r.place == THREAD for r in replies if r.to == ADA)
    assert all(r.place == "" for r in h.say(ADA, "how do I set up the vpn"))  # the DM: no place


def test_a_reset_asked_in_a_thread_happens_in_the_dm(h: Harness) -> None:
    replies = in_thread(h, "I forgot my password")
    in_place = [r.text for r in replies if r.place == THREAD]
    assert in_place == [MOVED_TO_DM]
    private = [r for r in replies if r.to == ADA and r.place == ""]
    assert private and all("password" not in text.lower() for text in in_place)
    for _ in range(3):  # confirm with a button, pressed on a message in the DM or the thread
        if any(r.secret for r in h.sent):
            break
        pressed = in_thread(h, action=next(r for r in reversed(h.sent) if r.buttons).buttons[0].id)
        assert all(r.place == "" for r in pressed if r.text != MOVED_TO_DM)
    assert [r.to for r in h.sent if r.secret] == [ADA]  # the password, once
    assert [r for r in h.sent if r.secret and r.place] == []  # and never in the thread
