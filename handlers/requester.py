"""The requester's side of a ticket: status, follow-ups, "it's solved", rating, reopening."""

from __future__ import annotations

from bot.messages import Button
from handlers import ticket_views, tickets
from handlers.context import Context
from handlers.registry import action, flow, in_flow
from handlers.tickets import TicketError

FOLLOW_UP = "follow_up"
RATING_COMMENT = "rating_comment"
_SCORES = ("1", "2", "3", "4", "5")


def show_my_tickets(ctx: Context) -> None:
    mine = tickets.tickets_of(ctx.session, ctx.speaker.email)
    if not mine:
        ctx.reply("You have no tickets. If something is wrong, tell me about it.")
        return
    ctx.reply(
        "Your tickets:\n" + "\n".join(ticket_views.status_line(t) for t in mine),
        quoted=tuple(t.subject for t in mine),
    )


def relay_follow_up(ctx: Context, ticket_id: int, text: str, *, remind: bool = False) -> bool:
    """Add the speaker's message to their ticket. False (and focus dropped) when the ticket is done.

    `remind`: the message may be meant for the bot, not the ticket — say how to stop relaying.
    """
    try:
        ticket = tickets.requester_message(ctx, ticket_id, text)
    except TicketError:
        if ctx.state.thread_ticket_id == ticket_id:
            ctx.state.thread_ticket_id = None
        return False
    who = _handler_of(ctx, ticket)
    hint = f" Not about this ticket? Say 'done with #{ticket.id}', then ask me again." if remind else ""
    ctx.reply(f"Added to ticket #{ticket.id}; {who} will see it.{hint}", ticket=ticket.id)
    return True


@action("ticket.answer")
def on_answer(ctx: Context, argument: str) -> None:
    def ask() -> None:
        ticket = tickets.get(ctx.session, tickets.parse_id(argument))
        if ticket.requester_email != ctx.speaker.email:
            raise TicketError(f"Ticket #{ticket.id} is not one of yours.")
        ctx.state.start(FOLLOW_UP, "text", ticket_id=ticket.id)
        ctx.reply(
            f"What would you like to add to ticket #{ticket.id}?", [Button("follow_up.cancel", "Cancel")]
        )

    tickets.guarded(ctx, ask)


@flow(FOLLOW_UP, called="what you were adding to the ticket")
def on_follow_up_text(ctx: Context, text: str) -> None:
    ticket_id = int(ctx.state.data["ticket_id"])
    ctx.state.end()
    if not relay_follow_up(ctx, ticket_id, text):
        ctx.reply(f"Ticket #{ticket_id} is no longer open. Say 'reopen {ticket_id}' if it isn't fixed.")


@action("follow_up.cancel")
def on_follow_up_cancel(ctx: Context, _: str) -> None:
    if in_flow(ctx, FOLLOW_UP):
        ctx.state.end()
        ctx.reply("Cancelled.")


@action("ticket.solved")
def on_solved(ctx: Context, argument: str) -> None:
    """The requester says it is fixed: tell the technician, who resolves it with the real resolution."""

    def tell() -> None:
        ticket = tickets.requester_message(ctx, tickets.parse_id(argument), "The requester says it's solved.")
        ctx.reply(f"Thanks! I told the technician; they'll close ticket #{ticket.id}.", ticket=ticket.id)

    tickets.guarded(ctx, tell)  # someone else's ticket, or a closed one: only the refusal, no thanks


@action("ticket.rate")
def on_rate(ctx: Context, argument: str) -> None:
    ticket_ref, _, score = argument.partition(":")
    if score not in _SCORES:
        ctx.reply("That rating button is broken; please rate again from the ticket message.")
        return

    def rate() -> None:
        ticket = tickets.rate(ctx, tickets.parse_id(ticket_ref), int(score))
        ctx.state.start(RATING_COMMENT, "text", ticket_id=ticket.id)
        ctx.reply(
            f"Thanks for rating ticket #{ticket.id} {score}/5. Anything you'd like to add? (optional)",
            [Button("rating_comment.skip", "No comment")],
            ticket=ticket.id,
        )

    tickets.guarded(ctx, rate)


@flow(RATING_COMMENT, called="your comment on the rating")
def on_rating_comment(ctx: Context, text: str) -> None:
    ticket_id = int(ctx.state.data["ticket_id"])
    ctx.state.end()
    if tickets.guarded(ctx, lambda: tickets.add_rating_comment(ctx, ticket_id, text)):
        ctx.reply("Thanks, your comment is on the ticket.", ticket=ticket_id)


@action("rating_comment.skip")
def on_rating_skip(ctx: Context, _: str) -> None:
    if in_flow(ctx, RATING_COMMENT):
        ctx.state.end()
        ctx.reply("Thanks!")


@action("ticket.reopen")
def on_reopen(ctx: Context, argument: str) -> None:
    reopen(ctx, argument, "")


def reopen(ctx: Context, ticket_ref: str, reason: str) -> None:
    """ "reopen 12 it flickers again": reopen a done ticket; on one still open, the reason is a follow-up."""

    def run() -> None:
        ticket = tickets.visible_ticket(ctx, tickets.parse_id(ticket_ref))
        if (
            reason
            and ticket.status in ticket_views.OPEN_STATUSES
            and ticket.requester_email == ctx.speaker.email
        ):
            tickets.requester_message(ctx, ticket.id, reason)
            ctx.reply(
                f"Ticket #{ticket.id} is still open, so I added what you said to it; "
                f"{_handler_of(ctx, ticket)} will see it.",
                ticket=ticket.id,
            )
            return
        tickets.reopen(ctx, ticket.id, reason or "not fixed yet")
        ctx.reply(f"Ticket #{ticket.id} is open again; the technician has been told.", ticket=ticket.id)

    tickets.guarded(ctx, run)


def withdraw(ctx: Context, ticket_ref: str, reason: str) -> None:
    """ "withdraw 12 found the cable" / "cancel ticket 12": the requester no longer needs help."""

    def run() -> None:
        ticket = tickets.withdraw(ctx, tickets.parse_id(ticket_ref), reason)
        ctx.reply(
            f"Ticket #{ticket.id} is withdrawn; {_handler_of(ctx, ticket)} has been told. "
            f"Say 'reopen {ticket.id}' if you need it after all.",
            ticket=ticket.id,
        )

    tickets.guarded(ctx, run)


def _handler_of(ctx: Context, ticket: tickets.Ticket) -> str:
    return (
        ticket_views.display_name(ctx, ticket.assignee_email) if ticket.assignee_email else "the service desk"
    )
