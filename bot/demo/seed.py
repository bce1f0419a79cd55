"""`frontdesk demo`: a local database with demo people, articles and an open ticket, and a guide."""

from __future__ import annotations

import os

from sqlalchemy import select

from bot.clock import now
from bot.settings import ENV_PREFIX, Settings
from bot.store import db
from bot.store.models import KbArticle, Ticket, TicketEvent

DEMO_DATABASE = "sqlite:///frontdesk-demo.db"
GUIDE = """
frontdesk demo — a console chat with the embedded demo directory ({database}; {seeded}).

You are Ada (Finance). Things to try:
  how do I connect to the vpn?          an answer from the knowledge base, with "Did this solve it?"
  my monitor flickers in Excel          no article → "Open a ticket" → urgent or not → a ticket
  I forgot my password                  the password reset flow
  my tickets                            your tickets and their status
Then play the service desk:
  /as tess@example.com                  Tess is a technician: try "queue", "claim 1", "reply 1 On my way"
  /as ada@example.com                   back to Ada: her next message goes to the ticket
  /as grace@example.com                 Grace is the IT manager
Buttons are numbered: type the number or the label. /help lists console commands; Ctrl-D quits.
"""

_DEMO_TICKET = (
    "My docking station stopped detecting the second monitor after this morning's update. "
    "I've tried unplugging it and restarting."
)
_DEMO_ARTICLE = dict(
    id="meeting-room-display",
    title="Share your screen on a meeting room display",
    body="1. Plug the room's USB-C cable into your laptop, or press *Cast* in Teams and pick the room.\n"
    "2. If nothing shows, press the *Input* button on the remote until you see *HDMI 1*.\n"
    "3. Still blank? Restart the room panel from its settings menu (takes a minute).",
    tags=["meeting rooms", "display"],
    questions=["how do I present in a meeting room", "the meeting room screen stays black"],
    links=["https://intranet.example.com/it/meeting-rooms"],
)


def demo_overrides(database_url: str | None) -> dict[str, object]:
    """Demo defaults that the person's own FRONTDESK_* variables still win over. (The roles need none:
    with the demo directory, bot.settings makes it-support technicians and it-managers managers.)"""
    overrides: dict[str, object] = {}
    if database_url or not _set("DATABASE_URL"):
        overrides["database_url"] = database_url or DEMO_DATABASE
    return overrides


def seed(settings: Settings) -> str:
    """Add the demo ticket and article once; say what was done."""
    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    with db.make_session_factory(engine).begin() as session:
        if session.scalars(select(Ticket).where(Ticket.category == "demo")).first() is not None:
            return "demo data already there"
        moment = now()
        ticket = Ticket(
            status="new",
            urgent=False,
            subject="Docking station doesn't detect second monitor",
            problem=_DEMO_TICKET,
            category="demo",
            requester_email="bob@example.com",
            requester_name="Bob Marley",
            requester_title="Account Executive",
            requester_department="Sales",
            requester_location="Kingston",
            requester_manager="grace@example.com",
            flags=[],
            transcript="",
            created_at=moment,
            updated_at=moment,
        )
        session.add(ticket)
        session.flush()
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                at=moment,
                actor_email="bob@example.com",
                kind="created",
                text=_DEMO_TICKET,
                data={},
            )
        )
        if session.get(KbArticle, _DEMO_ARTICLE["id"]) is None:
            session.add(
                KbArticle(
                    **_DEMO_ARTICLE, author_email="tess@example.com", created_at=moment, updated_at=moment
                )
            )
    return "seeded an open ticket and an article"


def _set(name: str) -> bool:
    return bool(os.environ.get(ENV_PREFIX + name))
