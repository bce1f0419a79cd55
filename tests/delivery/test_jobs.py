"""Scheduled jobs with a controlled clock: each fires when due and not before, tells the right people,
is audited, and does its work once however often it runs."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.store.models import AuditRecord, OutboxMessage, ProcessedEvent, ResetRequest, Ticket
from handlers import jobs
from tests.conftest import START, Harness, build_bot

ADA, TESS, GRACE = "ada@example.com", "tess@example.com", "grace@example.com"


def run(h: Harness, job) -> list:  # type: ignore[no-untyped-def]
    before = len(h.recorder.delivered)
    h.bot.run_job(job.__name__, job)
    h.bot.delivery.dispatcher.run_due()
    return h.recorder.delivered[before:]


def audit(h: Harness, action: str) -> list[AuditRecord]:
    with h.bot.sessions() as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.action == action)))


def open_ticket(h: Harness) -> int:
    h.say(ADA, "talk to a human")
    h.say(ADA, "The projector shows no picture")
    h.say(ADA, "not urgent")
    with h.bot.sessions() as s:
        return s.scalars(select(Ticket.id)).one()


def test_an_unanswered_approval_expires_on_time_once(sqlite_url: str, clock) -> None:  # type: ignore[no-untyped-def]
    bot, _ = build_bot(sqlite_url, reset_verification="manager_approval", approval_ttl_minutes=60)
    h = Harness(bot)
    asked = h.say(ADA, "I forgot my password")
    assert any(r.to == GRACE and r.topic.startswith("approval:") for r in asked)
    clock(minutes=59)
    assert run(h, jobs.expire_account_requests) == []
    clock(minutes=2)
    told = run(h, jobs.expire_account_requests)
    to_ada = [r.text for r in told if r.to == ADA]
    assert to_ada and "didn't approve" in to_ada[0] and "nothing was changed" in to_ada[0]
    card = [r for r in told if r.to == GRACE]
    assert card and card[0].update and "expired" in card[0].text  # Grace's card, updated in place
    assert card[0] in h.recorder.updated
    assert [a.actor for a in audit(h, "reset.approval_expired")] == ["frontdesk"]
    with bot.sessions() as s:
        assert s.scalars(select(ResetRequest.status)).one() == "expired"
    assert run(h, jobs.expire_account_requests) == []  # once
    assert "waiting for your manager" not in h.say(ADA, "my tickets")[0].text  # released
    stale = h.press(GRACE, h.button(asked, "Approve"))
    assert "already handled" in stale[0].text or "expired" in stale[0].text


def test_an_expired_code_releases_the_person(sqlite_url: str, smtp_server, clock) -> None:  # type: ignore[no-untyped-def]
    bot, _ = build_bot(
        sqlite_url, smtp_host=smtp_server.host, smtp_port=smtp_server.port, code_ttl_seconds=600
    )
    h = Harness(bot)
    h.say(ADA, "I forgot my password")
    assert smtp_server.wait_for("ada.home@example.net", 1)
    clock(seconds=590)
    assert run(h, jobs.expire_account_requests) == []
    clock(seconds=20)
    told = [r.text for r in run(h, jobs.expire_account_requests) if r.to == ADA]
    assert told and "verification code" in told[0] and "expired" in told[0]
    assert [a.actor for a in audit(h, "reset.code_expired")] == ["frontdesk"]
    assert run(h, jobs.expire_account_requests) == []


def test_a_claim_without_a_reply_goes_back_to_the_queue(sqlite_url: str, clock) -> None:  # type: ignore[no-untyped-def]
    bot, _ = build_bot(sqlite_url, claim_expiry=120)
    h = Harness(bot)
    ticket = open_ticket(h)
    h.say(TESS, f"claim {ticket}")
    clock(minutes=119)
    assert run(h, jobs.expire_claims) == []
    clock(minutes=2)
    told = run(h, jobs.expire_claims)
    assert any(r.to == TESS and "went back to the queue" in r.text for r in told)
    assert any(r.to == "#triage" and "claim expired after 2 hours" in r.text for r in told)
    with bot.sessions() as s:
        row = s.get(Ticket, ticket)
        assert row is not None and (row.status, row.assignee_email) == ("new", None)
    assert len(audit(h, "ticket.claim_expired")) == 1
    assert run(h, jobs.expire_claims) == []
    h.say(TESS, f"claim {ticket}")  # claimed again and answered: it stays claimed
    h.say(TESS, f"reply {ticket} Is the cable plugged in?")
    clock(minutes=500)
    assert run(h, jobs.expire_claims) == []


def test_waiting_on_the_requester_reminds_once_then_closes(sqlite_url: str, clock) -> None:  # type: ignore[no-untyped-def]
    bot, _ = build_bot(sqlite_url, waiting_reminder_days=3, waiting_close_days=5)
    h = Harness(bot)
    ticket = open_ticket(h)
    h.say(TESS, f"claim {ticket}")
    h.say(TESS, f"waiting {ticket}")
    clock(days=2, hours=23)
    assert run(h, jobs.close_waiting_tickets) == []
    clock(hours=2)
    reminded = [r.text for r in run(h, jobs.close_waiting_tickets) if r.to == ADA]
    assert reminded and "still waiting for your answer" in reminded[0] and "in 2 days" in reminded[0]
    assert run(h, jobs.close_waiting_tickets) == []  # one reminder
    clock(days=2)
    closed = run(h, jobs.close_waiting_tickets)
    assert any(r.to == ADA and f"reopen {ticket}" in r.text for r in closed)
    assert any(r.to == TESS and "no answer" in r.text for r in closed)
    assert run(h, jobs.close_waiting_tickets) == []
    assert "reopened" in " ".join(r.text for r in h.say(ADA, f"reopen {ticket}"))


def test_clean_up_forgets_old_event_ids_and_delivered_rows_but_keeps_dead_ones(
    harness: Harness,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    harness.say(ADA, "hello", event_id="ev-old")
    with harness.bot.sessions.begin() as s:
        s.add(
            OutboxMessage(
                idempotency_key="dead-1",
                platform="test",
                recipient=ADA,
                payload={"type": "reply", "text": "x"},
                status="dead",
                next_attempt_at=START,
                created_at=START,
            )
        )
    clock(days=6)
    run(harness, jobs.clean_up)
    with harness.bot.sessions() as s:
        assert s.get(ProcessedEvent, "ev-old") is not None
    clock(days=31)
    run(harness, jobs.clean_up)
    with harness.bot.sessions() as s:
        assert s.get(ProcessedEvent, "ev-old") is None
        statuses = list(s.scalars(select(OutboxMessage.status)))
        assert "dead" in statuses and "delivered" not in statuses[: statuses.index("dead")]
    assert audit(harness, "housekeeping.clean_up")


def test_a_temporary_password_message_is_deleted_after_its_ttl(sqlite_url: str, clock) -> None:  # type: ignore[no-untyped-def]
    bot, _ = build_bot(sqlite_url, reset_verification="chat_identity", secret_ttl=600)
    h = Harness(bot)
    delivered = h.say(ADA, "I forgot my password")
    secret = next(r for r in delivered if r.secret)
    assert "disappears in 10 minutes" in secret.text
    ref = h.recorder.refs[h.recorder.delivered.index(secret)]
    clock(seconds=599)
    bot.delivery.dispatcher.run_due()
    assert h.recorder.deleted == []
    clock(seconds=2)
    bot.delivery.dispatcher.run_due()
    assert h.recorder.deleted == [ref]
    with bot.sessions() as s:  # the deletion row holds the reference, never the password
        stored = [str(r.payload) + str(r.message_ref) for r in s.scalars(select(OutboxMessage))]
    assert stored and not any(secret.secret in row for row in stored if secret.secret)


def test_a_secret_the_platform_refuses_is_never_retried_and_a_technician_is_told(sqlite_url: str) -> None:
    bot, _ = build_bot(sqlite_url, reset_verification="chat_identity")
    h = Harness(bot)
    original = h.recorder.send

    def refuse_secrets(address, payload):  # type: ignore[no-untyped-def]
        if getattr(payload, "secret", None):
            raise ConnectionError("platform down")
        return original(address, payload)

    h.recorder.send = refuse_secrets  # type: ignore[method-assign]
    said = h.say(ADA, "I forgot my password")
    assert not any(r.secret for r in said)
    told = [r.text for r in said if r.to == ADA]
    assert any("couldn't deliver the temporary password" in t for t in told)
    assert any(r.to == "#triage" and "URGENT" in r.text for r in said)
    assert audit(h, "secret_undelivered")
    with bot.sessions() as s:
        assert all(r.status == "delivered" for r in s.scalars(select(OutboxMessage)))
    assert not re.search(r"temporary password is", " ".join(told))
