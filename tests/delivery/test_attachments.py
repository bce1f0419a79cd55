"""A file sent with a message (`Reply.attachment`) through each deliverer: email shows a PNG inline
(multipart/related, `cid:`) under the text, over real SMTP; the console prints the path; an outbox row
carries it; a chat reply that falls back to email keeps it."""

from __future__ import annotations

import io
from email.message import Message
from pathlib import Path

from bot.delivery import payloads
from bot.delivery.port import Email
from bot.delivery.routes import Route
from bot.delivery.service import _for_route
from bot.delivery.smtp import EmailDeliverer
from bot.mail import Mailer
from bot.messages import Reply
from bot.platforms.console import ConsoleChat
from bot.settings import load_settings
from tests.servers.smtp import Mailbox

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
GRACE = "grace@example.com"


def chart(tmp_path: Path) -> Path:
    path = tmp_path / "digest-2026-11-30.png"
    path.write_bytes(PNG)
    return path


def deliverer(smtp_server: Mailbox) -> EmailDeliverer:
    settings = load_settings(smtp_host=smtp_server.host, smtp_port=smtp_server.port, database_url="sqlite://")
    return EmailDeliverer(Mailer(settings))


def parts(message: Message) -> list[Message]:
    return list(message.walk())


def test_an_emailed_png_is_shown_inline_with_the_text(smtp_server: Mailbox, tmp_path: Path) -> None:
    picture = chart(tmp_path)
    reply = Reply(GRACE, "Service desk digest — 2026-11-30\nRequests: 12 <b>", attachment=str(picture))
    deliverer(smtp_server).send({"email": GRACE}, reply)
    (message,) = smtp_server.wait_for(GRACE)
    types = [part.get_content_type() for part in parts(message)]
    assert types == ["multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png"]
    plain, html, image = (
        next(p for p in parts(message) if p.get_content_type() == kind)
        for kind in ("text/plain", "text/html", "image/png")
    )
    assert "Requests: 12 <b>" in plain.get_payload(decode=True).decode()
    page = html.get_payload(decode=True).decode()
    cid = str(image["Content-ID"]).strip("<>")
    assert f'src="cid:{cid}"' in page and "Requests: 12 &lt;b&gt;" in page
    assert image.get_payload(decode=True) == PNG


def test_another_kind_of_file_is_an_ordinary_attachment(smtp_server: Mailbox, tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_bytes(b"day,requests\n2026-11-30,12\n")
    deliverer(smtp_server).send({"email": GRACE}, Email(GRACE, "Report", "Attached.", str(report)))
    (message,) = smtp_server.wait_for(GRACE)
    (attached,) = [p for p in parts(message) if p.get_filename() == "report.csv"]
    assert attached.get_payload(decode=True) == report.read_bytes()


def test_the_attachment_travels_in_the_outbox_and_into_the_fallback_email(tmp_path: Path) -> None:
    reply = Reply(GRACE, "digest", attachment=str(chart(tmp_path)))
    assert payloads.load(payloads.dump(reply)) == reply
    email = _for_route(reply, Route("email", {"email": GRACE}))
    assert isinstance(email, Email) and email.attachment == reply.attachment
    assert payloads.load(payloads.dump(email)) == email


def test_the_console_prints_the_path(tmp_path: Path) -> None:
    out = io.StringIO()
    console = ConsoleChat(None, lambda _email: None, GRACE, out=out, err=io.StringIO())
    console.send({}, Reply(GRACE, "digest", attachment=str(tmp_path / "chart.png")))
    assert f"(attached: {tmp_path / 'chart.png'})" in out.getvalue()
