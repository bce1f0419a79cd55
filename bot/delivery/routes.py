"""Where a message goes: a recipient (an email or `#channel`) turned into a platform and an address.

A channel goes to the first platform that has it configured. A person goes to the platform they last
wrote from (the one this event came from first), then any platform that can find them by email, and
last by email — the row then says so (`fallback`), so an operator can see who chat does not reach yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.delivery import identities
from bot.delivery.port import Address, Deliverer

EMAIL = "email"


@dataclass(frozen=True)
class Route:
    platform: str
    address: Address
    fallback: str = ""


class Routes:
    def __init__(self, chat: Sequence[Deliverer], email: Deliverer | None) -> None:
        self.chat = list(chat)
        self.email = email

    def resolve(self, session: Session, recipient: str, prefer: str = "") -> Route | None:
        if recipient.startswith("#"):
            return self._channel(recipient)
        return self._person(session, recipient.strip().lower(), prefer)

    def _channel(self, channel: str) -> Route | None:
        for deliverer in self.chat:
            address = deliverer.route(channel, None)
            if address is not None:
                return Route(deliverer.platform, address)
        return None

    def _person(self, session: Session, email: str, prefer: str) -> Route | None:
        by_platform = {d.platform: d for d in self.chat}
        known = sorted(identities.of(session, email), key=lambda i: i.platform != prefer)
        for identity in known:
            deliverer = by_platform.get(identity.platform)
            if deliverer is None:
                continue
            address = deliverer.route(
                email, {"user_id": identity.platform_user_id, "team": identity.team, **identity.reference}
            )
            if address is not None:
                return Route(deliverer.platform, address)
        for deliverer in sorted(self.chat, key=lambda d: d.platform != prefer):
            address = deliverer.route(email, None)  # found by email (Slack's users.lookupByEmail)
            if address is not None:
                return Route(deliverer.platform, address)
        if self.email is not None and "@" in email:
            return Route(EMAIL, {"email": email}, fallback="email: not reachable in chat")
        return None

    def email_route(self, email: str) -> Route | None:
        return Route(EMAIL, {"email": email}) if self.email is not None and email else None
