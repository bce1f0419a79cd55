"""A person's home page (Slack's App Home tab): their open tickets; for a technician also the queue
(unclaimed tickets, urgent first), their claims and the flagged tickets.

It is an ordinary reply with the topic `home`: a platform with a home page shows it there (Slack:
views.publish, replacing the previous one), the others as a message.
"""

from __future__ import annotations

from bot.messages import Button
from bot.store.models import Ticket
from handlers import tickets
from handlers.context import Context
from handlers.registry import action
from handlers.ticket_views import OPEN_STATUSES, queue_line, status_line

HOME_TOPIC = "home"
MAX_BUTTONS = 10  # a handful of shortcuts; the lists say the rest


@action("home.open")
def on_home(ctx: Context, _argument: str) -> None:
    show_home(ctx)


def show_home(ctx: Context) -> None:
    email = ctx.speaker.email
    mine = [t for t in tickets.tickets_of(ctx.session, email) if t.status in OPEN_STATUSES]
    sections = [_section("Your open tickets", [status_line(t) for t in mine], "You have no open tickets.")]
    buttons = [Button(f"ticket.show:{t.id}", f"#{t.id}") for t in mine]
    shown = list(mine)
    if ctx.speaker.is_technician:
        queue = tickets.queue(ctx.session)
        unclaimed = sorted(
            (t for t in queue if t.assignee_email is None), key=lambda t: (not t.urgent, t.created_at)
        )
        claims = [t for t in queue if t.assignee_email == email]
        flagged = [t for t in queue if t.flags]
        sections += [
            _section("Waiting for a technician", [queue_line(t) for t in unclaimed], "Nothing unclaimed."),
            _section("Your claims", [queue_line(t) for t in claims], "You have no claimed tickets."),
            _section("Flagged", [queue_line(t) for t in flagged], "Nothing flagged."),
        ]
        buttons = [Button(f"ticket.claim:{t.id}", f"Claim #{t.id}", "primary") for t in unclaimed] + buttons
        shown += unclaimed + claims + flagged
    ctx.reply(
        "\n\n".join(sections),
        buttons[:MAX_BUTTONS],
        topic=HOME_TOPIC,
        quoted=tuple(dict.fromkeys(_typed(t) for t in shown)),
    )


def _section(title: str, lines: list[str], empty: str) -> str:
    return f"{title}:\n" + ("\n".join(f"• {line}" for line in lines) if lines else empty)


def _typed(ticket: Ticket) -> str:
    return ticket.subject
