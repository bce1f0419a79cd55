"""The technician's side: the queue, a ticket's card, and working it by button or by short command.

Commands (also what the buttons do): `queue`, `show 12`, `claim 12`, `unclaim 12`, `assign 12 EMAIL`,
`reply 12 TEXT`, `note 12 TEXT`, `flag 12 needs_budget`, `unflag 12 needs_budget`, `waiting 12`,
`resolve 12 TEXT`, `close 12`, `reopen 12`. A button that needs words (Reply, Note, Resolve) takes the
technician's next message — unless that message is itself a command: a command is a command in every mode,
so `note 12 …` typed while a reply is pending is a note, never a message to the requester. A pending
prompt says what will be sent to whom and expires after `COMPOSE_TTL`. Where the platform can open a form
now (a Slack modal), Resolve asks for the resolution in one instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from bot import insights
from bot.clock import now
from bot.messages import Button, Form, FormField
from handlers import arguments, articles, incidents, people, sla, ticket_views, tickets
from handlers.context import Context
from handlers.registry import action, flow, in_flow

COMPOSE = "compose"
_QUEUE_WORDS = frozenset({"queue", "q", "tickets"})
_REPORT_WORDS = frozenset({"gaps", "kb report", "knowledge gaps"})
_MINE_WORDS = frozenset({"mine", "assigned to me", "my queue", "my assigned tickets"})
# Words requesters use too ("close 12", "reopen 12", "tickets"): without a confirmed role they go on to the
# requester's side rather than being refused.
_REQUESTER_WORDS_TOO = frozenset({"close", "reopen", "tickets"})
# "note: the cable was loose" typed in a ticket's own thread: a note on that ticket, no number needed.
_THREAD_NOTE = re.compile(r"^\s*(?:internal\s+)?note\b\s*[:\-–]?\s*(?P<text>\S.*)$", re.S | re.I)
_COMMAND = re.compile(r"^\s*(?P<verb>[a-z]+)\s+#?(?P<id>\d+)\b\s*(?P<rest>.*)$", re.S | re.I)
# What the technician's next message will become, and who will read it.
_COMPOSE_PROMPTS = {
    "reply": "Your next message will be sent to {requester} on ticket #{id}",
    "note": "Your next message will be added to ticket #{id} as an internal note (the requester won't "
    "see it)",
    "resolve": "Your next message will be sent to {requester} as the resolution of ticket #{id} (it can "
    "become an article)",
}
# A prompt left pending is dropped after this, so a line typed much later (or after a restart) is not sent.
COMPOSE_TTL = timedelta(minutes=10)


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


def show_mine(ctx: Context) -> None:
    """The open tickets assigned to the speaker."""
    mine = tickets.open_tickets_where(ctx.session, tickets.Ticket.assignee_email == ctx.speaker.email)
    if not mine:
        ctx.reply("No open tickets are assigned to you. 'queue' shows what is waiting.")
        return
    ctx.reply(
        f"Assigned to you: {len(mine)}\n" + "\n".join(ticket_views.queue_line(t) for t in mine),
        [Button(f"ticket.show:{t.id}", f"Open #{t.id}") for t in mine[:5]],
    )


def show(ctx: Context, ticket_id: int) -> None:
    ticket = tickets.get(ctx.session, ticket_id)
    events = ticket.events[-8:]
    ctx.reply(
        "History:\n" + "\n".join(ticket_views.event_line(e) for e in events),
        ticket_views.technician_buttons(ticket),
        card=ticket_views.ticket_card(ticket, full=True, targets=sla.Targets.of(ctx.settings)),
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


def is_command(text: str) -> bool:
    """Whether `text` reads as a technician command ("queue", "note 12 …"), whatever mode one is in."""
    words = text.strip().lower()
    match = _COMMAND.match(text)
    return (
        articles.is_command(text)
        or incidents.is_command(text)
        or words in _QUEUE_WORDS | _REPORT_WORDS | _MINE_WORDS
        or bool(match and match["verb"].lower() in _COMMANDS)
    )


def try_command(ctx: Context, text: str) -> bool:
    """Run `text` as a technician command; False when it is not one."""
    if articles.try_command(ctx, text) or incidents.try_command(ctx, text):
        return True
    if text.strip().lower() in _QUEUE_WORDS:
        show_queue(ctx)
        return True
    if text.strip().lower() in _REPORT_WORDS:
        show_kb_report(ctx)
        return True
    if text.strip().lower().rstrip(".!") in _MINE_WORDS:
        show_mine(ctx)
        return True
    match = _COMMAND.match(text)
    if not match or match["verb"].lower() not in _COMMANDS:
        return False
    run = _COMMANDS[match["verb"].lower()]
    tickets.guarded(ctx, lambda: run(ctx, tickets.parse_id(match["id"]), match["rest"].strip()))
    return True


def try_thread_note(ctx: Context, ticket_id: int, text: str) -> bool:
    """ "note: …" written in ticket `ticket_id`'s thread is an internal note on it; False otherwise."""
    match = _THREAD_NOTE.match(text)
    if match is None or _COMMAND.match(text):
        return False
    tickets.guarded(ctx, lambda: _note(ctx, ticket_id, match["text"].strip()))
    return True


def try_thread_command(ctx: Context, ticket_id: int, text: str) -> bool:
    """In ticket `ticket_id`'s thread the ticket goes without saying: a bare "claim" or "resolve" written
    there is that command on it, never a message for the requester; and while a reply or resolution for
    it is being composed, what is written there is that text. False otherwise."""
    verb = text.strip().lower().rstrip(".!")
    if verb in _COMMANDS:
        tickets.guarded(ctx, lambda: _COMMANDS[verb](ctx, ticket_id, ""))
        return True
    composing = ctx.state.flow == COMPOSE and ctx.state.data.get("ticket_id") == ticket_id
    if composing and _compose_age(ctx.state.data) <= COMPOSE_TTL:
        on_compose_text(ctx, text)
        return True
    return False


def refuse_non_technician(ctx: Context, text: str) -> bool:
    """A technician command from someone who is not one (or whose role the directory cannot confirm now):
    say so, rather than treat "claim 1" or "queue" as a question for the knowledge base — which would
    answer with an article and record a knowledge gap."""
    match = _COMMAND.match(text)
    verb = match["verb"].lower() if match else text.strip().lower()
    if verb not in (_COMMANDS.keys() | _QUEUE_WORDS | _REPORT_WORDS) - _REQUESTER_WORDS_TOO:
        return False
    if tickets.role_unverifiable(ctx):
        ctx.reply(tickets.ROLE_UNVERIFIED)
        return True
    yours = (
        "As a manager you can say 'approvals' or 'team tickets'."
        if ctx.speaker.is_manager
        else "To add to one of your tickets, say 'reopen N' and what to add; 'my tickets' lists them."
    )
    ctx.reply(f"'{verb}' is a technician command, for the service desk. {yours}")
    return True


def _claim(ctx: Context, ticket_id: int, _: str) -> None:
    ticket = tickets.claim(ctx, ticket_id)
    ctx.reply(
        f"Ticket #{ticket.id} is yours.",
        ticket_views.technician_buttons(ticket),
        card=ticket_views.ticket_card(ticket, targets=sla.Targets.of(ctx.settings)),
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
    if not text and ctx.can_show_form:
        _offer_resolve_form(ctx, ticket_id)
        return
    if not text:
        _compose(ctx, "resolve", ticket_id)
        return
    _resolve_with(ctx, ticket_id, text)


def _resolve_with(ctx: Context, ticket_id: int, text: str) -> None:
    ticket = tickets.resolve(ctx, ticket_id, text)
    ctx.reply(
        f"Ticket #{ticket_id} resolved; the requester was asked to rate it.",
        [Button(f"kb.draft:{ticket.id}", "Publish as article")],
        ticket=ticket_id,
    )


def _offer_resolve_form(ctx: Context, ticket_id: int) -> None:
    ticket = tickets.get(ctx.session, ticket_id)  # fail now, not after the technician has typed
    label = f"How was it resolved? {ticket.requester_name} will read this, and it may become an article."
    form = Form(
        action=f"{RESOLVE_FORM}:{ticket_id}",
        title=f"Resolve #{ticket_id}",
        submit="Resolve",
        fields=(FormField("resolution", label, multiline=True),),
    )
    ctx.reply(  # the text is what a platform shows when it could not open the form after all
        f"The form to resolve #{ticket_id} didn't open in time. Say `resolve {ticket_id} ...` with the "
        "resolution instead.",
        form=form,
        ticket=ticket_id,
    )


RESOLVE_FORM = "ticket.resolve_form"


@action(RESOLVE_FORM)
def on_resolve_form(ctx: Context, argument: str) -> None:
    """The submitted resolution: the ticket is resolved as by `resolve N TEXT`; a refusal (no text, not
    a technician, already closed) is shown next to the field, and the form stays open."""
    try:
        tickets.require_technician(ctx)
        _resolve_with(ctx, tickets.parse_id(argument), ctx.submitted("resolution"))
    except tickets.TicketError as error:
        ctx.reply(str(error), form_errors=[("resolution", str(error))])


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
    ticket = tickets.get(ctx.session, ticket_id)  # fail now, not after the technician has typed
    ctx.state.start(COMPOSE, purpose, ticket_id=ticket_id, since=now().isoformat())
    requester = f"{ticket.requester_name} ({ticket.requester_email})"
    minutes = int(COMPOSE_TTL.total_seconds() // 60)
    ctx.reply(
        _COMPOSE_PROMPTS[purpose].format(id=ticket_id, requester=requester)
        + f" — type `cancel` to stop. (This waits {minutes} minutes.)",
        [Button("compose.cancel", "Cancel")],
        ticket=ticket_id,
    )


def drop_expired_compose(ctx: Context) -> None:
    """A compose prompt left too long (or one a conversation timeout just ended) must not swallow this
    message: drop it and say the text was not sent; the router then treats the text as usual."""
    timed_out = [data for flow_name, data in ctx.state.ended if flow_name == COMPOSE]
    if ctx.state.flow == COMPOSE and _compose_age(ctx.state.data) > COMPOSE_TTL:
        timed_out.append(dict(ctx.state.data))
        ctx.state.end()
    for data in timed_out:
        ctx.reply(
            f"Your pending message for ticket #{data.get('ticket_id')} expired, so what you just typed was "
            "not sent to anyone as that; I treated it as a new message."
        )


def _compose_age(data: dict[str, object]) -> timedelta:
    try:
        since = datetime.fromisoformat(str(data.get("since")))
    except ValueError:
        return timedelta.max  # a prompt from before prompts expired: treat it as stale
    return now() - since


@flow(COMPOSE)
def on_compose_text(ctx: Context, text: str) -> None:
    purpose, ticket_id = ctx.state.step, int(ctx.state.data["ticket_id"])
    ctx.state.end()
    if is_command(text):  # a command is a command in every mode: never relay it as the reply
        ctx.reply(f"(I dropped the pending {purpose} for #{ticket_id} and ran your command instead.)")
        try_command(ctx, text)
        return
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
