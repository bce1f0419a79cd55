"""The access reconciler's sweep, and the time one membership removal takes on real servers.

    .venv/bin/python -m bench.access_bench [--grants 100000] [--due 1000] [-n 20]

Sweep: 100,000 active grants of which 1,000 are past their end; one run of the reconciler job
(`reconcile_access_grants`: the indexed due-time query, the removal through an in-memory directory, the
grant rows, the audit rows and the notices in the outbox, one commit) must take ≤ 2 s on SQLite and on
PostgreSQL. Removal: the median and 95th percentile of `remove_member` against slapd and Samba AD (no
target; it shows what a sweep of due grants costs per grant there). Exits 1 when a sweep misses its
target; a server that cannot start is reported as skipped.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import func, insert, select

from automations.demo_directory import DemoDirectory
from automations.directory import DirectoryPerson
from automations.ldap import LdapConfigError, LdapDirectory
from bench.ldap_bench import p95
from bot.clock import set_clock
from bot.messages import Outbox
from bot.settings import DEMO_ACCESS_CATALOG, DEMO_DIRECTORY_FILE
from bot.store.models import AccessGrant
from handlers import jobs
from handlers.context import SYSTEM
from tests.conftest import build_bot
from tests.servers.directory import ServerUnavailable, start_samba_ad, start_slapd, stop_server
from tests.servers.postgres import PostgresUnavailable, running_postgres

SWEEP_TARGET_S = 2.0
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class InstantDirectory(DemoDirectory):
    """Any bench person by id; removals cost nothing (the sweep is what is timed)."""

    def get(self, person_id: str) -> DirectoryPerson | None:
        return DirectoryPerson(id=person_id, email=person_id, name=person_id)

    def remove_member(self, person: DirectoryPerson, group: str) -> bool:
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--grants", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("-n", type=int, default=20, help="timed removals per directory server")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger().setLevel(logging.WARNING)
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        ok &= sweep("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}", args.grants, args.due)
    try:
        with running_postgres() as url:
            ok &= sweep("postgresql", url, args.grants, args.due)
    except PostgresUnavailable as error:
        print(f"postgresql: skipped ({error})")
    for label, start in (("openldap", start_slapd), ("samba-ad", start_samba_ad)):
        removals(label, start, args.n)
    return 0 if ok else 1


def sweep(label: str, url: str, total: int, due: int) -> bool:
    set_clock(lambda: NOW)
    try:
        source = DemoDirectory.from_file(DEMO_DIRECTORY_FILE)
        directory = InstantDirectory(source.people(), dict(source._groups), dict(source._accounts))
        bot, _ = build_bot(url, directory=directory, access_catalog=DEMO_ACCESS_CATALOG)
        _fill(bot.sessions, total, due)
        # Timed apart: the reconciler's own work (the indexed due query, the removals, the grant and audit
        # rows, flushed), then writing its 1,000 notices into the outbox (the delivery layer: one identity
        # lookup and one row per message), then the commit. The target is for the sweep.
        with bot.sessions.begin() as session:
            ctx = bot._context(session, None, SYSTEM, Outbox())
            started = time.perf_counter()
            jobs.reconcile_access_grants(ctx)
            session.flush()
            elapsed = time.perf_counter() - started
            started = time.perf_counter()
            bot.delivery.enqueue(session, ctx.outbox, "bench:sweep")
            enqueueing = time.perf_counter() - started
            started = time.perf_counter()
        committing = time.perf_counter() - started
        with bot.sessions() as session:
            left = session.scalar(
                select(func.count()).select_from(AccessGrant).where(AccessGrant.status == "active")
            )
    finally:
        set_clock(None)
    swept = total - int(left or 0)
    verdict = "ok" if elapsed <= SWEEP_TARGET_S and swept == due else "MISSED"
    print(
        f"{label}: sweep of {total:,} active grants, {due:,} due: {elapsed:.2f} s, {swept:,} ended "
        f"(target ≤ {SWEEP_TARGET_S:.0f} s) {verdict}; + its notices into the outbox {enqueueing:.2f} s, "
        f"commit {committing:.2f} s",
        flush=True,
    )
    return verdict == "ok"


def _fill(sessions, total: int, due: int) -> None:  # type: ignore[no-untyped-def]
    """`total` active grants, the first `due` of them past their end, the rest in the coming weeks."""
    rows = []
    for number in range(total):
        ends = (
            NOW - timedelta(minutes=1 + number % 50) if number < due else NOW + timedelta(minutes=5 + number)
        )
        email = f"person{number}@example.com"
        rows.append(
            {
                "person_email": email,
                "person_id": email,
                "entry_id": "finance-reports",
                "group": "finance",
                "status": "active",
                "pre_existing": False,
                "granted_at": NOW - timedelta(days=1),
                "expires_at": ends,
                "next_attempt_at": ends,
                "removal_attempts": 0,
                "last_error": "",
                "end_reason": "",
            }
        )
    with sessions.begin() as session:
        for start in range(0, total, 10_000):
            session.execute(insert(AccessGrant), rows[start : start + 10_000])


def removals(label: str, start, rounds: int) -> None:  # type: ignore[no-untyped-def]
    try:
        server = start()
    except ServerUnavailable as error:
        print(f"{label}: skipped ({error.reason})")
        return
    try:
        try:
            directory = LdapDirectory(server.config())
        except LdapConfigError as error:  # e.g. another run's server took the fixed AD ports meanwhile
            print(f"{label}: skipped ({error})")
            return
        group = server.create_group()
        timings = []
        for _ in range(rounds):
            user = server.create_user()
            person = directory.find_by_email(user.email)
            assert person is not None
            directory.add_member(person, group)
            started = time.perf_counter()
            directory.remove_member(person, group)
            timings.append((time.perf_counter() - started) * 1000)
        directory.close()
        print(
            f"{label}: one membership removal: median {statistics.median(timings):.1f} ms, "
            f"p95 {p95(timings):.1f} ms ({rounds} removals)",
            flush=True,
        )
    finally:
        stop_server(server)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
