"""The console: the embedded chat platform. Lines in, the bot's messages out — readable or JSON.

It translates and never decides: a line becomes an `Inbound` text or button press for the person
speaking; each `Reply` is printed. The console is also a `Deliverer` (bot/delivery/port.py), an inline
one: every message for anyone reaches this terminal, delivered right after the line's commit, so the
chat feels synchronous although it goes through the outbox like every other platform. Buttons are
numbered and chosen by number or label; `/as EMAIL` switches the speaker (to play the technician or the
manager).

Which buttons a number chooses from: those of the latest message shown to the speaker — any new message
to them replaces their set, even one without buttons, so "2" never presses a button from an old
question — unless a channel they can see (triage) posted buttons more recently than that. A terminal
started again (or switched to someone with `/as`) begins with the buttons of the latest message the
speaker was shown before, from `remember`, so a restart mid-conversation loses nothing.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from bot.messages import Button, Inbound, Person, Reply
from bot.textsafety import printable

CONSOLE_HELP = """Console commands:
  /as EMAIL     speak as someone else (a technician, a manager, another employee)
  /whoami       who is speaking now
  /press ID     press a button by its id (e.g. ticket.claim:3)
  /help         this list
  /quit         leave (Ctrl-D works too)
Anything else is a message to the bot. Choose a button by its number or its label."""
_COMMAND_WORD = re.compile(r"^/[A-Za-z][\w-]*$")  # "/foo", but not a path like "/etc/hosts"


class ConsoleChat:
    platform = "console"
    inline = True

    def __init__(
        self,
        handle: Callable[[Inbound], object] | None,
        lookup_name: Callable[[str], str | None],
        speaker: str,
        *,
        out: TextIO = sys.stdout,
        err: TextIO = sys.stderr,
        as_json: bool = False,
        remember: Callable[[str], Reply | None] | None = None,
    ) -> None:
        self.handle = handle
        self.remember = remember  # the latest message shown to someone in an earlier session
        self.lookup_name = lookup_name
        self.speaker = speaker.strip().lower()
        self.out, self.err, self.as_json = out, err, as_json
        self._buttons: dict[str, list[Button]] = {}  # each recipient's buttons, latest message last
        self._numbers = itertools.count(1)
        self._hints: dict[str, str] = {}  # each recipient's latest message's input hint
        self._lock = threading.Lock()  # the dispatcher's thread prints too (retries, deletions)

    # --- the Deliverer port -----------------------------------------------------------------------------

    def route(self, recipient: str, identity: dict[str, Any] | None) -> dict[str, Any]:
        return {"to": recipient}  # one terminal shows everyone's messages and every channel

    def send(self, address: dict[str, Any], payload: object) -> dict[str, Any]:
        if isinstance(payload, Reply):
            self._show(payload)
        return {"message": next(self._numbers)}

    def update(self, ref: dict[str, Any], payload: object) -> dict[str, Any]:
        return self.send({}, payload)  # a terminal cannot edit a printed line: show the new version

    def delete(self, ref: dict[str, Any]) -> None:
        with self._lock:
            if self.as_json:
                self.out.write(json.dumps({"deleted": ref.get("message")}) + "\n")
            else:
                self.out.write("bot: (a message that held a temporary password has expired)\n")
            self.out.flush()

    def run(self, lines: Iterable[str], interactive: bool = False) -> int:
        if interactive:
            self._prompt()
        for raw in lines:
            line = raw.rstrip("\r\n")
            if line.strip() in ("/quit", "/exit"):
                break
            self.feed(line)
            if interactive:
                self._prompt()
        return 0

    def feed(self, line: str) -> None:
        """Handle one line typed by the current speaker."""
        text = line.strip()
        if not text:
            return
        if text.startswith("/") and self._console_command(text):
            return
        if _COMMAND_WORD.match(text.split()[0]):
            self._error(f"unknown command {text.split()[0]} — /help lists the console commands")
            return
        button = None if self._typing_a_code(text) else self._chosen_button(text)
        if button is None and text.isdigit() and self._visible_buttons() and not self._typing_a_code(text):
            self._error(
                f"There is no button {text}; choose 1-{len(self._visible_buttons())} or type a message."
            )
            return
        self._deliver(
            Inbound(
                person=self._person(),
                text=line if button is None else "",
                action=button.id if button else None,
                event_id=f"console-{uuid.uuid4().hex}",
            )
        )

    def _deliver(self, inbound: Inbound) -> None:
        if self.handle is not None:
            self.handle(inbound)  # what the bot says comes back through `send`

    def _console_command(self, text: str) -> bool:
        command, _, argument = text.partition(" ")
        argument = argument.strip()
        if command == "/help":
            self.err.write(CONSOLE_HELP + "\n")
        elif command == "/whoami":
            self.err.write(f"you are {self.speaker}\n")
        elif command == "/as":
            self._switch(argument)
        elif command == "/press":
            if not argument:
                self._error("usage: /press BUTTON_ID")
            else:
                self._deliver(
                    Inbound(person=self._person(), action=argument, event_id=f"console-{uuid.uuid4().hex}")
                )
        else:
            return False
        return True

    def _switch(self, email: str) -> None:
        email = email.lower()
        if not email:
            self._error("usage: /as EMAIL")
        elif self.lookup_name(email) is None:
            self._error(f"{email} is not in the directory; still speaking as {self.speaker}.")
        else:
            self.speaker = email
            if not self.as_json:
                self.err.write(f"(now speaking as {email})\n")

    def _person(self) -> Person:
        return Person(
            platform="console",
            platform_user_id=self.speaker,
            email=self.speaker,
            name=self.lookup_name(self.speaker) or self.speaker,
        )

    def _recall(self) -> None:
        """The speaker's buttons from before this session, unless this session has shown them something;
        older than anything shown here, so they come first."""
        if self.remember is None or self.speaker in self._buttons:
            return
        earlier = self.remember(self.speaker)
        if earlier is not None:
            self._buttons = {self.speaker: list(earlier.buttons), **self._buttons}
            self._hints.setdefault(self.speaker, earlier.input_hint)

    def _visible_buttons(self) -> list[Button]:
        """The buttons of the latest message the speaker can see: their own, or a channel's posted since."""
        self._recall()
        visible = [to for to in self._buttons if to == self.speaker or to.startswith("#")]
        return self._buttons[visible[-1]] if visible else []

    def _typing_a_code(self, text: str) -> bool:
        """Digits answering the speaker's latest message when it asked for a code (`Reply.input_hint`)."""
        self._recall()
        visible = [to for to in self._buttons if to == self.speaker or to.startswith("#")]
        asked_for_code = (
            bool(visible) and visible[-1] == self.speaker and self._hints.get(self.speaker) == "code"
        )
        return asked_for_code and text.replace(" ", "").isdigit()

    def _chosen_button(self, text: str) -> Button | None:
        visible = self._visible_buttons()
        if text.isdigit():
            index = int(text) - 1
            return visible[index] if 0 <= index < len(visible) else None
        lowered = text.lower()
        return next((b for b in visible if b.label.lower() == lowered), None)

    def _show(self, reply: Reply) -> None:
        # Every message replaces its recipient's set, even without buttons; re-inserting keeps the dict in
        # the order messages were shown, so the latest one is last.
        with self._lock:
            self._buttons.pop(reply.to, None)
            self._buttons[reply.to] = list(reply.buttons)
            self._hints[reply.to] = reply.input_hint
            self.out.write((self._as_json(reply) if self.as_json else self._as_text(reply)) + "\n")
            self.out.flush()

    @staticmethod
    def _as_json(reply: Reply) -> str:
        message: dict[str, object] = {
            "to": reply.to,
            "text": reply.text,
            "buttons": [{"id": b.id, "label": b.label} for b in reply.buttons],
            "ticket": reply.ticket,
        }
        if reply.input_hint:
            message["input_hint"] = reply.input_hint
        if reply.card is not None:
            message["card"] = {"title": reply.card.title, "fields": [list(f) for f in reply.card.fields]}
        if reply.attachment:
            message["attachment"] = reply.attachment
        if reply.secret is not None:
            message["secret"] = reply.secret
            message["delete_after"] = reply.delete_after
        return json.dumps(message, ensure_ascii=False)

    def _as_text(self, reply: Reply) -> str:
        header = "bot" if reply.to == self.speaker else f"bot → {reply.to}"
        lines = [f"{header}: {reply.text}"]
        if reply.card is not None:
            lines.append(f"  ┌ {reply.card.title}")
            lines += [f"  │ {label}: {value}" for label, value in reply.card.fields]
        if reply.buttons:
            lines.append("  " + "  ".join(f"[{i}] {b.label}" for i, b in enumerate(reply.buttons, 1)))
        if reply.attachment:
            lines.append(f"  (attached: {reply.attachment})")
        if reply.secret is not None and reply.delete_after:
            lines.append(
                f"  (on Slack or Teams this message is deleted after {reply.delete_after // 60} min)"
            )
        return printable("\n".join(lines))  # people's words in it must not drive the terminal

    def _prompt(self) -> None:
        self.err.write(f"{self.speaker}> ")
        self.err.flush()

    def _error(self, message: str) -> None:
        self.err.write(f"error: {printable(message)}\n")
        self.err.flush()
