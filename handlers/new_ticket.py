"""Opening a ticket from the conversation: ask at most for the problem and whether it is urgent.

Everything else — who, when, department, title, location, manager, what the bot already tried — comes
from the directory and the conversation. Where the platform can open a form now (a Slack modal), both
questions are asked at once in it; its submission opens the ticket the same way, and what is missing is
said next to the field it concerns.
"""

from __future__ import annotations

import re

from bot import insights
from bot.messages import Button, Form, FormField
from bot.redact import hide_secrets
from handlers import conversations, problems, ticket_views, tickets
from handlers.context import Context
from handlers.registry import action, flow, in_flow

FLOW = "new_ticket"
URGENCY_QUESTION = "Is it urgent — does it stop you from working right now?"
URGENCY_BUTTONS = (
    Button("new_ticket.urgency:urgent", "Urgent", "danger"),
    Button("new_ticket.urgency:normal", "Not urgent"),
    Button("new_ticket.cancel", "Cancel"),
)
FORM_ACTION = "new_ticket.form"
TICKET_FORM = Form(
    action=FORM_ACTION,
    title="New ticket",
    submit="Open ticket",
    fields=(
        FormField(
            "urgency",
            "Does it stop you from working right now?",
            (("urgent", "Urgent"), ("normal", "Not urgent")),
        ),
        FormField("problem", "What's the problem?", multiline=True, placeholder="In a sentence or two"),
    ),
)
MIN_PROBLEM_CHARS = 5


def start(
    ctx: Context,
    *,
    problem: str = "",
    category: str = "question",
    transcript: str = "",
    intro: str = "",
    check_incidents: bool = True,
    report_id: int | None = None,
) -> None:
    """Begin a ticket; when the problem is already known, only urgency is asked.

    The ticket's transcript is what the caller says the bot tried, plus the last turns of the
    conversation up to now (taken here, before this flow's own questions and answers). A problem that is
    an open incident gets no ticket: the person is told it is known (`check_incidents=False` when they
    insist, or were already told; `report_id` is then the report the ticket comes from).
    """
    if not problem and ctx.can_show_form:
        _offer_form(ctx, intro)
        return
    if problem and check_incidents and problems.check_message(ctx, problem) is not None:
        return
    said = conversations.transcript(ctx.state)
    ctx.state.start(
        FLOW,
        "urgency" if problem else "problem",
        problem=hide_secrets(problem.strip()),  # kept in the conversation row until the ticket exists
        category=category,
        transcript="\n\n".join(
            part for part in (transcript, said and ticket_views.CONVERSATION_HEADING + said) if part
        ),
        check_incidents=check_incidents,
        report_id=report_id,
    )
    lead = f"{intro} " if intro else ""
    if problem:
        ctx.reply(f"{lead}I'll open a ticket for a technician. {URGENCY_QUESTION}", URGENCY_BUTTONS)
    else:
        ctx.reply(
            f"{lead}I'll open a ticket for a technician. In a sentence or two, what's the problem?",
            [Button("new_ticket.cancel", "Cancel")],
        )


@flow(FLOW, called="the ticket we were opening", choices=("urgency",))
def on_text(ctx: Context, text: str) -> None:
    if ctx.state.step == "problem":
        if ctx.state.data.get("check_incidents", True) and problems.check_message(ctx, text) is not None:
            ctx.state.end()  # a known problem: no ticket, unless they insist (the reply offers one)
            return
        ctx.state.goto("urgency", problem=hide_secrets(text.strip()))
        ctx.reply(URGENCY_QUESTION, URGENCY_BUTTONS)
    elif ctx.state.step == "urgency":
        urgent = urgency_of(text)
        if urgent is None:
            ctx.reply("Please choose: urgent or not urgent.", URGENCY_BUTTONS)
        else:
            _open(ctx, urgent=urgent)


# How people answer "Is it urgent?" in their own words; "not urgent" is read first ("no, not urgent").
_NOT_URGENT = re.compile(
    r"^\s*(no|n|nope|normal|low)\b|\bnot (urgent|really|that urgent|critical|blocking)\b|\bno (rush|hurry)\b"
    r"|\bcan wait\b|\bwhenever\b|\bi can (still )?work\b|\bnot (stopping|blocking) me\b",
    re.I,
)
_URGENT = re.compile(
    r"^\s*(yes|y|yep|yeah)\b|\burgent\b|\basap\b|\bcan'?t work\b|\bcannot work\b|\bblock(ed|ing|s) me\b"
    r"|\bemergency\b|\bcritical\b|\bright now\b|\bimmediately\b|\bstops? me\b",
    re.I,
)


def urgency_of(text: str) -> bool | None:
    """True for "urgent" ("yes, I can't work"), False for "not urgent" ("it can wait"), None otherwise."""
    if _NOT_URGENT.search(text):
        return False
    if _URGENT.search(text):
        return True
    return None


@action("new_ticket.urgency")
def on_urgency(ctx: Context, argument: str) -> None:
    if in_flow(ctx, FLOW, "urgency"):
        _open(ctx, urgent=argument == "urgent")


@action("new_ticket.open")
def on_open(ctx: Context, _: str) -> None:
    """The "New ticket" button (App Home, help): the form where the platform has one, else the chat flow."""
    start(ctx, category="human")


@action(FORM_ACTION)
def on_form(ctx: Context, _: str) -> None:
    """The submitted ticket form: opened like the chat flow's ticket, or each missing answer named."""
    problem, urgency = hide_secrets(ctx.submitted("problem")), ctx.submitted("urgency")
    errors = []
    if len(problem) < MIN_PROBLEM_CHARS:
        errors.append(("problem", "Say in a few words what is wrong, so a technician knows where to start."))
    if urgency not in ("urgent", "normal"):
        errors.append(("urgency", "Choose urgent or not urgent."))
    if errors:
        ctx.reply(
            "The ticket form is missing something: " + " ".join(e for _, e in errors), form_errors=errors
        )
        return
    said = conversations.transcript(ctx.state)
    transcript = said and ticket_views.CONVERSATION_HEADING + said
    ticket = _open_ticket(
        ctx, problem=problem, urgent=urgency == "urgent", category="human", transcript=transcript
    )
    problems.ticket_opened(ctx, ticket.id, problem, question_id=None, report_id=None)  # a report like any


@action("new_ticket.cancel")
def on_cancel(ctx: Context, _: str) -> None:
    if in_flow(ctx, FLOW):
        ctx.state.end()
        ctx.reply("OK, no ticket. Anything else I can help with?")


def _offer_form(ctx: Context, intro: str) -> None:
    lead = f"{intro} " if intro else ""
    # The text is what a platform shows when it could not open the form after all.
    ctx.reply(
        f"{lead}The ticket form didn't open in time. Say \"new ticket\" here and we'll do it in the "
        "conversation.",
        form=TICKET_FORM,
    )


def _open(ctx: Context, *, urgent: bool) -> None:
    data = ctx.state.data
    ticket = _open_ticket(
        ctx,
        problem=data["problem"],
        urgent=urgent,
        category=data.get("category", ""),
        transcript=data.get("transcript", ""),
    )
    insights.link_ticket(ctx.session, data.get("kb_question_id"), ticket.id)
    question_id, report_id = data.get("kb_question_id"), data.get("report_id")
    problems.ticket_opened(ctx, ticket.id, data["problem"], question_id=question_id, report_id=report_id)


def _open_ticket(
    ctx: Context, *, problem: str, urgent: bool, category: str, transcript: str
) -> tickets.Ticket:
    """Open it, end the flow and the topic, and tell the requester (the chat flow's and the form's end)."""
    ticket = tickets.open_ticket(
        ctx, problem=problem, urgent=urgent, category=category, transcript=transcript
    )
    ctx.state.end()
    conversations.end_topic(ctx.state)  # the next ticket is about something else
    when = "as urgent; a technician will pick it up first" if urgent else "; a technician will pick it up"
    ctx.reply(
        f"I've opened ticket #{ticket.id}{' ' if urgent else ''}{when}. "
        "They'll reply here, and you'll hear about every update.",
        ticket=ticket.id,
    )
    return ticket
