"""Where an inbound event goes: a button to its handler; a message to the flow the person is in, a
technician command, the ticket they are following, or — by intent — a flow, and otherwise the
knowledge base (which offers a ticket when it has no answer).

A message typed in a flow is the flow's answer unless it is plainly another request (`_set_aside`): a known
command at any step, or a clear intent at a step that waits for a choice among buttons.

A person following a ticket (a technician wrote to them) still gets what they clearly ask for — a
reset, an unlock, a person, their tickets, a new ticket; everything else goes to the ticket, with a
reminder of how to leave it when the message looks like a new question.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot import logs
from bot.messages import Button
from handlers import (
    access,
    account,
    articles,
    conversations,
    incidents,
    manager,
    new_ticket,
    places,
    question,
    requester,
    short_answers,
    technician,
)
from handlers.context import Context
from kb.intent.guards import is_acknowledgement, is_safety_hazard, veto

IntentHandler = Callable[[Context, str], None]
# Intents with a flow of their own; the others are handled below.
intent_handlers: dict[str, IntentHandler] = {
    "reset_password": account.start_reset,
    "unlock_account": account.start_unlock,
}

SECRET_HIDDEN = (
    "I hid what looked like a password in your message; never send passwords in chat — if it is real, "
    "change it."
)
_CANCEL = {"cancel", "stop", "never mind", "nevermind", "new", "menu", "start over", "reset conversation"}
_HELP = {"help", "?", "what can you do", "commands"}
_MY_TICKETS = re.compile(r"^\s*(my tickets|tickets|status)\s*$", re.I)
_REOPEN = re.compile(r"^\s*reopen\s+#?(\d+)\s*(.*)$", re.I | re.S)
# "withdraw 12 REASON", "withdraw ticket #12", "cancel ticket 12 REASON", "cancel #12" (not a bare "cancel")
_WITHDRAW = re.compile(
    r"^\s*(withdraw\s+(ticket\s+)?#?|cancel\s+(ticket\s+#?|#))(?P<id>\d+)\b[\s:,.-]*(?P<reason>.*)$",
    re.I | re.S,
)
_NEW_TICKET = re.compile(
    r"^\s*((open|create|start|raise) )?(a )?(new|another) (ticket|request)\s*[.!]?$", re.I
)
# "done with #12", "done with the ticket" — but a bare "done" may answer the technician ("I restarted it").
_LEAVE_THREAD = re.compile(
    r"^\s*(i'?m )?(done|finished) with (((the|this|that|my) )?ticket|(ticket )?#?(?P<id>\d+))"
    r"\s*[.!]?$",
    re.I,
)
# Intents that win over relaying to a followed ticket: the person plainly wants something else.
_CLEAR_INTENTS = {"reset_password", "unlock_account", "talk_to_human", "ticket_status"}
# Requests clear enough to leave a step that waits for a choice, when the classifier is at least this sure
# (above its own threshold: outside a flow an unsure message still gets an answer; here it would cost the
# person their place).
_MID_FLOW_INTENTS = {"reset_password", "unlock_account", "ticket_status", "talk_to_human", "request_access"}
_MID_FLOW_CONFIDENCE = 0.9
# A yes/no question in a flow ("is a person going to look at this?", "will my manager see it?") is about
# the flow far more often than a new request, so it never replaces the flow (a look-up still answers).
_YES_NO_QUESTION = re.compile(r"^\s*(is|are|am|was|were|will|would|does|do|did|has|have|should)\b", re.I)
# A technician's look-up command that is also how people cite something as a reason or a description.
_BARE_REFERENCE = re.compile(r"^\s*(ticket|incident|article|show)\s+#?\d+\s*[.!]?$", re.I)
# A followed ticket gets the message, but one that reads like a new question earns a reminder.
_QUESTION = re.compile(r"\?\s*$|^\s*(how|what|where|why|when|who|can|could|is|are|do|does|should)\b", re.I)


def dispatch(ctx: Context) -> None:
    inbound = ctx.event
    logs.bind(conversation=ctx.state.conversation_id)
    typing_a_code = ctx.state.flow == account.FLOW  # verification codes are typed in this flow
    was_private = ctx.state.flow in places.PRIVATE_FLOWS
    if inbound.action is not None:
        _press(ctx, inbound.action)
    else:
        _message(ctx, inbound.text.strip())
        _warn_if_secret(ctx)
    places.keep_private_out_of_threads(ctx, was_private=was_private)
    _remember(ctx, secret=typing_a_code)


def _warn_if_secret(ctx: Context) -> None:
    """Every sink hid it (redact.hide_secrets); the person must also learn not to send it, and change it."""
    if conversations.looks_secret(ctx.event.text):
        ctx.reply(SECRET_HIDDEN)


def _remember(ctx: Context, *, secret: bool) -> None:
    """Keep this turn for a later ticket's transcript (bounded; secrets only as a placeholder)."""
    said = ctx.event.text if ctx.event.action is None else _pressed_label(ctx)
    if said:
        conversations.remember(ctx.state, ctx.speaker.name, said, secret=secret)
    mine = [reply for reply in ctx.outbox.replies if reply.to == ctx.speaker.email]
    conversations.remember_replies(ctx.state, mine)
    if ctx.state.topic_ended:  # a later ticket's transcript starts after this event's turns
        conversations.begin_topic(ctx.state)


def _pressed_label(ctx: Context) -> str:
    # Only the label is worth keeping ("Not what I need"); ids are internal.
    label = conversations.pressed_label(ctx.state, ctx.event.action or "")
    return f"(pressed {label})" if label else ""


def _press(ctx: Context, button_id: str) -> None:
    name, _, argument = button_id.partition(":")
    handler = ctx.services.registry.action_handler(name)
    if handler is None:
        ctx.reply("I don't know that button; it may be from an older version of me. What do you need?")
        return
    handler(ctx, argument)


def _message(ctx: Context, text: str) -> None:
    lowered = text.lower().rstrip(".!")
    if lowered in _CANCEL:
        flow_cancel = ctx.services.registry.cancel_handler(ctx.state.flow) if ctx.state.flow else None
        if flow_cancel is not None:  # the flow says what cancelling it did
            flow_cancel(ctx)
            ctx.state.thread_ticket_id = None
            return
        had_flow = bool(ctx.state.flow or ctx.state.thread_ticket_id)
        ctx.state.end()
        ctx.state.thread_ticket_id = None
        ctx.reply(("OK, dropped that. " if had_flow else "") + "What can I help you with?")
        return
    if lowered in _HELP:
        ctx.reply(help_text(ctx))
        return
    if is_safety_hazard(text):  # safety first, whatever flow or ticket the person is in
        ctx.state.end()
        question.report_hazard(ctx, text)
        return
    if ctx.event.thread_ticket is not None and _thread_message(ctx, ctx.event.thread_ticket, text):
        return
    technician.drop_expired_compose(ctx)
    account.approval.release_if_expired(ctx)
    if account.approval.waiting_for_approval(ctx.state):
        # Nothing typed belongs to a wait for a manager: the person's message is handled as usual.
        _route(ctx, text)
        account.approval.remind_of_wait(ctx)
        return
    meant = short_answers.button_meant(ctx.state, text)
    if meant is not None:  # "yes", "nope", "that worked" to the question just asked: its button
        _press(ctx, meant)
        return
    in_flow = ctx.services.registry.flow_handler(ctx.state.flow) if ctx.state.flow else None
    if in_flow is not None:
        if not _set_aside(ctx, text):
            in_flow(ctx, text)
        return
    _route(ctx, text)


def _set_aside(ctx: Context, text: str) -> bool:
    """A plainly different request typed in a flow is handled as that request, not taken as the step's
    answer: at a step waiting for a choice, a known command or a clear intent; at a step waiting for free
    text (a reason, a description, a code), only a known command, so prose stays the answer.

    A request answered at once ("my tickets") leaves the flow where it was, and says so under the answer
    with the question's buttons again; one that starts something else (a reset, a ticket) replaces the
    flow — a person has one conversation at a time — and says so before it begins."""
    about = ctx.services.registry.about(ctx.state.flow)
    if about is None:
        return False
    if ctx.state.step in about.choices:
        other = _is_known_command(ctx, text) or _is_clear_request(ctx, text)
    else:  # "incident 42" may be the reason asked for; "claim 42" never is
        other = _is_known_command(ctx, text) and not _BARE_REFERENCE.match(text)
    if not other:
        return False
    pending = [Button(str(c["id"]), str(c.get("label", ""))) for c in short_answers.latest_choices(ctx.state)]
    said, left = len(ctx.outbox.replies), len(ctx.state.ended)
    _route(ctx, text)
    called = about.called
    if len(ctx.state.ended) == left:  # still in the flow, at the same step
        ctx.reply(
            f"{called[0].upper()}{called[1:]} is still open: answer my question about it, or say 'cancel'.",
            pending,
        )
        return True
    restarted = ctx.state.flow == ctx.state.ended[left][0]  # "new ticket" while opening one
    ctx.reply(
        f"I've dropped {called} and started again with what you just asked."
        if restarted
        else f"I've dropped {called}; ask me again whenever you want it."
    )
    ctx.outbox.replies.insert(said, ctx.outbox.replies.pop())  # said first: what follows replaces it
    return True


def _is_known_command(ctx: Context, text: str) -> bool:
    """Word for word one of the speaker's commands: "my tickets", "new ticket", "reopen 12", "withdraw 12
    …", "my access", and those of their roles ("queue", "approvals")."""
    if any(command.match(text) for command in (_MY_TICKETS, _REOPEN, _WITHDRAW, _NEW_TICKET)):
        return True
    if access.grants.is_command(ctx, text):
        return True
    if ctx.speaker.is_technician and technician.is_command(text):
        return True
    return ctx.speaker.is_manager and manager.is_command(ctx, text)


def _is_clear_request(ctx: Context, text: str) -> bool:
    """A request plain enough to leave a question with buttons: about access, or an intent the
    classifier is sure of and its guards allow (no reset unless the message names a password, an
    account, signing in, a lock)."""
    if access.grants.is_request(ctx, text):
        return True
    intent, confidence = ctx.services.classify(text)
    if intent not in _MID_FLOW_INTENTS or confidence < _MID_FLOW_CONFIDENCE:
        return False
    if intent != "ticket_status" and _YES_NO_QUESTION.match(text):
        return False
    return veto(text, intent) is None


def _route(ctx: Context, text: str) -> None:
    """A message outside any flow: a command, a requester's request, the followed ticket, or by intent."""
    if _leave_thread(ctx, text):
        return
    if articles.try_command(ctx, text):  # technicians' commands; anyone else is told so
        return
    if incidents.try_command(ctx, text):  # the same
        return
    if ctx.speaker.is_technician and technician.try_command(ctx, text):
        return
    if ctx.speaker.is_manager and manager.try_command(ctx, text):
        return
    if technician.refuse_non_technician(ctx, text):
        return
    if _requester_command(ctx, text):
        return
    if access.try_command(ctx, text):
        return
    if manager.answer_typed_decision(ctx, text):
        return
    intent, _confidence = ctx.services.classify(text)
    following = ctx.state.thread_ticket_id
    if following and intent not in _CLEAR_INTENTS and _relay(ctx, following, text, intent):
        return
    _by_intent(ctx, text, intent)


def _relay(ctx: Context, ticket_id: int, text: str, intent: str | None) -> bool:
    """A plain follow-up goes to the followed ticket; a message that may be a new question goes there too,
    but the person is told how to stop that."""
    ambiguous = intent not in (None, "smalltalk") or bool(_QUESTION.search(text))
    return requester.relay_follow_up(ctx, ticket_id, text, remind=ambiguous)


def _leave_thread(ctx: Context, text: str) -> bool:
    """ "done with #12": stop relaying to the ticket (it stays open)."""
    match = _LEAVE_THREAD.match(text)
    following = ctx.state.thread_ticket_id
    named = int(match["id"]) if match and match["id"] else None
    if match is None or (following is None and named is None):
        return False
    if following is None or (named is not None and named != following):
        ctx.reply(f"I'm not passing your messages to ticket #{named} anyway. What can I help you with?")
        return True
    ctx.state.thread_ticket_id = None
    ctx.reply(
        f"OK, I'll stop passing your messages to ticket #{following}; it stays open, and you'll still "
        "hear about every update. What can I help you with?",
        ticket=following,
    )
    return True


def _thread_message(ctx: Context, ticket_id: int, text: str) -> bool:
    """A message the platform placed in a ticket's thread: technicians reply, requesters follow up.
    A technician's command stays a command there: `note 12 …` in the thread is a note, never a reply, and
    a bare `claim` or `resolve` is that command on the thread's ticket."""
    if ctx.speaker.is_technician:
        if technician.is_command(text):
            return technician.try_command(ctx, text)
        if technician.try_thread_note(ctx, ticket_id, text) or technician.try_thread_command(
            ctx, ticket_id, text
        ):
            return True
        return technician.try_command(ctx, f"reply {ticket_id} {text}")
    return requester.relay_follow_up(ctx, ticket_id, text)


def _requester_command(ctx: Context, text: str) -> bool:
    if _MY_TICKETS.match(text):
        requester.show_my_tickets(ctx)
        return True
    reopen = _REOPEN.match(text)
    if reopen:
        requester.reopen(ctx, reopen[1], reopen[2].strip())
        return True
    withdraw = _WITHDRAW.match(text)
    if withdraw:
        requester.withdraw(ctx, withdraw["id"], withdraw["reason"].strip())
        return True
    if _NEW_TICKET.match(text):
        new_ticket.start(ctx, category="human")
        return True
    return False


def _by_intent(ctx: Context, text: str, intent: str | None) -> None:
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
        access.start_request(ctx, text)  # the catalogue, or a ticket when there is none
    elif is_acknowledgement(text):  # "ok", "cool", "thanks!" never go to the knowledge base
        _smalltalk(ctx, text)
    else:
        question.answer(ctx, text)


def _smalltalk(ctx: Context, text: str) -> None:
    if re.search(r"\b(thanks?|thx|cheers|ta)\b", text, re.I):
        ctx.reply("You're welcome! Anything else?")
        conversations.end_topic(ctx.state)  # thanks and goodbyes close an exchange: no ticket needs them
    elif re.search(r"\b(bye|goodbye|see you|later)\b", text, re.I):
        ctx.reply("Bye! I'm here whenever you need IT help.")
        conversations.end_topic(ctx.state)
    elif is_acknowledgement(text):  # "ok", "cool", "got it" with nothing pending: no greeting, no article
        ctx.reply("OK! Anything else I can help with?")
    else:
        ctx.reply(f"Hi {ctx.speaker.name.split(' ')[0]}! {help_text(ctx)}")


def help_text(ctx: Context) -> str:
    lines = [
        "I'm the IT service desk bot. Tell me what you need in your own words, for example:",
        '• a question — "how do I connect to the VPN?"',
        '• "I forgot my password" or "I\'m locked out"',
        '• "talk to a human" or "new ticket" — I\'ll open a ticket',
        '• "my tickets" — the status of your tickets; "reopen 12" if something came back',
        '• "withdraw 12 REASON" — you no longer need ticket 12',
        '• "done with #12" — stop passing your messages to ticket 12',
        '• "I need access to the finance share" — access from the catalogue, approved and time-limited',
        '• "what access do I have?", "my requests", "I\'m done with finance", "extend finance"',
        '• "cancel" — drop what we were doing',
    ]
    if ctx.speaker.is_technician:
        lines += [
            "Technician commands: queue · show N · claim N · unclaim N · assign N EMAIL · reply N TEXT ·",
            "note N TEXT · flag N needs_budget|needs_approval · unflag N FLAG · waiting N · resolve N TEXT ·",
            "close N · reopen N · mine (assigned to me) · revoke access N REASON",
            "Articles: articles · article ID · edit article ID · withdraw article ID REASON ·",
            "restore article ID",
            "Incidents: incidents · incident N · incident N cause TEXT · incident N resolve TEXT ·",
            "incident N link T · incident N unlink T · incident N publish",
        ]
    if ctx.speaker.is_manager:
        lines += [
            'Manager: "approvals" (waiting for you) · "team tickets" (your team\'s open tickets) ·',
            '"digest" (yesterday; "digest 7" for a week) · "how is the desk doing this week?"',
        ]
    return "\n".join(lines)
