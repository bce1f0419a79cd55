"""Delivery across processes and outages, with real processes and real servers: a bot killed after the
commit loses nothing and repeats nothing; SMTP down then back delivers each email once; workers sharing a
database run each job once, and another takes over when the leader is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from bot.store import db
from bot.store.models import AuditRecord, Lease, OutboxMessage, Ticket
from tests.conftest import Harness, build_bot
from tests.servers.smtp import Mailbox
from tests.servers.support import free_port

ROOT = Path(__file__).resolve().parents[2]
ADA, TESS = "ada@example.com", "tess@example.com"


def python(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env, **kw
    )


def test_a_bot_killed_after_the_commit_delivers_every_reply_once_on_restart(sqlite_url: str) -> None:
    crashed = python("-m", "tests.delivery.crash_bot", sqlite_url, "crash")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    restarted = python("-m", "tests.delivery.crash_bot", sqlite_url, "restart")
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    delivered = json.loads(restarted.stdout.strip().splitlines()[-1])
    # the third event's replies, each once, and nothing the first process had delivered already
    assert sorted(m["to"] for m in delivered) == ["#triage", ADA]
    assert "I've opened ticket #1" in next(m["text"] for m in delivered if m["to"] == ADA)
    engine = db.make_engine(sqlite_url)
    with Session(engine) as session:
        rows = list(session.scalars(select(OutboxMessage)))
    assert rows and all(r.status == "delivered" for r in rows)
    assert max(r.attempts for r in rows) == 2  # the row the dead process held was sent once, by the next
    assert len({r.idempotency_key for r in rows}) == len(rows)


def test_smtp_down_then_back_delivers_each_email_once(sqlite_url: str, frozen_clock) -> None:
    from aiosmtpd.controller import Controller

    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    mailbox = Mailbox("127.0.0.1", free_port())
    bot, _ = build_bot(sqlite_url, smtp_host=mailbox.host, smtp_port=mailbox.port, smtp_timeout_seconds=2)
    h = Harness(bot)
    h.say(ADA, "talk to a human")
    h.say(ADA, "The projector shows no picture")
    assert any("opened ticket" in r.text for r in h.say(ADA, "not urgent"))  # the chat did not wait
    with bot.sessions() as s:
        email = s.scalars(select(OutboxMessage).where(OutboxMessage.platform == "email")).one()
    assert (email.status, email.attempts) == ("pending", 1) and "SMTP" in email.last_error
    controller = Controller(mailbox, hostname=mailbox.host, port=mailbox.port)
    controller.start()
    try:
        for minutes in range(1, 20):
            frozen_clock(start + timedelta(minutes=minutes))
            bot.delivery.dispatcher.run_due()
        assert len(mailbox.wait_for(ADA, 1)) == 1
        time.sleep(0.2)
        assert len(mailbox.to(ADA)) == 1
    finally:
        controller.stop()
    with bot.sessions() as s:
        assert s.get(OutboxMessage, email.id).status == "delivered"  # type: ignore[union-attr]


# --- workers sharing a database -------------------------------------------------------------------------


def worker_env(url: str, lease_seconds: int = 2) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env.update(
        FRONTDESK_DATABASE_URL=url,
        FRONTDESK_LEASE_SECONDS=str(lease_seconds),
        FRONTDESK_LOG_FORMAT="json",
        FRONTDESK_KB_SEMANTIC="off",
        FRONTDESK_CLAIM_EXPIRY="60",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_worker(url: str, log: Path, lease_seconds: int = 2) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker"],
        cwd=ROOT,
        env=worker_env(url, lease_seconds),
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
    )


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    running: list[subprocess.Popen[str]] = []
    yield running
    for process in running:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def stale_claim(url: str, subject: str) -> int:
    """A ticket claimed a day ago with no word to the requester: due for claim expiry."""
    engine = create_engine(url)
    day_ago = datetime.now(UTC) - timedelta(days=1)
    with Session(engine) as session, session.begin():
        ticket = Ticket(
            subject=subject,
            problem=subject,
            requester_email=ADA,
            assignee_email=TESS,
            status="claimed",
            claimed_at=day_ago,
            created_at=day_ago,
            updated_at=day_ago,
            flags=[],
        )
        session.add(ticket)
        session.flush()
        ticket_id = ticket.id
    engine.dispose()
    return ticket_id


def wait_until(check, timeout: float) -> float:  # type: ignore[no-untyped-def]
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():
            return time.monotonic() - began
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def returned(url: str, ticket_id: int) -> bool:
    engine = create_engine(url)
    with Session(engine) as session:
        ticket = session.get(Ticket, ticket_id)
        result = ticket is not None and ticket.status == "new"
    engine.dispose()
    return result


def count_expiries(url: str) -> int:
    engine = create_engine(url)
    with Session(engine) as session:
        count = session.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "ticket.claim_expired")
        )
    engine.dispose()
    return int(count or 0)


def holder(url: str) -> str:
    engine = create_engine(url)
    with Session(engine) as session:
        lease = session.get(Lease, "scheduler")
        name = lease.holder if lease else ""
    engine.dispose()
    return name


def roles(log: Path) -> set[str]:
    """The scheduler roles a worker's log says it took."""
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return {e["event"] for e in events} & {"scheduler_leader", "scheduler_standby"}


def shared_database_run_jobs_once_and_fail_over(url: str, tmp_path: Path, workers: list) -> float:  # type: ignore[type-arg]
    db.upgrade(db.make_engine(url))
    first = stale_claim(url, "Docking station is dead")
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    workers += [start_worker(url, logs[0]), start_worker(url, logs[1])]
    wait_until(lambda: returned(url, first), 30)
    # Each worker says which it became once it has tried the lease (a busy machine may take a while).
    wait_until(lambda: all(roles(log) for log in logs), 30)
    assert count_expiries(url) == 1
    leaders = [i for i, log in enumerate(logs) if "scheduler_leader" in roles(log)]
    assert len(leaders) == 1, [log.read_text()[-1500:] for log in logs]
    standby = 1 - leaders[0]
    assert "scheduler_standby" in roles(logs[standby])
    led_by = holder(url)
    workers[leaders[0]].kill()  # SIGKILL: no clean release of the lease
    workers[leaders[0]].wait(10)
    killed_at = time.monotonic()
    second = stale_claim(url, "Mouse double-clicks")
    wait_until(lambda: holder(url) not in ("", led_by), 15)
    takeover = time.monotonic() - killed_at
    wait_until(lambda: returned(url, second), 15)
    assert count_expiries(url) == 2
    return takeover


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_on_postgresql_run_each_job_once_and_fail_over(
    fresh_postgres_url: str,
    tmp_path: Path,
    workers: list,  # type: ignore[type-arg]
) -> None:
    takeover = shared_database_run_jobs_once_and_fail_over(fresh_postgres_url, tmp_path, workers)
    assert takeover <= 2 * 2 + 2  # within the lease (2 s) plus a renewal period, with margin for CI


@pytest.mark.slow
def test_two_workers_on_one_sqlite_file_one_serves_one_waits(
    sqlite_url: str,
    tmp_path: Path,
    workers: list,  # type: ignore[type-arg]
) -> None:
    takeover = shared_database_run_jobs_once_and_fail_over(sqlite_url, tmp_path, workers)
    assert takeover <= 6
