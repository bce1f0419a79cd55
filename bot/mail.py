"""Email notifications over SMTP (plain, STARTTLS or TLS), sent after the database has committed.

Every message carries a Date and a unique Message-ID. Ticket emails (subject `[frontdesk #N] …`) also
refer to one made-up root id per ticket (In-Reply-To / References: <ticket-N@domain>), the way issue
trackers do it, so mail clients show a ticket's updates as one thread even though that root message
was never sent.
"""

from __future__ import annotations

import html
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

import structlog

from bot.clock import now
from bot.settings import Settings

log = structlog.get_logger(__name__)
_TICKET_SUBJECT = re.compile(r"^\[frontdesk #(\d+)\]")


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return self.settings.email_enabled

    def send(self, to: str, subject: str, body: str) -> bool:
        """Send one message; a failure is logged and reported as False, never raised into a conversation."""
        if not self.enabled:
            return False
        try:
            self.deliver(to, subject, body)
        except (OSError, smtplib.SMTPException) as error:
            log.warning("email_failed", to=to, error=str(error))
            return False
        return True

    def deliver(self, to: str, subject: str, body: str, *, attachment: str = "") -> str:
        """Send one message and return its Message-ID; raises OSError/SMTPException when it did not go.
        `attachment`: a file's path; a PNG is shown inline, under the text (a chart)."""
        message = self.compose(to, subject, body)
        if attachment:
            attach(message, Path(attachment), body, self._domain())
        with self._connect() as smtp:
            smtp.send_message(message)
        log.info("email_sent", to=to)
        return str(message["Message-ID"])

    def compose(self, to: str, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.settings.smtp_from, to, subject
        message["Date"] = format_datetime(now())
        message["Message-ID"] = make_msgid("frontdesk", domain=self._domain())
        ticket = _TICKET_SUBJECT.search(subject)
        if ticket:
            thread = f"<ticket-{ticket[1]}@{self._domain()}>"
            message["In-Reply-To"] = thread
            message["References"] = thread
        message.set_content(body)
        return message

    def _domain(self) -> str:
        # The sender's domain, so that ids are unique to this help desk (never the machine's hostname).
        return parseaddr(self.settings.smtp_from)[1].rpartition("@")[2] or "frontdesk.invalid"

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.smtp_ssl:
            smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds, context=context)
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
            if s.smtp_starttls:
                smtp.starttls(context=context)
        if s.smtp_username:
            smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
        return smtp


def attach(message: EmailMessage, path: Path, body: str, domain: str) -> None:
    """A PNG inline: multipart/alternative of the plain text and an HTML part that is multipart/related
    with the image (`cid:`), so mail clients show it in the message; any other file as an attachment.
    Reads the file now: a file that is gone raises OSError, and the outbox retries."""
    data = path.read_bytes()
    if path.suffix.lower() != ".png":
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=path.name)
        return
    cid = make_msgid("chart", domain=domain)
    message.add_alternative(
        f'<html><body><pre style="font-family: sans-serif">{html.escape(body)}</pre>'
        f'<img src="cid:{cid[1:-1]}" alt="{html.escape(path.stem)}"></body></html>',
        subtype="html",
    )
    html_part = next(part for part in message.iter_parts() if part.get_content_type() == "text/html")
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(data, maintype="image", subtype="png", cid=cid, filename=path.name)
