"""Slack in HTTP mode under load: simulated employees DM the bot through the real HTTP adapter (signed
requests, slack-bolt acknowledging first and working after) while the fake Slack Web API records the
replies the outbox delivers — on SQLite and on PostgreSQL, with the bare bolt app as the reference.

    .venv/bin/python -m bench.slack_bench [--employees 50] [--seconds 60] [--think 5] [--only sqlite]

The bot runs in a process of its own, as in production: the employees and the fake Slack are the outside
world, in this process, so their threads neither share the bot's interpreter lock nor count in its CPU.
Each employee asks a knowledge-base question, waits for the answer to reach the fake, thinks (random,
`--think` seconds on average), and asks the next; every tenth turn is a ticket instead (ask for a person,
describe the problem, say it is not urgent: the ticket's card goes to triage). Reported per database: ack
latency p50/p99 (target p99 ≤ 100 ms), event → reply-at-the-fake p50/p99 for knowledge-base answers
(target p99 ≤ 500 ms), messages per second, lost or duplicated replies (target zero), and the bot
process's CPU per message — against what the machine's cores can give, so a CPU-bound run says so. The
bare bolt app (ack only, same signing, same server, same pacing) is measured in the same run as the
reference. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import structlog
from slack_sdk.signature import SignatureVerifier

from tests.servers.fake_slack import TEAM, FakeSlack, start_fake_slack

SECRET = "bench-signing-secret"
TRIAGE, DIGEST = "CTRIAGE", "CDIGEST"
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


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def quiet() -> None:
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))


# --- the outside world: the fake Slack and the employees -------------------------------------------------


class Arrivals:
    """When each chat.postMessage reached the fake, per channel; employees wait on it without polling."""

    def __init__(self, fake: FakeSlack) -> None:
        self._changed = threading.Condition()
        self.at: dict[str, list[float]] = {}
        answer = fake.answer

        def recording(method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            arrived = time.monotonic()
            status, body = answer(method, params)
            if method == "chat.postMessage" and status == 200 and body.get("ok"):
                with self._changed:
                    self.at.setdefault(str(params.get("channel")), []).append(arrived)
                    self._changed.notify_all()
            return status, body

        fake.answer = recording  # type: ignore[method-assign]

    def count(self, channel: str) -> int:
        with self._changed:
            return len(self.at.get(channel, ()))

    def wait(self, channel: str, seen: int, timeout: float) -> float | None:
        """When post number `seen` (0-based) to `channel` arrived, waiting up to `timeout`; None if not."""
        with self._changed:
            if self._changed.wait_for(lambda: len(self.at.get(channel, ())) > seen, timeout):
                return self.at[channel][seen]
        return None


class Poster:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/slack/events"
        self.signer = SignatureVerifier(SECRET)

    def dm(self, user: str, text: str, event_id: str) -> float:
        """Post one signed DM event; the ack's latency in ms."""
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": TEAM,
                "api_app_id": "A0001",
                "event_id": event_id,
                "event": {
                    "type": "message",
                    "channel_type": "im",
                    "channel": "D" + user,
                    "user": user,
                    "text": text,
                    "ts": f"{time.time():.6f}",
                },
            }
        )
        stamp = str(int(time.time()))
        request = urllib.request.Request(
            self.url,
            data=body.encode(),
            headers={
                "Content-Type": "application/json",
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": self.signer.generate_signature(timestamp=stamp, body=body) or "",
            },
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            assert response.status == 200, response.status
        return (time.perf_counter() - started) * 1000


def run_employees(
    arrivals: Arrivals, poster: Poster, n: int, seconds: float, think: float, *, wait_reply: bool
) -> dict[str, Any]:
    acks: list[float] = []
    replies: list[float] = []
    sent: Counter[str] = Counter()  # DM events per channel: each gets exactly one reply there
    tickets = 0
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def say(user: str, text: str, event_id: str, *, timed: bool) -> None:
        nonlocal errors
        channel = "D" + user
        seen = arrivals.count(channel)
        started = time.monotonic()
        try:
            ack = poster.dm(user, text, event_id)
        except OSError:  # refused or reset: Slack would retry it; counted, not timed
            with lock:
                errors += 1
            return
        with lock:
            acks.append(ack)
            sent[channel] += 1
        if wait_reply:
            arrived = arrivals.wait(channel, seen, REPLY_TIMEOUT_SECONDS)
            if arrived is not None and timed:
                with lock:
                    replies.append((arrived - started) * 1000)

    def employee(i: int) -> None:
        nonlocal tickets
        rng = random.Random(i)
        user = f"U{i:03d}"
        time.sleep(rng.uniform(0, think))  # people do not all start typing at the same instant
        turn = 0
        while time.monotonic() < deadline:
            turn += 1
            if turn % TICKET_EVERY == 0:
                for step, text in enumerate(TICKET):
                    say(user, text, f"Ev{i:03d}-{turn:05d}-{step}", timed=False)
                with lock:
                    tickets += 1
            else:
                say(user, QUESTIONS[(i + turn) % len(QUESTIONS)], f"Ev{i:03d}-{turn:05d}", timed=True)
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


def people(n: int) -> dict[str, Any]:
    employees = [
        {"email": f"emp{i:02d}@example.com", "name": f"Employee {i}", "department": "Sales"} for i in range(n)
    ]
    tech = {"email": "tess@example.com", "name": "Tess Tech", "groups": ["it-support"]}
    return {"people": [*employees, tech], "groups": [{"name": "it-support"}]}


# --- the bot (and the bare bolt app) in a process of its own ----------------------------------------------


def serve_bot(api_url: str, database_url: str, employees: int, pipe: Connection) -> None:
    """The bot as `frontdesk run slack` runs it in HTTP mode: port out, then CPU seconds used under load."""
    from automations.demo_directory import DemoDirectory
    from bot.bootstrap import build_app
    from bot.logs import configure_logging
    from bot.platforms.slack.run import build_slack
    from bot.platforms.slack.server import SlackHttpServer
    from bot.settings import load_settings
    from handlers.jobs import SCHEDULE

    # Logged as in production (JSON lines at INFO), to nowhere: the lines' cost is part of a message's.
    logging.disable(logging.NOTSET)
    configure_logging("INFO", "json", stream=open(os.devnull, "w"))  # noqa: SIM115 - for the process's life
    settings = load_settings(
        database_url=database_url,
        slack_bot_token="xoxb-bench",
        slack_signing_secret=SECRET,
        slack_triage_channel=TRIAGE,
        slack_digest_channel=DIGEST,
        slack_api_url=api_url,
        kb_semantic="off",
        technician_group="it-support",
        delivery_poll_seconds=0.2,
    )
    directory = DemoDirectory.from_document(people(employees))
    slack = build_slack(settings, build=lambda chat: build_app(settings, chat=chat, directory=directory))
    slack.app.warm_up()
    # The start-up catch-up (today's digest, its chart drawn on the first run) happens before the load,
    # as in a bot that has been up for a while: the load meets the steady state.
    for job in SCHEDULE:
        slack.app.bot.run_job(job.name, job.run)
    slack.app.start_background(role="bench")
    server = SlackHttpServer(slack.adapter.bolt, slack.ready, host="127.0.0.1", port=0)
    server.start()
    try:
        _measured(server.port, pipe)
    finally:
        server.stop()
        slack.app.stop_background()


def serve_bare_bolt(api_url: str, pipe: Connection) -> None:
    """The reference: a bolt app that only acknowledges, behind the same HTTP server."""
    from slack_bolt import App as BoltApp

    from bot.platforms.slack.deliverer import make_client
    from bot.platforms.slack.server import SlackHttpServer

    quiet()
    bolt = BoltApp(
        client=make_client("xoxb-bench", api_url),
        signing_secret=SECRET,
        token_verification_enabled=False,
        ignoring_self_events_enabled=False,
    )
    bolt.event("message")(lambda: None)
    server = SlackHttpServer(bolt, lambda: True, host="127.0.0.1", port=0)
    server.start()
    try:
        _measured(server.port, pipe)
    finally:
        server.stop()


def _measured(port: int, pipe: Connection) -> None:
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


def measure(target: Any, args: tuple[Any, ...], options: argparse.Namespace, *, bot: bool) -> dict[str, Any]:
    fake, stop_fake = start_fake_slack()
    for i in range(options.employees):
        fake.add_user(f"U{i:03d}", f"emp{i:02d}@example.com", f"Employee {i}")
    fake.channels.update((TRIAGE, DIGEST))
    arrivals = Arrivals(fake)
    try:
        with process(target, fake.url, *args) as (port, pipe):
            pipe.send("go")
            seconds = options.seconds if bot else min(options.seconds, 20.0)
            result = run_employees(
                arrivals, Poster(port), options.employees, seconds, options.think, wait_reply=bot
            )
            if bot:
                time.sleep(2)  # anything late or repeated lands before the replies are counted
            pipe.send("stop")
            result["cpu"] = pipe.recv()
    finally:
        stop_fake()
    result["posted"] = {channel: len(times) for channel, times in arrivals.at.items()}
    return result


@contextlib.contextmanager
def databases(workdir: Path, only: str) -> Iterator[list[tuple[str, str]]]:
    sqlite = [("sqlite", f"sqlite:///{workdir / 'slack.db'}")]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.slack_bench")
    parser.add_argument("--employees", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think", type=float, default=5.0, help="mean seconds before the next turn")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default="")
    options = parser.parse_args(argv)
    quiet()
    print(
        f"{options.employees} employees for {options.seconds:.0f} s, {options.think:.1f} s think time on "
        f"average, a ticket every {TICKET_EVERY} turns; {os.cpu_count()} cores"
    )
    missed = False
    with tempfile.TemporaryDirectory() as folder, databases(Path(folder), options.only) as targets:
        for name, url in targets:
            result = measure(serve_bot, (url, options.employees), options, bot=True)
            missed |= report(name, result)
    reference = measure(serve_bare_bolt, (), options, bot=False)
    print(
        f"bare bolt (ack only): ack p50 {percentile(reference['acks'], 0.5):6.1f} ms  "
        f"p99 {percentile(reference['acks'], 0.99):6.1f} ms; {len(reference['acks'])} events, "
        f"{_cpu_per_message(reference):.1f} ms CPU each; refused: {reference['errors']} (reference)"
    )
    if missed:
        print("TARGET MISSED")
    return 1 if missed else 0


def _cpu_per_message(result: dict[str, Any]) -> float:
    return 1000 * result["cpu"] / max(1, len(result["acks"]))


def report(name: str, result: dict[str, Any]) -> bool:
    """Print one database's figures; True when a target was missed."""
    messages, elapsed = len(result["acks"]), result["elapsed"]
    posted = result["posted"]
    lost = sum(max(0, n - posted.get(channel, 0)) for channel, n in result["sent"].items())
    duplicated = sum(max(0, posted.get(channel, 0) - n) for channel, n in result["sent"].items())
    lost += max(0, result["tickets"] - posted.get(TRIAGE, 0))
    duplicated += max(0, posted.get(TRIAGE, 0) - result["tickets"])
    ack_p99, reply_p99 = percentile(result["acks"], 0.99), percentile(result["replies"], 0.99)
    rate = messages / elapsed
    cpu_ms = _cpu_per_message(result)
    print(
        f"{name}: {messages} messages ({result['tickets']} tickets) in {elapsed:.1f} s = {rate:.1f}/s; "
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
