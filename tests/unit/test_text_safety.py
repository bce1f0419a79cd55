"""Control characters and bidi overrides are shown, never obeyed: the shared escaping, the console's text
mode, and the marking of user-supplied text in replies so every platform adapter can escape it."""

from __future__ import annotations

import io

import pytest

from bot.messages import Card, Reply
from bot.platforms.console import ConsoleChat
from bot.textsafety import printable
from tests.conftest import Harness

ADA, TESS = "ada@example.com", "tess@example.com"
HOSTILE = "fine\x1b[2J\x1b]0;pwned\x07 \u202eexe.txt\u202c \r overwritten \x9b1m <!channel>"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\rb", "a\\x0db"),
        ("\u202eexe.txt", "\\u202eexe.txt"),
        ("\u2066isolate\u2069", "\\u2066isolate\\u2069"),
        ("\x9b", "\\x9b"),
        ("\udcff", "\\udcff"),
        ("two\nlines\tand a tab, café, 日本, 🔴", "two\nlines\tand a tab, café, 日本, 🔴"),
    ],
)
def test_printable_escapes_controls_and_bidi_and_keeps_the_rest(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_the_console_text_mode_shows_control_characters_escaped() -> None:
    out = io.StringIO()
    hostile = Reply(to=ADA, text=HOSTILE, card=Card("#1 " + HOSTILE, (("Problem", HOSTILE),)))
    console = ConsoleChat(None, lambda email: email, ADA, out=out)
    console.handle = lambda _inbound: console.send(console.route(ADA, None), hostile)  # as the outbox does
    console.feed("hello")
    shown = out.getvalue()
    assert not any(ch in shown for ch in "\x1b\x07\r\x9b\u202e\u202c")
    assert "\\x1b[2J" in shown and "\\u202eexe.txt" in shown


def test_relayed_and_posted_user_text_is_marked_as_quoted(harness: Harness) -> None:
    opened = harness.say(ADA, "talk to a human") + harness.say(ADA, "printer <!channel> jams")
    opened += harness.say(ADA, "not urgent")
    triage = [r for r in opened if r.to.startswith("#")]
    assert triage and "printer <!channel> jams" in triage[0].quoted
    asked = harness.say(TESS, "reply 1 Does <@U123> know? <http://evil.example|click>")
    to_ada = Harness.to(asked, ADA)
    assert to_ada and "Does <@U123> know? <http://evil.example|click>" in to_ada[0].quoted
    answered = harness.say(ADA, "it says <!here> PC LOAD LETTER")
    to_tess = Harness.to(answered, TESS)
    assert to_tess and "it says <!here> PC LOAD LETTER" in to_tess[0].quoted
    for reply in [*triage, *to_ada, *to_tess]:  # what is marked is what the text (or card) carries
        shown = reply.text + "".join(value for _, value in (reply.card.fields if reply.card else ()))
        assert all(part in shown or part in (reply.card.title if reply.card else "") for part in reply.quoted)
