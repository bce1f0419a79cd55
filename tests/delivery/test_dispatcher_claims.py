"""The dispatcher's claim — one `UPDATE … RETURNING` — on SQLite and on a real PostgreSQL: a message waits
for the earlier ones to the same person, two dispatchers at once never take the same row nor reorder a
person's messages, and a connection the server dropped is replaced without a failed sweep."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import create_engine, select, text, update

from bot.bootstrap import App
from bot.messages import Outbox, Reply
from bot.store.models import OutboxMessage
from tests.conftest import build_app_for_tests
from tests.fakes import RecordingDeliverer

ADA, BOB = "ada@example.com", "bob@example.com"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "sqlite":
        return sqlite_url
    return str(request.getfixturevalue("fresh_postgres_url"))


def background_app(url: str, deliverer: RecordingDeliverer) -> App:
    return build_app_for_tests(url, chat=[deliverer])


def enqueue(app: App, *replies: tuple[str, str]) -> list[int]:
    outbox = Outbox(replies=[Reply(to=to, text=said) for to, said in replies])
    with app.sessions.begin() as session:
        batch = app.delivery.enqueue(session, outbox, uuid.uuid4().hex)
    return [item.row_id for item in batch.items if item.row_id is not None]


def statuses(app: App) -> dict[int, str]:
    with app.sessions() as session:
        return dict(tuple(row) for row in session.execute(select(OutboxMessage.id, OutboxMessage.status)))


def said(deliverer: RecordingDeliverer, to: str) -> list[str]:
    return [reply.text for reply in deliverer.delivered if reply.to == to]


def test_a_message_waits_while_an_earlier_one_to_the_same_person_is_being_sent_elsewhere(
    database_url: str,
) -> None:
    deliverer = RecordingDeliverer(inline=False)
    app = background_app(database_url, deliverer)
    first, second, other = enqueue(app, (ADA, "one"), (ADA, "two"), (BOB, "for bob"))
    with app.sessions.begin() as session:  # another process has claimed Ada's first message
        session.execute(update(OutboxMessage).where(OutboxMessage.id == first).values(status="sending"))

    app.delivery.dispatcher.run_due()
    assert said(deliverer, BOB) == ["for bob"] and said(deliverer, ADA) == []
    assert statuses(app)[second] == "pending"  # handed back untouched: not an attempt
    with app.sessions() as session:
        assert session.get(OutboxMessage, second).attempts == 0  # type: ignore[union-attr]

    with app.sessions.begin() as session:  # that process delivered it
        session.execute(update(OutboxMessage).where(OutboxMessage.id == first).values(status="delivered"))
    app.delivery.dispatcher.run_due()
    assert said(deliverer, ADA) == ["two"]
    assert statuses(app) == {first: "delivered", second: "delivered", other: "delivered"}


def test_only_the_rows_asked_for_are_delivered_now_and_never_ahead_of_an_earlier_one(
    database_url: str,
) -> None:
    deliverer = RecordingDeliverer(inline=False)
    app = background_app(database_url, deliverer)
    first, second = enqueue(app, (ADA, "one"), (ADA, "two"))
    (bobs,) = enqueue(app, (BOB, "for bob"))

    assert app.delivery.dispatcher.deliver_now([second, bobs]) == 1  # Ada's second waits for her first
    assert said(deliverer, ADA) == [] and said(deliverer, BOB) == ["for bob"]
    assert app.delivery.dispatcher.deliver_now([first, second]) == 2
    assert said(deliverer, ADA) == ["one", "two"]


def test_two_dispatchers_at_once_deliver_each_message_once_and_in_order_per_person(
    database_url: str,
) -> None:
    deliverer = RecordingDeliverer(inline=False)
    apps = [background_app(database_url, deliverer) for _ in range(2)]
    people = [f"person{i}@example.com" for i in range(8)]
    for start in range(0, 240, 40):  # 240 messages in six commits: more than two batches
        enqueue(apps[0], *((people[i % 8], f"message {i:03d}") for i in range(start, start + 40)))
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def sweep(app: App) -> None:
        try:
            start.wait()
            while any(status != "delivered" for status in statuses(app).values()):
                app.delivery.dispatcher.run_due()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=sweep, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    texts = [reply.text for reply in deliverer.delivered]
    assert sorted(texts) == [f"message {i:03d}" for i in range(240)]  # each once, none lost
    for person in people:
        theirs = said(deliverer, person)
        assert theirs == sorted(theirs) and len(theirs) == 30  # in the order they were written


@pytest.mark.postgres
def test_the_dispatcher_reconnects_when_the_server_dropped_its_connection(fresh_postgres_url: str) -> None:
    deliverer = RecordingDeliverer(inline=False)
    app = background_app(fresh_postgres_url, deliverer)
    enqueue(app, (ADA, "before"))
    assert app.delivery.dispatcher.run_due() == 1  # its pooled connection now exists
    admin = create_engine(fresh_postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # a server restart, as far as every other connection knows
        dropped = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    admin.dispose()
    assert dropped >= 1

    enqueue(app, (ADA, "after"))
    assert app.delivery.dispatcher.run_due() == 1  # no failed sweep: reconnected and delivered
    assert said(deliverer, ADA) == ["before", "after"]
