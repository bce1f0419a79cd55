"""Background work in every long-running process (`frontdesk chat`, `run`, `worker`):

- the dispatcher, in every process, on a thread of its own: woken at once whenever this process commits
  rows for a background platform (chat APIs, email), and every FRONTDESK_DELIVERY_POLL_SECONDS for retries,
  rows other processes left and deletions that fell due;
- APScheduler 3 for the rest: the lease, renewed every third of FRONTDESK_LEASE_SECONDS, and the scheduled
  jobs (handlers/jobs.py), run only while this process holds the lease, each through the engine as a unit
  of work with the system actor; and, on SQLite, the write-ahead log's checkpoint every second
  (bot/store/db.py `checkpoint`), so no commit has to do it.

The dispatcher has its own thread rather than an APScheduler job because a job already running cannot be
woken again: a commit during a sweep would wait for the next tick (measured: p99 over a second).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from bot.lease import Lease
from bot.store import db
from handlers.jobs import SCHEDULE, Scheduled

if TYPE_CHECKING:
    from bot.bootstrap import App

log = structlog.get_logger(__name__)
LEASE_NAME = "scheduler"


def holder_name() -> str:
    """Who holds the lease, readable by an operator: host, process id and a random tail."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class DeliveryLoop:
    """The dispatcher's thread: a sweep whenever woken, and at least every `poll_seconds`."""

    def __init__(self, run_due: Callable[[], object], poll_seconds: float) -> None:
        self.run_due = run_due
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frontdesk-delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.run_due()
            except Exception as error:  # the database may be down; the next sweep tries again
                log.warning("delivery_sweep_failed", error=(str(error) or repr(error)).splitlines()[0])


class BackgroundWork:
    def __init__(self, app: App, *, role: str) -> None:
        self.app = app
        self.role = role
        settings = app.settings
        self.lease = Lease(app.sessions, LEASE_NAME, holder_name(), settings.lease_seconds)
        self.delivery = DeliveryLoop(app.delivery.dispatcher.run_due, settings.delivery_poll_seconds)
        self.scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
        )

    def start(self) -> None:
        settings = self.app.settings
        started = datetime.now(UTC)
        leader = self.lease.acquire()
        self._say_role(leader)
        self.scheduler.add_job(
            self.renew_lease, "interval", seconds=max(1.0, settings.lease_seconds / 3), id="lease"
        )
        for job in SCHEDULE:
            # Jobs first run a few seconds after start: a restarted bot catches up on what fell due.
            self.scheduler.add_job(
                self._runner(job),
                "interval",
                seconds=job.every_seconds,
                id=job.name,
                next_run_time=started + timedelta(seconds=2),
            )
        if self.app.engine.dialect.name == "sqlite":  # every process that writes, leader or not
            self.scheduler.add_job(
                db.checkpoint,
                "interval",
                args=[self.app.engine],
                seconds=db.CHECKPOINT_SECONDS,
                id="checkpoint",
            )
        self.app.delivery.on_wake(self.delivery.wake)
        self.delivery.start()
        self.scheduler.start()

    def stop(self) -> None:
        self.app.delivery.on_wake(lambda: None)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.delivery.stop()
        self.lease.release()

    def renew_lease(self) -> None:
        was = self.lease.held
        if self.lease.acquire() and not was:
            log.info("scheduler_took_over", holder=self.lease.holder, process=self.role)
            for job in SCHEDULE:  # catch up at once on what fell due while nobody led
                self.scheduler.modify_job(job.name, next_run_time=datetime.now(UTC))

    def _runner(self, job: Scheduled) -> Callable[[], None]:
        def run() -> None:
            if self.lease.held:
                self.app.bot.run_job(job.name, job.run)

        run.__name__ = f"job_{job.name}"
        return run

    def _say_role(self, leader: bool) -> None:
        if leader:
            log.info("scheduler_leader", holder=self.lease.holder, process=self.role)
            return
        holder = self.lease.current_holder() or "another process"
        sqlite = self.app.engine.url.get_backend_name() == "sqlite"
        (log.warning if sqlite else log.info)(
            "scheduler_standby",
            holder=holder,
            detail="another frontdesk process runs the scheduled jobs on this database; this one only "
            "serves (and delivers), and takes the jobs over if that process stops",
        )
