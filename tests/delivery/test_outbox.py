"""The outbox: every message is a row written with the change, delivered once, in order, retried with
back-off, given up after the last attempt with triage told — and a secret is never a row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.store.models import OutboxMessage, Ticket
from tests.conftest import Harness, build_bot
from tests.fakes import RecordingDeliverer

ADA, TESS = "ada@example.com", "tess@example.com"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def rows(h: Harness) -> list[OutboxMessage]:
    with h.bot.sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def open_ticket(h: Harness, problem: str = "The projector shows no picture") -> None:
    h.say(ADA, "talk to a human")
    h.say(ADA, problem)
    h.say(ADA, "not urgent")


def test_every_reply_is_a_delivered_row_with_the_platforms_reference(harness: Harness) -> None:
    open_ticket(harness)
    stored = rows(harness)
    assert stored and all(r.status == "delivered" and r.attempts == 1 for r in stored)
    assert [r.payload["text"] for r in stored] == [r.text for r in harness.sent]
    assert {r.recipient for r in stored} == {ADA, "#triage"}
    assert all(r.message_ref and r.message_ref["message"] for r in stored)
    assert len({r.idempotency_key for r in stored}) == len(stored)


def test_a_platform_that_fails_three_times_then_works_delivers_once_in_order(
    sqlite_url: str, frozen_clock
) -> None:
    frozen_clock(START)
    bot, _ = build_bot(sqlite_url)
    h = Harness(bot, platform_up=False)
    h.recorder.fail_next = 3
    h.say(ADA, "talk to a human")
    assert h.recorder.delivered == []  # the platform is down: nothing arrived yet
    h.say(ADA, "The projector shows no picture")  # queued behind the first, never ahead of it
    first = rows(h)[0]
    assert (first.status, first.attempts) == ("pending", 1) and first.next_attempt_at > START
    delays = []
    moment = START
    while rows(h)[0].status != "delivered":
        due = rows(h)[0].next_attempt_at
        delays.append((due - moment).total_seconds())
        moment = due
        frozen_clock(moment)
        bot.delivery.dispatcher.run_due()
    assert rows(h)[0].attempts == 4
    base = bot.services.settings.delivery_backoff_seconds
    for attempt, delay in enumerate(delays, 1):  # exponential back-off, jittered within ½–1½ of each step
        assert 0.5 * base * 2 ** (attempt - 1) <= delay < 1.5 * base * 2 ** (attempt - 1)
    texts = [r.text for r in h.recorder.delivered]
    assert texts[0].startswith("Sure, let's get you a person") and len(texts) == len(set(texts)) == 2


def test_a_platform_that_never_works_gives_up_and_tells_triage(sqlite_url: str, frozen_clock) -> None:
    class Unreachable(RecordingDeliverer):
        def send(self, address, payload):  # type: ignore[no-untyped-def]
            if address["to"] == ADA:
                self.attempts += 1
                raise ConnectionError("connection refused")
            return super().send(address, payload)

    frozen_clock(START)
    recorder = Unreachable()
    bot, _ = build_bot(sqlite_url, delivery_max_attempts=3)
    bot.delivery.deliverers["test"] = recorder
    bot.delivery.dispatcher.deliverers["test"] = recorder
    h = Harness(bot, platform_up=False)
    h.recorder = recorder
    open_ticket(h)
    for minutes in range(1, 40):
        frozen_clock(START + timedelta(minutes=minutes))
        bot.delivery.dispatcher.run_due()
    to_ada = [r for r in rows(h) if r.recipient == ADA]
    assert to_ada and all(r.status == "dead" and r.attempts == 3 for r in to_ada[:1])
    assert "ConnectionError: connection refused" in to_ada[0].last_error
    told = [r.text for r in recorder.delivered if r.to == "#triage" and "could not deliver" in r.text]
    assert told and f"frontdesk outbox retry {to_ada[0].id}" in told[0]
    with bot.sessions() as session:  # the person's state is what the conversation made it
        assert session.scalars(select(Ticket)).one().status == "new"


def test_a_retried_event_enqueues_nothing_twice(harness: Harness) -> None:
    harness.say(ADA, "talk to a human", event_id="slack-Ev1")
    count = len(rows(harness))
    assert harness.say(ADA, "talk to a human", event_id="slack-Ev1") == []
    assert len(rows(harness)) == count


def test_a_person_no_chat_platform_reaches_gets_email_and_the_row_says_so(
    sqlite_url: str, smtp_server
) -> None:
    class OnlyKnown(RecordingDeliverer):
        def route(self, recipient, identity):  # type: ignore[no-untyped-def]
            # like Teams: a person reached only once they have written to the bot
            return {"to": recipient} if identity or recipient.startswith("#") else None

    platform = OnlyKnown()
    bot, _ = build_bot(sqlite_url, smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    bot.delivery.routes.chat = [platform]
    bot.delivery.deliverers["test"] = platform
    bot.delivery.dispatcher.deliverers["test"] = platform
    h = Harness(bot, platform_up=False)  # some go by email: "said" is not all in chat
    h.recorder = platform
    open_ticket(h)
    h.say(TESS, "claim 1")
    h.say(TESS, "reply 1 Is the cable plugged in?")
    emailed = [r for r in rows(h) if r.recipient == ADA and r.platform == "email"]
    assert emailed  # Ada wrote from this platform: she is reached there, her email copies aside
    assert all(r.fallback == "" for r in emailed)
    grace = "grace@example.com"  # never wrote to the bot
    h.say(TESS, "assign 1 tom@example.com")
    tom_rows = [r for r in rows(h) if r.recipient == "tom@example.com"]
    assert tom_rows and all(r.platform == "email" for r in tom_rows)
    assert any(r.fallback.startswith("email") for r in tom_rows)
    assert smtp_server.wait_for("tom@example.com", 2)
    assert grace not in {r.recipient for r in rows(h)}
