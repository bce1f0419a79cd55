"""Email notifications over SMTP (plain, STARTTLS or TLS), sent after the database has committed."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

import structlog

from bot.settings import Settings

log = structlog.get_logger(__name__)


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
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.settings.smtp_from, to, subject
        message.set_content(body)
        try:
            with self._connect() as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            log.warning("email_failed", to=to, subject=subject, error=str(error))
            return False
        log.info("email_sent", to=to, subject=subject)
        return True

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
