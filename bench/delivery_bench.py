"""Delivery through the outbox, on SQLite and on a real PostgreSQL:

    .venv/bin/python -m bench.delivery_bench [--rows 2000] [--seconds 10]

- dispatcher throughput: rows per second delivered from a backlog to a no-op deliverer (claimed, sent
  and recorded in batches of up to 100: two short transactions a batch);
- added latency from commit to delivery at a steady 100 rows/s, for a background platform (the
  dispatcher's thread is woken at each commit, as for Slack or email) and an inline one (the console,
  delivered in the handling thread): p50 / p99; target p99 ≤ 20 ms;
- lease takeover: two `frontdesk worker` processes, the leader killed with SIGKILL, the time until the
  other holds the lease (FRONTDESK_LEASE_SECONDS=5 here; the default is 30).
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog

from bot.bootstrap import App
from bot.messages import Outbox, Reply
from tests.conftest import build_app_for_tests
from tests.servers.postgres import PostgresUnavailable, running_postgres

LATENCY_TARGET_MS = 20.0


class NoopDeliverer:
    """Takes every message at once and notes when it arrived."""

    def __init__(self, platform: str, *, inline: bool) -> None:
        self.platform, self.inline = platform, inline
        self.arrived: dict[str, float] = {}
        self._lock = threading.Lock()

    def route(self, recipient: str, identity: dict[str, Any] | None) -> dict[str, Any]:
        return {"to": recipient}

    def send(self, address: dict[str, Any], payload: Any) -> dict[str, Any]:
        with self._lock:
            self.arrived[payload.text] = time.perf_counter()
        return {"ok": True}

    def update(self, ref: dict[str, Any], payload: Any) -> dict[str, Any]:
        return self.send({}, payload)

    def delete(self, ref: dict[str, Any]) -> None:
        return None


def quiet() -> None:
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))


def enqueue(app: App, texts: list[str]) -> Any:
    outbox = Outbox(replies=[Reply(to=f"person{i % 50}@example.com", text=t) for i, t in enumerate(texts)])
    with app.sessions.begin() as session:
        return app.delivery.enqueue(session, outbox, uuid.uuid4().hex)


def throughput(url: str, rows: int) -> float:
    noop = NoopDeliverer("bench", inline=False)
    app = build_app_for_tests(url, chat=[noop])
    for start in range(0, rows, 100):
        enqueue(app, [f"backlog {i}" for i in range(start, min(rows, start + 100))])
    began = time.perf_counter()
    while len(noop.arrived) < rows:
        app.delivery.dispatcher.run_due()
    return rows / (time.perf_counter() - began)


def latency(url: str, seconds: float, *, inline: bool) -> list[float]:
    noop = NoopDeliverer("bench", inline=inline)
    app = build_app_for_tests(url, chat=[noop], delivery_poll_seconds=1)
    committed: dict[str, float] = {}
    if not inline:
        app.start_background(role="bench")
    try:
        interval, count = 0.01, int(seconds * 100)  # 100 rows/s
        next_at = time.perf_counter()
        for i in range(count):
            text = f"steady {i}"
            batch = enqueue(app, [text])
            committed[text] = time.perf_counter()
            app.delivery.release(batch)
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
        deadline = time.perf_counter() + 10
        while len(noop.arrived) < count and time.perf_counter() < deadline:
            time.sleep(0.01)
    finally:
        app.stop_background()
    return [(noop.arrived[t] - committed[t]) * 1000 for t in committed if t in noop.arrived]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def takeover(url: str, workdir: Path) -> float:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from bot.store import db
    from bot.store.models import Lease
    from tests.delivery.test_processes import start_worker

    db.upgrade(db.make_engine(url))

    def holder() -> str:
        engine = create_engine(url)
        with Session(engine) as session:
            lease = session.get(Lease, "scheduler")
            name = lease.holder if lease is not None else ""
        engine.dispose()
        return name

    workers = [start_worker(url, workdir / f"w{i}.log", lease_seconds=5) for i in (1, 2)]
    try:
        wait(lambda: holder() != "", 30)
        led_by = holder()
        leader = next(w for w in workers if f":{w.pid}:" in led_by)
        leader.send_signal(signal.SIGKILL)
        killed = time.perf_counter()
        wait(lambda: holder() not in ("", led_by), 30)
        return time.perf_counter() - killed
    finally:
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                worker.kill()
            worker.wait(10)


def wait(check: Any, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError("not within the time")
        time.sleep(0.05)


@contextlib.contextmanager
def databases(workdir: Path) -> Iterator[list[tuple[str, str]]]:
    found = [("sqlite", f"sqlite:///{workdir / 'bench.db'}")]
    try:
        with running_postgres() as url:
            yield [*found, ("postgresql", url)]
    except PostgresUnavailable as error:
        print(f"postgresql: skipped ({error})")
        yield found


def fresh(url: str, name: str) -> str:
    """A database of its own for each measurement."""
    if url.startswith("sqlite"):
        return url.replace("bench.db", f"{name}.db")
    from sqlalchemy import create_engine, text

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    quiet()
    missed = False
    with tempfile.TemporaryDirectory() as tmp, databases(Path(tmp)) as targets:
        for name, url in targets:
            rate = throughput(fresh(url, "throughput"), args.rows)
            print(f"{name}: dispatcher throughput {rate:,.0f} rows/s ({args.rows} rows, no-op deliverer)")
            for inline in (False, True):
                kind = "inline (console)" if inline else "background (woken dispatcher thread)"
                ms = latency(fresh(url, f"latency_{int(inline)}"), args.seconds, inline=inline)
                p50, p99 = statistics.median(ms), percentile(ms, 0.99)
                ok = p99 <= LATENCY_TARGET_MS
                missed |= not ok
                print(
                    f"{name}: commit → delivery at 100 rows/s, {kind}: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
                    f"(n={len(ms)}; target p99 ≤ {LATENCY_TARGET_MS:.0f} ms: {'met' if ok else 'MISSED'})"
                )
            seconds = takeover(fresh(url, "lease"), Path(tmp))
            print(f"{name}: lease takeover after SIGKILL of the leader: {seconds:.1f} s (lease 5 s)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
