"""The requester's side of a ticket: status, follow-ups, "it's solved", rating, reopening."""

from __future__ import annotations

from bot.messages import Button
from handlers import tickets
from handlers.context import Context
from handlers.registry import action, flow, in_flow
from handlers.tickets import TicketError

FOLLOW_UP = "follow_up"
RATING_COMMENT = "rating_comment"


def show_my_tickets(ctx: Context) -> None:
    mine = tickets.tickets_of(ctx.session, ctx.speaker.email)
    if not mine:
        ctx.reply("You have no tickets. If something is wrong, tell me about it.")
        return
    ctx.reply("Your tickets:\n" + "\n".join(tickets.status_line(t) for t in mine))


def relay_follow_up(ctx: Context, ticket_id: int, text: str) -> bool:
    """Add the speaker's message to their ticket. False (and focus dropped) when the ticket is done."""
    try:
        ticket = tickets.requester_message(ctx, ticket_id, text)
    except TicketError:
        ctx.state.thread_ticket_id = None
        return False
    who = tickets.display_name(ctx, ticket.assignee_email) if ticket.assignee_email else "the service desk"
    ctx.reply(
        f"Added to ticket #{ticket.id}; {who} will see it. (Say 'new' to ask me something else.)",
        ticket=ticket.id,
    )
    return True


@action("ticket.answer")
def on_answer(ctx: Context, argument: str) -> None:
    if not argument.isdigit():
        ctx.reply("That button does not name a ticket.")
        return
    ctx.state.start(FOLLOW_UP, "text", ticket_id=int(argument))
    ctx.reply(f"What would you like to add to ticket #{argument}?", [Button("follow_up.cancel", "Cancel")])


@flow(FOLLOW_UP)
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
    if argument.isdigit():
        tickets.guarded(
            ctx, lambda: tickets.requester_message(ctx, int(argument), "The requester says it's solved.")
        )
        ctx.reply(f"Thanks! I told the technician; they'll close ticket #{argument}.", ticket=int(argument))


@action("ticket.rate")
def on_rate(ctx: Context, argument: str) -> None:
    ticket_ref, _, score = argument.partition(":")
    if not (ticket_ref.isdigit() and score.isdigit()):
        ctx.reply("That rating button is broken; please rate again from the ticket message.")
        return
    try:
        tickets.rate(ctx, int(ticket_ref), int(score))
    except TicketError as error:
        ctx.reply(str(error))
        return
    ctx.state.start(RATING_COMMENT, "text", ticket_id=int(ticket_ref))
    ctx.reply(
        f"Thanks for rating ticket #{ticket_ref} {score}/5. Anything you'd like to add? (optional)",
        [Button("rating_comment.skip", "No comment")],
        ticket=int(ticket_ref),
    )


@flow(RATING_COMMENT)
def on_rating_comment(ctx: Context, text: str) -> None:
    ticket_id = int(ctx.state.data["ticket_id"])
    ctx.state.end()
    tickets.guarded(ctx, lambda: tickets.add_rating_comment(ctx, ticket_id, text))
    ctx.reply("Thanks, your comment is on the ticket.", ticket=ticket_id)


@action("rating_comment.skip")
def on_rating_skip(ctx: Context, _: str) -> None:
    if in_flow(ctx, RATING_COMMENT):
        ctx.state.end()
        ctx.reply("Thanks!")


@action("ticket.reopen")
def on_reopen(ctx: Context, argument: str) -> None:
    if argument.isdigit():
        reopen(ctx, int(argument), "")


def reopen(ctx: Context, ticket_id: int, reason: str) -> None:
    try:
        tickets.reopen(ctx, ticket_id, reason or "not fixed yet")
    except TicketError as error:
        ctx.reply(str(error))
        return
    ctx.reply(f"Ticket #{ticket_id} is open again; the technician has been told.", ticket=ticket_id)
