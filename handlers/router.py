"""Where an inbound event goes: a button to its handler; a message to the flow the person is in, a
technician command, the ticket they are following, or — by intent — a flow, and otherwise the
knowledge base (which offers a ticket when it has no answer).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from handlers import account, new_ticket, publish, question, requester, technician
from handlers.context import Context
from handlers.registry import action_handler, flow_handler

_REGISTERED = (publish,)  # modules that only register buttons and flows

IntentHandler = Callable[[Context, str], None]
# Intents with a flow of their own; the others are handled below.
intent_handlers: dict[str, IntentHandler] = {
    "reset_password": account.start_reset,
    "unlock_account": account.start_unlock,
}

_CANCEL = {"cancel", "stop", "never mind", "nevermind", "new", "menu", "start over", "reset conversation"}
_HELP = {"help", "?", "what can you do", "commands"}
_MY_TICKETS = re.compile(r"^\s*(my tickets|tickets|status)\s*$", re.I)
_REOPEN = re.compile(r"^\s*reopen\s+#?(\d+)\s*(.*)$", re.I | re.S)


def dispatch(ctx: Context) -> None:
    inbound = ctx.inbound
    if inbound.action is not None:
        _press(ctx, inbound.action)
    else:
        _message(ctx, inbound.text.strip())


def _press(ctx: Context, button_id: str) -> None:
    name, _, argument = button_id.partition(":")
    handler = action_handler(name)
    if handler is None:
        ctx.reply("I don't know that button; it may be from an older version of me. What do you need?")
        return
    handler(ctx, argument)


def _message(ctx: Context, text: str) -> None:
    lowered = text.lower().rstrip(".!")
    if lowered in _CANCEL:
        had_flow = bool(ctx.state.flow or ctx.state.thread_ticket_id)
        ctx.state.end()
        ctx.state.thread_ticket_id = None
        ctx.reply(("OK, dropped that. " if had_flow else "") + "What can I help you with?")
        return
    if lowered in _HELP:
        ctx.reply(help_text(ctx))
        return
    if ctx.inbound.thread_ticket is not None and _thread_message(ctx, ctx.inbound.thread_ticket, text):
        return
    in_flow = flow_handler(ctx.state.flow) if ctx.state.flow else None
    if in_flow is not None:
        in_flow(ctx, text)
        return
    if ctx.speaker.is_technician and technician.try_command(ctx, text):
        return
    if _requester_command(ctx, text):
        return
    if ctx.state.thread_ticket_id and requester.relay_follow_up(ctx, ctx.state.thread_ticket_id, text):
        return
    _by_intent(ctx, text)


def _thread_message(ctx: Context, ticket_id: int, text: str) -> bool:
    """A message the platform placed in a ticket's thread: technicians reply, requesters follow up."""
    if ctx.speaker.is_technician:
        return technician.try_command(ctx, f"reply {ticket_id} {text}")
    return requester.relay_follow_up(ctx, ticket_id, text)


def _requester_command(ctx: Context, text: str) -> bool:
    if _MY_TICKETS.match(text):
        requester.show_my_tickets(ctx)
        return True
    reopen = _REOPEN.match(text)
    if reopen:
        requester.reopen(ctx, int(reopen[1]), reopen[2].strip())
        return True
    return False


def _by_intent(ctx: Context, text: str) -> None:
    intent, _confidence = ctx.services.classify(text)
    if intent in intent_handlers:
        intent_handlers[intent](ctx, text)
    elif intent == "smalltalk":
        _smalltalk(ctx, text)
    elif intent == "ticket_status":
        requester.show_my_tickets(ctx)
    elif intent == "talk_to_human":
        new_ticket.start(ctx, category="human", intro="Sure, let's get you a person.")
    elif intent == "report_outage":
        new_ticket.start(ctx, problem=text, category="outage", intro="Thanks for reporting it.")
    elif intent == "request_access":
        new_ticket.start(ctx, problem=text, category=intent, intro="A technician will handle this.")
    else:
        question.answer(ctx, text)


def _smalltalk(ctx: Context, text: str) -> None:
    if re.search(r"\b(thank|thx|cheers|ta)\b", text, re.I):
        ctx.reply("You're welcome! Anything else?")
    elif re.search(r"\b(bye|goodbye|see you|later)\b", text, re.I):
        ctx.reply("Bye! I'm here whenever you need IT help.")
    else:
        ctx.reply(f"Hi {ctx.speaker.name.split(' ')[0]}! {help_text(ctx)}")


def help_text(ctx: Context) -> str:
    lines = [
        "I'm the IT service desk bot. Tell me what you need in your own words, for example:",
        '• a question — "how do I connect to the VPN?"',
        '• "I forgot my password" or "I\'m locked out"',
        '• "talk to a human" — I\'ll open a ticket',
        '• "my tickets" — the status of your tickets; "reopen 12" if something came back',
        '• "cancel" — drop what we were doing',
    ]
    if ctx.speaker.is_technician:
        lines += [
            "Technician commands: queue · show N · claim N · unclaim N · assign N EMAIL · reply N TEXT ·",
            "note N TEXT · flag N needs_budget|needs_approval · unflag N FLAG · waiting N · resolve N TEXT ·",
            "close N · reopen N",
        ]
    return "\n".join(lines)
