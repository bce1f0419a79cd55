"""Engines, sessions and migrations, plus the translation of database failures into plain words."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


SUPPORTED_BACKENDS = ("sqlite", "postgresql")
SUPPORTED = "use sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:5432/NAME"


class DatabaseError(Exception):
    """The database cannot be used; the message says why and what to do."""


def make_engine(url: str, *, pre_ping: bool = True) -> Engine:
    """The engine for `url`. `pre_ping` tests each pooled connection before use (a round trip per
    transaction) so a connection the server dropped is replaced unseen; without it, the first statement
    on such a connection fails and the caller retries (the dispatcher: `retry_if_disconnected`)."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise DatabaseError(f"FRONTDESK_DATABASE_URL is not a database URL: {error}") from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise DatabaseError(f"FRONTDESK_DATABASE_URL: {parsed.drivername}:// is not supported; {SUPPORTED}")
    try:
        if backend == "sqlite":
            return _sqlite_engine(url)
        if parsed.drivername == "postgresql":
            url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
        return create_engine(url, pool_pre_ping=pre_ping, connect_args=_connect_timeout(backend))
    except (NoSuchModuleError, ImportError):  # a driver that is not installed, or no such driver
        raise DatabaseError(
            f"FRONTDESK_DATABASE_URL: the {parsed.drivername}:// driver is not available; {SUPPORTED}"
        ) from None


def _connect_timeout(backend: str) -> dict[str, object]:
    return {"connect_timeout": 5} if backend == "postgresql" else {}


def _sqlite_engine(url: str) -> Engine:
    """SQLite with real transactions (SQLAlchemy's documented pysqlite recipe).

    Left to itself, pysqlite begins a transaction only before a write and never before a SAVEPOINT, so a
    SAVEPOINT opened first became the outermost transaction and its RELEASE committed it on its own (an
    event id was kept while its handling rolled back), and reads ran outside any transaction. Here the
    driver's own transaction handling is off and SQLAlchemy emits BEGIN itself: everything between begin
    and commit is one transaction, as on PostgreSQL, DDL included (Alembic's migrations roll back whole).
    BEGIN IMMEDIATE takes the write lock at the start: every event writes, and a transaction that read
    under a shared lock and then tried to write could be refused at once ("database is locked") instead
    of waiting its turn under busy_timeout.
    """
    engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS})
    event.listen(engine, "connect", _sqlite_connect)
    turn = _WriteTurn()
    event.listen(engine, "begin", lambda connection: _sqlite_begin(connection, turn))
    event.listen(engine, "checkin", lambda _, record: turn.give_back(record.record_info))
    return engine


BUSY_SECONDS = 15


class _WriteTurn:
    """This process's threads take turns at SQLite's write lock, and the next one goes the moment it is
    free. Left to SQLite, a thread finding the lock taken sleeps and retries with growing pauses (up to
    100 ms each), and while the other threads keep writing it may not get in for half a second or more —
    measured: the dispatcher's thread, behind the handlers' commits, delivered a message 0.5–1.5 s late.

    Held from BEGIN until the connection goes back to the pool (after its commit or rollback). Other
    processes on the file still meet SQLite's own wait. A thread may take it again (a second connection
    of its own: SQLite then refuses that one as before), and no one waits longer than the busy timeout."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._depth = 0

    def take(self, held: dict[Any, Any] | None) -> None:
        if held is None:  # a connection detached from the pool: nothing would give its turn back
            return
        me = threading.get_ident()
        if self._owner != me:
            # A turn never given back (a bug) is taken over after the busy timeout: SQLite's own lock
            # still keeps the writes apart, so this only ever decides who waits, never what is written.
            self._lock.acquire(timeout=BUSY_SECONDS)
            self._owner, self._depth = me, 0
        self._depth += 1
        held[_TURNS] = held.get(_TURNS, 0) + 1

    def give_back(self, held: dict[Any, Any] | None) -> None:
        turns = held.pop(_TURNS, 0) if held is not None else 0
        if not turns or self._depth <= 0:
            return
        self._depth -= turns
        if self._depth <= 0:
            self._owner, self._depth = None, 0
            if self._lock.locked():
                self._lock.release()


_TURNS = "frontdesk_write_turns"  # how many turns a pooled connection holds (its record's info)


def _sqlite_connect(dbapi_connection: object, _: object) -> None:
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]  # SQLAlchemy emits BEGIN itself
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    # Write-ahead logging: readers never wait for the writer, and a commit appends to the log instead of
    # rewriting pages (NORMAL sync is durable across a process crash; an OS crash may lose the last commit).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection, turn: _WriteTurn) -> None:
    held = connection.connection.record_info  # the pooled connection's: the pool's checkin sees it too
    turn.take(held)
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        turn.give_back(held)
        raise


CHECKPOINT_SECONDS = 1.0


def checkpoint(engine: Engine) -> None:
    """Copy SQLite's write-ahead log into the database file now, off the request path.

    Left to SQLite, the commit that grows the log past 1,000 pages does this itself, fsyncs included:
    measured, that one commit took up to 180 ms while every other took well under one, and the message
    waiting on it missed its delivery target. Run every CHECKPOINT_SECONDS by the background work, the log
    never grows that far. PASSIVE neither waits for nor blocks a reader or a writer. Nothing to do on
    PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return
    connection = engine.raw_connection()  # no BEGIN: a checkpoint cannot run inside a transaction
    try:
        cursor = connection.cursor()
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        cursor.close()
    finally:
        connection.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def without_pre_ping(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The same database on an engine of its own that does not ping before each transaction — for the
    dispatcher, whose two short transactions per message the ping would lengthen by a round trip each.
    SQLite has no ping to save: its factory is returned as it is."""
    engine = sessions.kw.get("bind")
    if not isinstance(engine, Engine) or engine.dialect.name == "sqlite":
        return sessions
    return make_session_factory(make_engine(engine.url.render_as_string(hide_password=False), pre_ping=False))


def retry_if_disconnected(work: Callable[[], T]) -> T:
    """Run `work` (a whole transaction); once more if it failed because the server had dropped the pooled
    connection (a restart, an idle timeout): the pool has then let go of it and reconnects."""
    try:
        return work()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        return work()


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory.begin() as session:
        yield session


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (safe to call on every start)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as error:
        raise DatabaseError(explain(error, engine)) from None


def check_schema(engine: Engine) -> None:
    """Fail early with a clear message when the database is unreachable or not migrated."""
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
    except SQLAlchemyError as error:
        raise DatabaseError(explain(error, engine)) from None
    if "tickets" not in tables:
        raise DatabaseError(
            f"the database at {describe(engine)} has no frontdesk tables: run `frontdesk db upgrade`"
        )


def check_writable(engine: Engine) -> None:
    """Fail at start-up, not at the first message, when the database can be read but not written."""
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            # A write that changes nothing, rolled back: refused by a read-only file, mount or replica.
            connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
            transaction.rollback()
    except SQLAlchemyError as error:
        raise DatabaseError(explain(error, engine)) from None


def describe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def explain(error: BaseException, engine: Engine | None = None) -> str:
    """A database failure in plain words, naming the database but never its password."""
    where = describe(engine) if engine is not None else "the database"
    text = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return f"the database at {where} is read-only ({text}); frontdesk needs to write to it"
    if "unable to open database" in lowered:
        return f"cannot open the database at {where} ({text}); check that its folder exists and is writable"
    if isinstance(error, OperationalError | DBAPIError) and (
        "connect" in lowered or "connection" in lowered or "timeout" in lowered
    ):
        return f"cannot reach the database at {where} ({text})"
    return f"database error at {where}: {text}"
