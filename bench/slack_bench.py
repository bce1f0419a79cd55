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
import json
import logging
import os
import sys
import time
import urllib.request
from multiprocessing.connection import Connection
from typing import Any

from slack_sdk.signature import SignatureVerifier

from bench.load import (
    Arrivals,
    cpu_per_message,
    measured,
    people,
    percentile,
    quiet,
    run_employees,
    run_suite,
    under_load,
)
from tests.servers.fake_slack import TEAM, FakeSlack, start_fake_slack

SECRET = "bench-signing-secret"
TRIAGE, DIGEST = "CTRIAGE", "CDIGEST"


# --- the outside world: the fake Slack and the employees -------------------------------------------------


def record_posts(fake: FakeSlack, arrivals: Arrivals) -> None:
    """When each chat.postMessage reached the fake, per channel."""
    answer = fake.answer

    def recording(method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        arrived = time.monotonic()
        status, body = answer(method, params)
        if method == "chat.postMessage" and status == 200 and body.get("ok"):
            arrivals.record(str(params.get("channel")), arrived)
        return status, body

    fake.answer = recording  # type: ignore[method-assign]


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
        measured(server.port, pipe)
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
        measured(server.port, pipe)
    finally:
        server.stop()


def measure(target: Any, args: tuple[Any, ...], options: argparse.Namespace, *, bot: bool) -> dict[str, Any]:
    fake, stop_fake = start_fake_slack()
    for i in range(options.employees):
        fake.add_user(f"U{i:03d}", f"emp{i:02d}@example.com", f"Employee {i}")
    fake.channels.update((TRIAGE, DIGEST))
    arrivals = Arrivals()
    record_posts(fake, arrivals)
    seconds = options.seconds if bot else min(options.seconds, 20.0)

    def load(port: int) -> dict[str, Any]:
        poster = Poster(port)
        return run_employees(
            arrivals,
            lambda i, text, event_id: poster.dm(f"U{i:03d}", text, event_id),
            lambda i: f"DU{i:03d}",
            options.employees,
            seconds,
            options.think,
            wait_reply=bot,
        )

    try:
        result = under_load(target, (fake.url, *args), load, settle=bot)
    finally:
        stop_fake()
    result["posted"] = {channel: len(times) for channel, times in arrivals.at.items()}
    return result


def describe_bare_bolt(reference: dict[str, Any]) -> str:
    return (
        f"bare bolt (ack only): ack p50 {percentile(reference['acks'], 0.5):6.1f} ms  "
        f"p99 {percentile(reference['acks'], 0.99):6.1f} ms; {len(reference['acks'])} events, "
        f"{cpu_per_message(reference):.1f} ms CPU each; refused: {reference['errors']} (reference)"
    )


def main(argv: list[str] | None = None) -> int:
    return run_suite(
        "bench.slack_bench", argv, measure, serve_bot, serve_bare_bolt, describe_bare_bolt, TRIAGE
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
