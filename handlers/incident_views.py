"""How an incident reads: its card, its line in `incidents`, its buttons, and who is linked to it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messages import Button, Card, shorten
from bot.store.models import Incident, ProblemReport, Ticket
from handlers import problems

CARD_TEXT = 300


def headline(incident: Incident) -> str:
    return f"Incident #{incident.id} ({incident.status}): {incident.title}"


def line(session: Session, incident: Incident) -> str:
    people = len(linked_people(session, incident.id))
    return f"#{incident.id} {incident.status} · {people} people · {shorten(incident.title, 80)}"


def linked_people(session: Session, incident_id: int) -> list[str]:
    """Everyone to tell when it is fixed: who reported it, and the requesters of its linked tickets."""
    reporters = session.scalars(
        select(ProblemReport.person_email).where(ProblemReport.incident_id == incident_id)
    )
    requesters = session.scalars(select(Ticket.requester_email).where(Ticket.incident_id == incident_id))
    return sorted({*reporters, *requesters})


def linked_tickets(session: Session, incident_id: int) -> list[Ticket]:
    return list(session.scalars(select(Ticket).where(Ticket.incident_id == incident_id).order_by(Ticket.id)))


def card(session: Session, incident: Incident) -> Card:
    reports = list(
        session.scalars(
            select(ProblemReport).where(ProblemReport.incident_id == incident.id).order_by(ProblemReport.id)
        )
    )
    tickets = linked_tickets(session, incident.id)
    fields = [
        ("Status", incident.status),
        ("Declared", f"{incident.declared_at:%Y-%m-%d %H:%M} UTC by {incident.declared_by}"),
        ("People linked", str(len(linked_people(session, incident.id)))),
        ("Tickets", ", ".join(f"#{t.id}" for t in tickets) or "none"),
        ("Root cause", shorten(incident.root_cause, CARD_TEXT) or "not recorded yet"),
    ]
    if incident.resolved_at is not None:
        fields.append(("Resolved", f"{incident.resolved_at:%Y-%m-%d %H:%M} UTC by {incident.resolved_by}"))
        fields.append(("Resolution", shorten(incident.resolution, CARD_TEXT)))
    if incident.article_id:
        fields.append(("Known issue article", incident.article_id))
    fields += [problems.report_line(r) for r in reports[-problems.CARD_REPORTS :]]
    return Card(incident.title, tuple(fields))


def typed_parts(session: Session, incident: Incident) -> tuple[str, ...]:
    """What people typed that the card carries (see bot.messages.Reply.quoted)."""
    texts = session.scalars(select(ProblemReport.text).where(ProblemReport.incident_id == incident.id))
    parts = [incident.title, incident.root_cause, incident.resolution, *texts]
    return tuple(dict.fromkeys(part for part in parts if part))


def buttons(incident: Incident) -> list[Button]:
    if incident.status == "open":
        return [
            Button(f"incident.cause:{incident.id}", "Root cause"),
            Button(f"incident.resolve:{incident.id}", "Resolve", "primary"),
        ]
    return [Button(f"incident.publish:{incident.id}", "Publish as known issue")]
