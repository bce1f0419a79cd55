"""The store on SQLite and a real PostgreSQL: migrations match the models, the lifecycle works, and a
claim race has exactly one winner."""

from __future__ import annotations

import threading

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from bot.store import db
from bot.store.models import Base, ResetRequest, Ticket, TicketEvent
from tests.conftest import Harness, build_bot

ADA, BOB, TESS, TOM = "ada@example.com", "bob@example.com", "tess@example.com", "tom@example.com"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "sqlite":
        return sqlite_url
    return str(request.getfixturevalue("fresh_postgres_url"))


def test_migrations_create_exactly_the_models_schema(database_url: str) -> None:
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    db.upgrade(engine)  # idempotent: a second start changes nothing
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_a_database_from_the_first_release_upgrades_with_its_data_and_downgrades(database_url: str) -> None:
    engine = db.make_engine(database_url)
    config = db.alembic_config(database_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO tickets (subject, problem, status, urgent, category, requester_email, "
                "requester_name, requester_title, requester_department, requester_location, "
                "requester_manager, assignee_email, flags, transcript, resolution, rating_comment, "
                "created_at, updated_at) VALUES ('Old', 'from 0001', 'new', false, 'human', "
                "'ada@example.com', 'Ada', '', '', '', '', NULL, '[]', '', '', '', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO reset_requests (correlation_id, person_email, kind, method, status, "
                "code_hash, attempts, approver_email, created_at, updated_at) VALUES "
                "('c1', 'ada@example.com', 'reset', 'email_code', 'done', '', 0, '', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    db.upgrade(engine)
    with db.make_session_factory(engine)() as s:
        old = s.scalars(select(Ticket)).one()
        assert (old.problem, old.requester_directory) == ("from 0001", "")
        assert s.scalars(select(ResetRequest)).one().account_id == ""
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
        assert connection.execute(text("SELECT problem FROM tickets")).scalar_one() == "from 0001"


def test_full_ticket_lifecycle(database_url: str) -> None:
    bot, _ = build_bot(database_url)
    h = Harness(bot)
    h.say(ADA, "talk to a human")
    h.say(ADA, "Teams has no sound in calls")
    h.say(ADA, "urgent")
    h.say(TOM, "claim 1")
    h.say(TOM, "reply 1 Which headset do you use?")
    h.say(ADA, "Jabra Evolve 65")
    h.say(TOM, "resolve 1 Selected the headset as the Teams speaker")
    h.press(ADA, "ticket.rate:1:4")
    with bot.sessions() as s:
        ticket = s.get(Ticket, 1)
        assert (ticket.status, ticket.assignee_email, ticket.rating) == ("closed", TOM, 4)
        kinds = [e.kind for e in s.scalars(select(TicketEvent).order_by(TicketEvent.id))]
    assert kinds == [
        "created",
        "claimed",
        "message_to_requester",
        "message_from_requester",
        "resolved",
        "rated",
    ]


def test_concurrent_claims_have_exactly_one_winner(database_url: str) -> None:
    bot, _ = build_bot(database_url)
    h = Harness(bot)
    h.say(BOB, "talk to a human")
    h.say(BOB, "Printer jam on floor 2")
    h.say(BOB, "not urgent")
    technicians = [TESS, TOM] * 4
    barrier = threading.Barrier(len(technicians))
    answers: dict[int, str] = {}

    def claim(index: int, email: str) -> None:
        barrier.wait()
        replies = Harness(bot).press(email, "ticket.claim:1")
        answers[index] = next(r.text for r in replies if r.to == email)

    threads = [threading.Thread(target=claim, args=(i, e)) for i, e in enumerate(technicians)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    winners = [text for text in answers.values() if text.endswith("is yours.")]
    assert len(answers) == len(technicians) and len(winners) == 1
    with bot.sessions() as s:
        claims = s.scalars(select(TicketEvent).where(TicketEvent.kind == "claimed")).all()
        assert len(claims) == 1 and s.get(Ticket, 1).assignee_email == claims[0].actor_email
