"""The email deliverer: outbox rows for `email` go out over SMTP (bot/mail.py)."""

from __future__ import annotations

import smtplib
from typing import Any

from bot.delivery.port import Address, DeliveryError, Email, MessageRef, Payload
from bot.delivery.service import email_of
from bot.mail import Mailer


class EmailDeliverer:
    platform = "email"
    inline = False  # an SMTP server may be slow: never in the handling thread

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer

    def route(self, recipient: str, identity: dict[str, Any] | None) -> Address | None:
        return {"email": recipient} if "@" in recipient and not recipient.startswith("#") else None

    def send(self, address: Address, payload: Payload) -> MessageRef:
        if isinstance(payload, Email):
            to, subject, body, attachment = payload.to, payload.subject, payload.body, payload.attachment
        else:
            to, (subject, body), attachment = address["email"], email_of(payload), payload.attachment
        try:
            extra = {"attachment": attachment} if attachment else {}  # plain mailers (test fakes) take none
            return {"message_id": self.mailer.deliver(to, subject, body, **extra)}
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(f"SMTP: {error}") from None

    def update(self, ref: MessageRef, payload: Payload) -> MessageRef:
        # A sent email cannot change: the update goes out as a new message.
        return self.send({"email": payload.to}, payload)

    def delete(self, ref: MessageRef) -> None:
        """A sent email cannot be taken back (and a secret is never emailed)."""
