"""Service targets per urgency: how long a ticket may wait for a first response and for its resolution,
and how much of that time is left, in words (the card, `show N`, the SLA job in handlers/jobs.py).

First response: a technician claimed the ticket or wrote to the requester (the digest's definition).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.store.models import Ticket

DONE = ("resolved", "closed")


@dataclass(frozen=True)
class Targets:
    first_response_urgent: timedelta
    first_response_normal: timedelta
    resolution_urgent: timedelta
    resolution_normal: timedelta
    warning_percent: int = 80

    @classmethod
    def of(cls, settings: Settings) -> Targets:
        return cls(
            first_response_urgent=timedelta(minutes=settings.sla_first_response_urgent),
            first_response_normal=timedelta(minutes=settings.sla_first_response_normal),
            resolution_urgent=timedelta(hours=settings.sla_resolution_urgent),
            resolution_normal=timedelta(hours=settings.sla_resolution_normal),
            warning_percent=settings.sla_warning_percent,
        )

    def first_response(self, urgent: bool) -> timedelta:
        return self.first_response_urgent if urgent else self.first_response_normal

    def resolution(self, urgent: bool) -> timedelta:
        return self.resolution_urgent if urgent else self.resolution_normal

    def warning(self, urgent: bool) -> timedelta:
        """How long after opening a ticket is "nearing" its resolution target."""
        return self.resolution(urgent) * self.warning_percent / 100


def responded(ticket: Ticket) -> bool:
    """A technician has taken it or written (a reply claims the ticket too)."""
    return ticket.claimed_at is not None or ticket.status != "new"


def time_left(ticket: Ticket, targets: Targets, moment: datetime) -> str:
    """ "first response due in 12 min; resolution due in 7 h 40 min", or overdue by …; "" once done."""
    if ticket.status in DONE:
        return ""
    opened, urgent = ticket.created_at, ticket.urgent
    parts = []
    if not responded(ticket):
        parts.append("first response " + _due(opened + targets.first_response(urgent), moment))
    parts.append("resolution " + _due(opened + targets.resolution(urgent), moment))
    return "; ".join(parts)


def _due(deadline: datetime, moment: datetime) -> str:
    if deadline >= moment:
        return f"due in {duration(deadline - moment)}"
    return f"overdue by {duration(moment - deadline)}"


def duration(span: timedelta) -> str:
    """A span as people say it: "45 min", "3 h 20 min", "2 days 4 h"."""
    minutes = int(span.total_seconds() // 60)
    days, hours, minutes = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days} day{'s' if days != 1 else ''}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min"
