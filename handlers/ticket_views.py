"""How a ticket reads: the card, the queue and "my tickets" lines, history lines, and the buttons.

It also holds what a ticket's statuses and flags are and what they mean in words; the lifecycle in
`handlers/tickets.py` works with the same names and imports them from here (this module imports none
of the lifecycle, so the imports go one way).
"""

from __future__ import annotations

from collections.abc import Sequence

from automations.directory import DirectoryError
from bot.clock import now
from bot.messages import Button, Card, shorten
from bot.store.models import Ticket, TicketEvent
from handlers import sla
from handlers.context import Context

OPEN_STATUSES = ("new", "claimed", "waiting")
STATUS_WORDS = {
    "new": "new, waiting for a technician",
    "claimed": "being worked on",
    "waiting": "waiting for your answer",
    "resolved": "resolved",
    "closed": "closed",
}
# The same statuses as the service desk says them in its queue.
TECHNICIAN_STATUS_WORDS = {
    "new": "unclaimed",
    "claimed": "claimed",
    "waiting": "waiting on the requester",
    "resolved": "resolved",
    "closed": "closed",
}
# Why a ticket will take longer, in words the requester understands.
FLAGS = {
    "needs_budget": "it needs budget approval, which usually adds a few days",
    "needs_approval": "it needs someone's approval before we can go ahead",
}
# What the directory said about the requester, as the triage card puts it.
DIRECTORY_WORDS = {
    "not_found": "not found in the directory",
    "unavailable": "not checked: the directory was unavailable",
}
# Separates what the bot tried from the conversation turns in a ticket's transcript (see new_ticket).
CONVERSATION_HEADING = "Conversation:\n"
CARD_TEXT_CHARS = 300


def ticket_card(ticket: Ticket, *, full: bool = False, targets: sla.Targets | None = None) -> Card:
    """The ticket at a glance; `full` (Details, `show N`) adds the conversation that led to it; with
    `targets`, how long is left before its service targets (FRONTDESK_SLA_*)."""
    fields: list[tuple[str, str]] = [
        ("Status", ticket.status + (f" ({', '.join(ticket.flags)})" if ticket.flags else "")),
        ("Urgency", "urgent" if ticket.urgent else "not urgent"),
        ("Requester", f"{ticket.requester_name} <{ticket.requester_email}>"),
    ]
    details = [
        ("Directory", DIRECTORY_WORDS.get(ticket.requester_directory, "")),
        ("Title", ticket.requester_title),
        ("Department", ticket.requester_department),
        ("Location", ticket.requester_location),
        ("Manager", ticket.requester_manager),
    ]
    fields += [(label, value) for label, value in details if value]
    fields.append(("Assignee", ticket.assignee_email or "unclaimed"))
    fields.append(("Opened", ticket.created_at.strftime("%Y-%m-%d %H:%M UTC")))
    left = sla.time_left(ticket, targets, now()) if targets is not None else ""
    if left:
        fields.append(("Target", left))
    incident = ticket.incident if ticket.incident_id is not None else None  # read for linked tickets only
    if incident is not None:
        fields.append(("Incident", f"#{incident.id} ({incident.status}): {incident.title}"))
    fields.append(("Problem", ticket.problem))
    tried, _, conversation = ticket.transcript.partition(CONVERSATION_HEADING)
    if tried.strip():
        fields.append(
            ("What the bot tried", tried.strip() if full else shorten(tried.strip(), CARD_TEXT_CHARS))
        )
    if conversation.strip():
        turns = conversation.strip().splitlines()
        shown = "\n".join(turns) if full else f"{len(turns)} messages (Details / show {ticket.id})"
        fields.append(("Conversation", shown))
    if ticket.resolution:
        fields.append(("Resolution", ticket.resolution))
    if ticket.rating is not None:
        fields.append(("Rating", f"{ticket.rating}/5 {ticket.rating_comment}".strip()))
    return Card(title=f"#{ticket.id} {ticket.subject}", fields=tuple(fields))


def typed_parts(ticket: Ticket, events: Sequence[TicketEvent] = ()) -> tuple[str, ...]:
    """What people typed that a ticket's card and lines carry verbatim (see bot.messages.Reply.quoted):
    subject, problem, the transcript's lines, resolution, rating comment, the requester's name (a chat
    platform's display name for someone the directory does not know), and `events`' texts."""
    parts = [ticket.subject, ticket.problem, ticket.resolution, ticket.rating_comment, ticket.requester_name]
    parts += ticket.transcript.splitlines() + [event.text for event in events]
    return tuple(dict.fromkeys(part for part in parts if part.strip()))


def technician_buttons(ticket: Ticket) -> list[Button]:
    ref = ticket.id
    if ticket.status in ("resolved", "closed"):
        return [Button(f"ticket.reopen:{ref}", "Reopen"), Button(f"kb.draft:{ref}", "Publish as article")]
    if ticket.assignee_email is None:
        return [
            Button(f"ticket.claim:{ref}", "Claim", "primary"),
            Button(f"ticket.reply:{ref}", "Reply"),
            Button(f"ticket.note:{ref}", "Note"),
        ]
    return [
        Button(f"ticket.reply:{ref}", "Reply", "primary"),
        Button(f"ticket.note:{ref}", "Note"),
        Button(f"ticket.waiting:{ref}", "Waiting on requester"),
        Button(f"ticket.flag:{ref}", "Flag"),
        Button(f"ticket.resolve:{ref}", "Resolve"),
        Button(f"ticket.unclaim:{ref}", "Unclaim"),
    ]


def rating_buttons(ticket_id: int) -> list[Button]:
    labels = {1: "1 poor", 2: "2", 3: "3", 4: "4", 5: "5 great"}
    return [Button(f"ticket.rate:{ticket_id}:{score}", label) for score, label in labels.items()] + [
        Button(f"ticket.reopen:{ticket_id}", "Still not fixed")
    ]


def status_line(ticket: Ticket) -> str:
    """One ticket as its requester sees it in "my tickets"."""
    who = (
        f", with {ticket.assignee_email}" if ticket.assignee_email and ticket.status in OPEN_STATUSES else ""
    )
    why = "".join(f"; {FLAGS[f]}" for f in ticket.flags if f in FLAGS and ticket.status in OPEN_STATUSES)
    return f"#{ticket.id} {ticket.subject} — {STATUS_WORDS.get(ticket.status, ticket.status)}{who}{why}"


def queue_line(ticket: Ticket) -> str:
    """One ticket as the service desk sees it in the queue: status, assignee, flags, requester."""
    status = TECHNICIAN_STATUS_WORDS.get(ticket.status, ticket.status)
    if ticket.assignee_email and ticket.status in OPEN_STATUSES:
        status += f" by {ticket.assignee_email}"
    flags = f" [{', '.join(ticket.flags)}]" if ticket.flags else ""
    urgent = "🔴 " if ticket.urgent else ""
    return f"{urgent}#{ticket.id} {ticket.subject} — {status}{flags} — {ticket.requester_name}"


def event_line(event: TicketEvent) -> str:
    """One history entry with the details its data holds (rating, from → to, urgency)."""
    data = event.data or {}
    details = {
        "created": lambda: f"{'urgent' if data.get('urgent') else 'not urgent'}, {data.get('category', '')}",
        "rated": lambda: f"{data.get('rating')}/5",
        "reassigned": lambda: f"{data.get('from') or 'unclaimed'} → {data.get('to')}",
    }
    detail = details[event.kind]() if event.kind in details else ""
    parts = [f"{event.at:%Y-%m-%d %H:%M} {event.actor_email} {event.kind}"]
    if detail:
        parts.append(f"({detail.strip(', ')})")
    line = " ".join(parts)
    return f"{line}: {event.text}" if event.text else line


def display_name(ctx: Context, email: str, stored: str = "") -> str:
    """A person's name from the directory; never fails: when the directory is down or does not know
    them, what was stored (`stored`) or the email."""
    try:
        person = ctx.services.directory.find_by_email(email) if email else None
    except DirectoryError:
        person = None
    return person.name if person else stored or email
