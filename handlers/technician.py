"""The technician's side: the queue, a ticket's card, and working it by button or by short command.

Commands (also what the buttons do): `queue`, `show 12`, `claim 12`, `unclaim 12`, `assign 12 EMAIL`,
`reply 12 TEXT`, `note 12 TEXT`, `flag 12 needs_budget`, `unflag 12 needs_budget`, `waiting 12`,
`resolve 12 TEXT`, `close 12`, `reopen 12`. A button that needs words (Reply, Note, Resolve) takes the
technician's next message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from bot.clock import now
from bot.messages import Button
from handlers import arguments, insights, people, ticket_views, tickets
from handlers.context import Context
from handlers.registry import action, flow, in_flow

COMPOSE = "compose"
_QUEUE_WORDS = frozenset({"queue", "q", "tickets"})
_REPORT_WORDS = frozenset({"gaps", "kb report", "knowledge gaps"})
# Words requesters use too ("close 12", "reopen 12", "tickets"): without a confirmed role they go on to the
# requester's side rather than being refused.
_REQUESTER_WORDS_TOO = frozenset({"close", "reopen", "tickets"})
_COMMAND = re.compile(r"^\s*(?P<verb>[a-z]+)\s+#?(?P<id>\d+)\b\s*(?P<rest>.*)$", re.S | re.I)
_COMPOSE_PROMPTS = {
    "reply": "Type your reply to the requester for ticket #{id}.",
    "note": "Type an internal note for ticket #{id} (the requester won't see it).",
    "resolve": "How was ticket #{id} resolved? (The requester sees this, and it can become an article.)",
}


def show_queue(ctx: Context) -> None:
    open_tickets = tickets.queue(ctx.session)
    if not open_tickets:
        ctx.reply("The queue is empty. Nice.")
        return
    full_page = len(open_tickets) == tickets.QUEUE_PAGE
    total = tickets.count_open(ctx.session) if full_page else len(open_tickets)
    shown = f" (showing {len(open_tickets)})" if total > len(open_tickets) else ""
    buttons = [_first_button(t) for t in open_tickets[:5]]
    ctx.reply(
        f"Open tickets: {total}{shown}, unclaimed urgent first:\n"
        + "\n".join(ticket_views.queue_line(t) for t in open_tickets),
        buttons,
        quoted=tuple(part for t in open_tickets for part in (t.subject, t.requester_name)),
    )


def show(ctx: Context, ticket_id: int) -> None:
    ticket = tickets.get(ctx.session, ticket_id)
    events = ticket.events[-8:]
    ctx.reply(
        "History:\n" + "\n".join(ticket_views.event_line(e) for e in events),
        ticket_views.technician_buttons(ticket),
        card=ticket_views.ticket_card(ticket, full=True),
        ticket=ticket.id,
        quoted=ticket_views.typed_parts(ticket, events),
    )


def show_kb_report(ctx: Context) -> None:
    """What the knowledge base could not answer this week, and the articles people keep rejecting."""
    gaps = insights.knowledge_gaps(ctx.session, now() - timedelta(days=7))
    weak = insights.weak_articles(ctx.session)
    lines = ["Questions nobody could answer yet (7 days):", *(f"• {q}" for q in gaps)]
    lines += [] if gaps else ["• none"]
    lines.append("Articles flagged as not helpful:")
    lines += [f"• {a} ({up} helpful, {down} not)" for a, up, down in weak] or ["• none"]
    ctx.reply("\n".join(lines))


def try_command(ctx: Context, text: str) -> bool:
    """Run `text` as a technician command; False when it is not one."""
    if text.strip().lower() in _QUEUE_WORDS:
        show_queue(ctx)
        return True
    if text.strip().lower() in _REPORT_WORDS:
        show_kb_report(ctx)
        return True
    match = _COMMAND.match(text)
    if not match or match["verb"].lower() not in _COMMANDS:
        return False
    run = _COMMANDS[match["verb"].lower()]
    tickets.guarded(ctx, lambda: run(ctx, tickets.parse_id(match["id"]), match["rest"].strip()))
    return True


def refuse_unverified(ctx: Context, text: str) -> bool:
    """A technician command from someone whose role the directory cannot confirm now: say so, rather than
    treat "claim 1" as a question for the knowledge base."""
    if not tickets.role_unverifiable(ctx):
        return False
    match = _COMMAND.match(text)
    verb = match["verb"].lower() if match else text.strip().lower()
    if verb not in (_COMMANDS.keys() | _QUEUE_WORDS | _REPORT_WORDS) - _REQUESTER_WORDS_TOO:
        return False
    ctx.reply(tickets.ROLE_UNVERIFIED)
    return True


def _claim(ctx: Context, ticket_id: int, _: str) -> None:
    ticket = tickets.claim(ctx, ticket_id)
    ctx.reply(
        f"Ticket #{ticket.id} is yours.",
        ticket_views.technician_buttons(ticket),
        card=ticket_views.ticket_card(ticket),
        ticket=ticket.id,
        quoted=ticket_views.typed_parts(ticket),
    )


def _unclaim(ctx: Context, ticket_id: int, _: str) -> None:
    tickets.unclaim(ctx, ticket_id)
    ctx.reply(f"Ticket #{ticket_id} is back in the queue.")


def _assign(ctx: Context, ticket_id: int, email: str) -> None:
    if not email:
        _offer_assignees(ctx, ticket_id)
        return
    tickets.reassign(ctx, ticket_id, email)
    ctx.reply(f"Ticket #{ticket_id} is now assigned to {ticket_views.display_name(ctx, email)}.")


def _reply(ctx: Context, ticket_id: int, text: str) -> None:
    if not text:
        _compose(ctx, "reply", ticket_id)
        return
    tickets.reply_to_requester(ctx, ticket_id, text)
    ctx.reply(f"Sent to the requester of #{ticket_id}.", ticket=ticket_id)


def _note(ctx: Context, ticket_id: int, text: str) -> None:
    if not text:
        _compose(ctx, "note", ticket_id)
        return
    tickets.add_note(ctx, ticket_id, text)
    ctx.reply(f"Note added to #{ticket_id}.", ticket=ticket_id)


def _flag(ctx: Context, ticket_id: int, flag: str) -> None:
    if not flag:
        ctx.reply(
            f"Which flag for #{ticket_id}?",
            [
                Button(f"ticket.setflag:{ticket_id}:{name}", name.replace("_", " "))
                for name in ticket_views.FLAGS
            ],
        )
        return
    tickets.set_flag(ctx, ticket_id, flag.replace(" ", "_").lower())
    ctx.reply(f"Flag set on #{ticket_id}; the requester was told why it takes longer.", ticket=ticket_id)


def _unflag(ctx: Context, ticket_id: int, flag: str) -> None:
    tickets.set_flag(ctx, ticket_id, flag.replace(" ", "_").lower(), on=False)
    ctx.reply(f"Flag cleared on #{ticket_id}.", ticket=ticket_id)


def _waiting(ctx: Context, ticket_id: int, _: str) -> None:
    tickets.mark_waiting(ctx, ticket_id)
    ctx.reply(f"Ticket #{ticket_id} is waiting on the requester.", ticket=ticket_id)


def _resolve(ctx: Context, ticket_id: int, text: str) -> None:
    if not text:
        _compose(ctx, "resolve", ticket_id)
        return
    ticket = tickets.resolve(ctx, ticket_id, text)
    ctx.reply(
        f"Ticket #{ticket_id} resolved; the requester was asked to rate it.",
        [Button(f"kb.draft:{ticket.id}", "Publish as article")],
        ticket=ticket_id,
    )


def _close(ctx: Context, ticket_id: int, _: str) -> None:
    tickets.close(ctx, ticket_id)
    ctx.reply(f"Ticket #{ticket_id} closed.", ticket=ticket_id)


def _reopen(ctx: Context, ticket_id: int, reason: str) -> None:
    tickets.reopen(ctx, ticket_id, reason)
    ctx.reply(f"Ticket #{ticket_id} reopened.", ticket=ticket_id)


def _show(ctx: Context, ticket_id: int, _: str) -> None:
    show(ctx, ticket_id)


_COMMANDS: dict[str, Callable[[Context, int, str], None]] = {
    "show": _show,
    "ticket": _show,
    "claim": _claim,
    "unclaim": _unclaim,
    "assign": _assign,
    "reply": _reply,
    "note": _note,
    "flag": _flag,
    "unflag": _unflag,
    "waiting": _waiting,
    "resolve": _resolve,
    "close": _close,
    "reopen": _reopen,
}


def _compose(ctx: Context, purpose: str, ticket_id: int) -> None:
    tickets.get(ctx.session, ticket_id)  # fail now, not after the technician has typed
    ctx.state.start(COMPOSE, purpose, ticket_id=ticket_id)
    ctx.reply(_COMPOSE_PROMPTS[purpose].format(id=ticket_id), [Button("compose.cancel", "Cancel")])


@flow(COMPOSE)
def on_compose_text(ctx: Context, text: str) -> None:
    purpose, ticket_id = ctx.state.step, int(ctx.state.data["ticket_id"])
    ctx.state.end()
    tickets.guarded(ctx, lambda: _COMMANDS[purpose](ctx, ticket_id, text.strip()))


@action("compose.cancel")
def on_compose_cancel(ctx: Context, _: str) -> None:
    if in_flow(ctx, COMPOSE):
        ctx.state.end()
        ctx.reply("Cancelled.")


def _offer_assignees(ctx: Context, ticket_id: int) -> None:
    others = [email for email in people.technicians(ctx.services) if email != ctx.speaker.email]
    if not others:
        ctx.reply("There is no other technician to assign it to.")
        return
    ctx.reply(
        f"Assign #{ticket_id} to whom?",
        [
            Button(f"ticket.assignto:{ticket_id}:{email}", ticket_views.display_name(ctx, email))
            for email in others
        ],
    )


def _first_button(ticket: tickets.Ticket) -> Button:
    if ticket.assignee_email is None:
        return Button(f"ticket.claim:{ticket.id}", f"Claim #{ticket.id}")
    return Button(f"ticket.show:{ticket.id}", f"Open #{ticket.id}")


def _technician_action(verb: str) -> Callable[[Context, str], None]:
    """A ticket button (`ticket.VERB:ID[:EXTRA]`) runs the command of the same name."""

    def handle(ctx: Context, argument: str) -> None:
        ticket_ref, _, extra = argument.partition(":")

        def run() -> None:
            tickets.require_technician(ctx)
            ticket_id = tickets.parse_id(ticket_ref)
            text = arguments.bounded_text(extra)
            if text is None:
                raise tickets.TicketError("That button is broken; please use the ticket's card again.")
            _COMMANDS[verb](ctx, ticket_id, text)

        tickets.guarded(ctx, run)

    return handle


for _verb in ("claim", "show", "unclaim", "reply", "note", "waiting", "resolve", "close", "flag"):
    action(f"ticket.{_verb}")(_technician_action(_verb))
action("ticket.assign")(_technician_action("assign"))
action("ticket.assignto")(_technician_action("assign"))
action("ticket.setflag")(_technician_action("flag"))
