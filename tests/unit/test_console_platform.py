"""The console adapter on its own: which buttons a number presses, console commands, blank lines."""

from __future__ import annotations

import io

from bot.messages import Button, Inbound, Reply
from bot.platforms.console import ConsoleChat

ADA, TESS = "ada@example.com", "tess@example.com"


class ScriptedBot:
    """Answers each inbound with the next scripted replies, delivered to the console as the outbox does,
    and remembers what it received."""

    def __init__(self, *script: list[Reply]) -> None:
        self.script = list(script)
        self.received: list[Inbound] = []
        self.chat: ConsoleChat | None = None

    def __call__(self, inbound: Inbound) -> None:
        self.received.append(inbound)
        assert self.chat is not None
        for reply in self.script.pop(0) if self.script else []:
            self.chat.send(self.chat.route(reply.to, None), reply)


def console(bot: ScriptedBot, speaker: str = ADA, as_json: bool = False) -> tuple[ConsoleChat, io.StringIO]:
    err = io.StringIO()
    names = {ADA: "Ada", TESS: "Tess"}
    bot.chat = ConsoleChat(bot, names.get, speaker, out=io.StringIO(), err=err, as_json=as_json)
    return bot.chat, err


QUESTION = Reply(
    ADA, "Did this solve it?", (Button("kb.solved:1", "That solved it"), Button("kb.unhelpful:1", "No"))
)


def test_a_reply_without_buttons_clears_the_numbers() -> None:
    bot = ScriptedBot([QUESTION], [Reply(ADA, "Your tickets: none")])
    chat, _ = console(bot)
    chat.feed("vpn?")
    chat.feed("my tickets")
    chat.feed("2")
    assert bot.received[-1].text == "2" and bot.received[-1].action is None  # a message, not a stale press
    chat.feed("No")
    assert bot.received[-1].action is None  # nor by label


def test_a_number_presses_the_latest_buttons_shown_to_the_speaker() -> None:
    bot = ScriptedBot([QUESTION, Reply(TESS, "queue", (Button("ticket.claim:1", "Claim"),))])
    chat, _ = console(bot)
    chat.feed("vpn?")
    chat.feed("2")
    assert bot.received[-1].action == "kb.unhelpful:1"


def test_a_newer_triage_post_is_what_a_technician_chooses_from() -> None:
    triage = Reply(
        "#triage", "ticket #3", (Button("ticket.claim:3", "Claim"), Button("ticket.show:3", "Details"))
    )
    bot = ScriptedBot(
        [Reply(TESS, "Queue", (Button("ticket.claim:1", "Claim #1"),))],
        [triage, Reply(ADA, "I've opened ticket #3")],
    )
    chat, _ = console(bot, TESS)
    chat.feed("queue")
    chat.feed("/as ada@example.com")
    chat.feed("talk to a human")
    chat.feed("1")  # Ada's latest reply had no buttons; the triage post came before it
    assert bot.received[-1].action is None
    chat.feed("/as tess@example.com")
    chat.feed("1")
    assert bot.received[-1].action == "ticket.claim:3"


def test_unknown_slash_commands_are_not_sent_to_the_bot() -> None:
    bot = ScriptedBot()
    chat, err = console(bot)
    chat.feed("/foo bar")
    assert bot.received == [] and "unknown command /foo — /help" in err.getvalue()
    chat.feed("/etc/hosts is broken")  # a path is a message
    assert bot.received[-1].text == "/etc/hosts is broken"


def test_blank_lines_do_nothing() -> None:
    for as_json in (False, True):
        bot = ScriptedBot()
        chat, err = console(bot, as_json=as_json)
        chat.run(["\n", "   \n"], interactive=False)
        assert bot.received == [] and err.getvalue() == ""


CODE_PROMPT = Reply(
    ADA,
    "I've emailed a 6-digit code. Type it here.",
    (Button("account.new_code", "Send a new code"), Button("account.cancel", "Cancel")),
    input_hint="code",
)


def test_digits_typed_at_a_code_prompt_are_the_code_not_a_button() -> None:
    bot = ScriptedBot([CODE_PROMPT])
    chat, err = console(bot)
    chat.feed("I forgot my password")
    chat.feed("134951")
    assert bot.received[-1].text == "134951" and bot.received[-1].action is None
    assert "There is no button" not in err.getvalue()
    chat.feed("Cancel")  # the buttons still work by label
    assert bot.received[-1].action == "account.cancel"


def test_without_the_hint_a_number_that_is_no_button_is_still_refused() -> None:
    bot = ScriptedBot([QUESTION])
    chat, err = console(bot)
    chat.feed("vpn?")
    chat.feed("134951")
    assert len(bot.received) == 1 and "There is no button 134951" in err.getvalue()


def test_the_json_output_carries_the_input_hint() -> None:
    bot = ScriptedBot([CODE_PROMPT])
    chat, _ = console(bot, as_json=True)
    chat.feed("I forgot my password")
    assert '"input_hint": "code"' in chat.out.getvalue()  # type: ignore[attr-defined]
