"""SQLite's write-ahead log is copied into the database file by the background work's checkpoint, not by
whichever commit happens to grow the log past SQLite's threshold."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, select

from bot.store import db
from bot.store.models import ProcessedEvent


def in_database_file(database: Path, tmp_path: Path) -> int:
    """Events the database file holds on its own, without its write-ahead log."""
    alone = tmp_path / "alone.db"
    shutil.copyfile(database, alone)
    engine = create_engine(f"sqlite:///{alone}")
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(ProcessedEvent))
    engine.dispose()
    return int(count or 0)


def test_a_checkpoint_moves_committed_rows_from_the_log_into_the_database_file(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    engine = db.make_engine(f"sqlite:///{database}")
    db.upgrade(engine)
    db.checkpoint(engine)  # the tables, in the file
    with engine.begin() as connection:
        for number in range(20):
            connection.execute(
                ProcessedEvent.__table__.insert().values(event_id=f"ev{number}", at=datetime.now(UTC))
            )
    assert in_database_file(database, tmp_path) == 0  # committed, but only in the log so far

    db.checkpoint(engine)
    assert in_database_file(database, tmp_path) == 20
    with engine.connect() as connection:  # the engine goes on as before
        assert connection.scalar(select(func.count()).select_from(ProcessedEvent)) == 20
    engine.dispose()


def test_a_checkpoint_on_postgresql_does_nothing() -> None:
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    db.checkpoint(engine)  # no connection is even attempted: port 1 would refuse it
