"""What the chat benchmarks (bench/slack_bench.py, bench/teams_bench.py) share: simulated employees with
think time, the bot in a process of its own, the databases it runs on, and the report against the targets.

The employees are the outside world: they run in the benchmark's process, with the fake chat service,
so their threads neither share the bot's interpreter lock nor count in its CPU. Each employee asks a
knowledge-base question, waits (on a condition variable, not polling) for the answer to reach the fake,
thinks (random, seeded, `think` seconds on average) and asks the next; every tenth turn is a ticket
instead (ask for a person, describe the problem, say it is not urgent: the ticket's card goes to triage).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import structlog

QUESTIONS = (
    "how do I set up mfa on my new phone",
    "onedrive is not syncing",
    "my laptop is very slow",
    "how do I share my calendar",
    "how do I set an out of office reply",
    "how do I restore a deleted file",
    "bitlocker is asking for a recovery key",
    "how do I book a meeting room",
    "my docking station does not work",
)
# A ticket: three turns, each answered in the DM; the last also posts the ticket's card to triage.
TICKET = ("I want to talk to a human", "the printer on floor 3 jams on every page", "not urgent")
TICKET_EVERY = 10  # every tenth turn of an employee is a ticket
ACK_P99_MS, REPLY_P99_MS = 100.0, 500.0
REPLY_TIMEOUT_SECONDS = 30.0

# Post one message from employee `i` (text, event id); the ack's latency in ms. OSError when refused.
Say = Callable[[int, str, str], float]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def quiet() -> None:
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))


def parse_options(prog: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--employees", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think", type=float, default=5.0, help="mean seconds before the next turn")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default="")
    return parser.parse_args(argv)


def people(n: int) -> dict[str, Any]:
    employees = [
        {"email": f"emp{i:02d}@example.com", "name": f"Employee {i}", "department": "Sales"} for i in range(n)
    ]
    tech = {"email": "tess@example.com", "name": "Tess Tech", "groups": ["it-support"]}
    return {"people": [*employees, tech], "groups": [{"name": "it-support"}]}


# --- the outside world: the employees ------------------------------------------------------------------


class Arrivals:
    """When each message reached the fake, per conversation; the fake calls `record`, employees `wait`."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.at: dict[str, list[float]] = {}

    def record(self, conversation: str, arrived: float) -> None:
        with self._changed:
            self.at.setdefault(conversation, []).append(arrived)
            self._changed.notify_all()

    def count(self, conversation: str) -> int:
        with self._changed:
            return len(self.at.get(conversation, ()))

    def wait(self, conversation: str, seen: int, timeout: float) -> float | None:
        """When message number `seen` (0-based) to `conversation` arrived, waiting up to `timeout`."""
        with self._changed:
            if self._changed.wait_for(lambda: len(self.at.get(conversation, ())) > seen, timeout):
                return self.at[conversation][seen]
        return None


def run_employees(
    arrivals: Arrivals,
    say: Say,
    conversation: Callable[[int], str],
    n: int,
    seconds: float,
    think: float,
    *,
    wait_reply: bool,
) -> dict[str, Any]:
    """`n` employees for `seconds`; employee `i` is answered in `conversation(i)`."""
    acks: list[float] = []
    replies: list[float] = []
    sent: Counter[str] = Counter()  # messages per conversation: each gets exactly one reply there
    tickets = 0
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def turn(i: int, text: str, event_id: str, *, timed: bool) -> None:
        nonlocal errors
        where = conversation(i)
        seen = arrivals.count(where)
        started = time.monotonic()
        try:
            ack = say(i, text, event_id)
        except OSError:  # refused or reset: the chat service would retry it; counted, not timed
            with lock:
                errors += 1
            return
        with lock:
            acks.append(ack)
            sent[where] += 1
        if wait_reply:
            arrived = arrivals.wait(where, seen, REPLY_TIMEOUT_SECONDS)
            if arrived is not None and timed:
                with lock:
                    replies.append((arrived - started) * 1000)

    def employee(i: int) -> None:
        nonlocal tickets
        rng = random.Random(i)
        time.sleep(rng.uniform(0, think))  # people do not all start typing at the same instant
        number = 0
        while time.monotonic() < deadline:
            number += 1
            if number % TICKET_EVERY == 0:
                for step, text in enumerate(TICKET):
                    turn(i, text, f"Ev{i:03d}-{number:05d}-{step}", timed=False)
                with lock:
                    tickets += 1
            else:
                turn(i, QUESTIONS[(i + number) % len(QUESTIONS)], f"Ev{i:03d}-{number:05d}", timed=True)
            time.sleep(min(rng.expovariate(1 / think), max(0.0, deadline - time.monotonic())))

    threads = [threading.Thread(target=employee, args=(i,)) for i in range(n)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "acks": acks,
        "replies": replies,
        "sent": sent,
        "tickets": tickets,
        "elapsed": elapsed,
        "errors": errors,
    }


# --- the bot in a process of its own -------------------------------------------------------------------


def measured(port: int, pipe: Connection) -> None:
    """In the bot's process, once it serves on `port`: the CPU seconds it used between "go" and "stop"."""
    pipe.send(port)
    pipe.recv()  # the load starts
    cpu = time.process_time()
    pipe.recv()  # the load and its replies are done
    pipe.send(time.process_time() - cpu)


@contextlib.contextmanager
def process(target: Any, *args: Any) -> Iterator[tuple[int, Connection]]:
    """A spawned process serving `target`; yields its port and the pipe that starts and stops the
    measurement."""
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(target=target, args=(*args, theirs), daemon=True)
    child.start()
    try:
        if not ours.poll(180):
            raise RuntimeError("the bot did not start within 3 minutes")
        yield ours.recv(), ours
    finally:
        child.join(30)
        if child.is_alive():
            child.kill()


def under_load(
    target: Any, args: tuple[Any, ...], load: Callable[[int], dict[str, Any]], *, settle: bool
) -> dict[str, Any]:
    """`target(*args, pipe)` in a process of its own, `load(port)` against it, and its CPU seconds."""
    with process(target, *args) as (port, pipe):
        pipe.send("go")
        result = load(port)
        if settle:
            time.sleep(2)  # anything late or repeated lands before the replies are counted
        pipe.send("stop")
        result["cpu"] = pipe.recv()
    return result


@contextlib.contextmanager
def databases(workdir: Path, only: str) -> Iterator[list[tuple[str, str]]]:
    sqlite = [("sqlite", f"sqlite:///{workdir / 'bench.db'}")]
    if only == "sqlite":
        yield sqlite
        return
    from tests.servers.postgres import PostgresUnavailable, running_postgres

    try:
        with running_postgres() as url:
            yield [*sqlite, ("postgresql", url)] if only != "postgresql" else [("postgresql", url)]
    except PostgresUnavailable as error:
        print(f"postgresql: skipped ({error})")
        yield sqlite


def incident_alerts(database_url: str) -> int:
    """How many "possible widespread problem" alerts the bot posted to triage: fifty people reporting the
    same printer jam is an incident, and its alert is a post of its own (then replaced in place)."""
    from sqlalchemy import func, select

    from bot.store.db import make_engine
    from bot.store.models import ProblemAlert

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(ProblemAlert)) or 0)
    finally:
        engine.dispose()


# --- the figures ---------------------------------------------------------------------------------------


def headline(options: argparse.Namespace) -> str:
    return (
        f"{options.employees} employees for {options.seconds:.0f} s, {options.think:.1f} s think time on "
        f"average, a ticket every {TICKET_EVERY} turns; {os.cpu_count()} cores"
    )


def cpu_per_message(result: dict[str, Any]) -> float:
    return 1000 * result["cpu"] / max(1, len(result["acks"]))


def lost_and_duplicated(result: dict[str, Any], triage: str) -> tuple[int, int]:
    """Replies missing or repeated: one per message in its conversation, one card per ticket in triage
    (and one per incident alert, `result["alerts"]`)."""
    posted: dict[str, int] = result["posted"]
    expected = {**result["sent"], triage: result["tickets"] + result.get("alerts", 0)}
    lost = sum(max(0, n - posted.get(where, 0)) for where, n in expected.items())
    duplicated = sum(max(0, posted.get(where, 0) - n) for where, n in expected.items())
    return lost, duplicated


def report(name: str, result: dict[str, Any], triage: str) -> bool:
    """Print one database's figures; True when a target was missed."""
    messages, elapsed = len(result["acks"]), result["elapsed"]
    lost, duplicated = lost_and_duplicated(result, triage)
    ack_p99, reply_p99 = percentile(result["acks"], 0.99), percentile(result["replies"], 0.99)
    rate = messages / elapsed
    cpu_ms = cpu_per_message(result)
    print(
        f"{name}: {messages} messages ({result['tickets']} tickets, {result.get('alerts', 0)} incident "
        f"alerts) in {elapsed:.1f} s = {rate:.1f}/s; "
        f"bot CPU {cpu_ms:.1f} ms/message × {rate:.1f}/s = {cpu_ms * rate / 10:.0f}% of one core "
        f"(of {100 * (os.cpu_count() or 1)}%)"
    )
    print(
        f"{name}: ack            p50 {percentile(result['acks'], 0.5):7.1f} ms  p99 {ack_p99:7.1f} ms "
        f"(target p99 ≤ {ACK_P99_MS:.0f} ms)"
    )
    print(
        f"{name}: event → reply  p50 {percentile(result['replies'], 0.5):7.1f} ms  p99 {reply_p99:7.1f} ms "
        f"(target p99 ≤ {REPLY_P99_MS:.0f} ms; {len(result['replies'])} KB answers)"
    )
    print(f"{name}: replies lost {lost}, duplicated {duplicated}; connections refused {result['errors']}")
    return bool(ack_p99 > ACK_P99_MS or reply_p99 > REPLY_P99_MS or lost or duplicated or not messages)


# measure(serve, args, options, bot=...) -> the run's figures; the platform bench's own load and fake.
Measure = Callable[..., dict[str, Any]]


def run_suite(
    prog: str,
    argv: list[str] | None,
    measure: Measure,
    serve_bot: Callable[..., None],
    serve_reference: Callable[..., None],
    describe_reference: Callable[[dict[str, Any]], str],
    triage: str,
) -> int:
    """The bot on each database under load, then the bare SDK app as the reference; 1 when a target is
    missed."""
    chosen = parse_options(prog, argv)
    quiet()
    print(headline(chosen))
    missed = False
    with tempfile.TemporaryDirectory() as folder, databases(Path(folder), chosen.only) as targets:
        for name, url in targets:
            result = measure(serve_bot, (url, chosen.employees), chosen, bot=True)
            result["alerts"] = incident_alerts(url)
            missed |= report(name, result, triage)
    reference = measure(serve_reference, (), chosen, bot=False)
    print(describe_reference(reference))
    if missed:
        print("TARGET MISSED")
    return 1 if missed else 0
