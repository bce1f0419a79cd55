"""Slack in HTTP mode under load: simulated employees DM the bot through the real HTTP adapter (signed
requests, slack-bolt acknowledging first and working after) while the fake Slack Web API records the
replies the outbox delivers.

    .venv/bin/python -m bench.slack_bench [--employees 50] [--seconds 60]

Each employee sends a knowledge-base question, waits for the answer to reach the fake, and asks the next
(every tenth message asks for a person: a ticket). Reported: ack latency p50/p99 (target p99 ≤ 100 ms),
event → reply-at-the-fake p50/p99 for knowledge-base answers (target p99 ≤ 500 ms), messages per second,
and lost or duplicated replies (target zero). The bare bolt app (ack only, same signing, same server) is
measured in the same run as the reference. SQLite only here; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import structlog
from slack_bolt import App as BoltApp
from slack_sdk.signature import SignatureVerifier

from automations.demo_directory import DemoDirectory
from bot.bootstrap import build_app
from bot.platforms.slack.deliverer import make_client
from bot.platforms.slack.run import build_slack
from bot.platforms.slack.server import SlackHttpServer
from bot.settings import load_settings
from tests.servers.fake_slack import TEAM, FakeSlack, start_fake_slack

SECRET = "bench-signing-secret"
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
TICKET_EVERY = 10  # every tenth message asks for a person, which opens a ticket flow
ACK_P99_MS, REPLY_P99_MS = 100.0, 500.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Poster:
    def __init__(self, base: str) -> None:
        self.url = base + "/slack/events"
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


def people(n: int) -> dict[str, Any]:
    employees = [
        {"email": f"emp{i:02d}@example.com", "name": f"Employee {i}", "department": "Sales"} for i in range(n)
    ]
    tech = {"email": "tess@example.com", "name": "Tess Tech", "groups": ["it-support"]}
    return {"people": [*employees, tech], "groups": [{"name": "it-support"}]}


def run_employees(
    fake: FakeSlack, poster: Poster, n: int, seconds: float, *, wait_reply: bool
) -> dict[str, Any]:
    acks: list[float] = []
    replies: list[float] = []
    sent: dict[str, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def posts_to(channel: str) -> int:
        return len(fake.posted(channel))

    def employee(i: int) -> None:
        user, count = f"U{i:03d}", 0
        while time.monotonic() < deadline:
            count += 1
            ticket = count % TICKET_EVERY == 0
            text = "I want to talk to a human" if ticket else QUESTIONS[(i + count) % len(QUESTIONS)]
            before = posts_to("D" + user)
            started = time.monotonic()
            try:
                ack = poster.dm(user, text, f"Ev{i:03d}-{count:06d}")
            except OSError:  # refused or reset: Slack would retry it; counted, not timed
                with lock:
                    errors.append(user)
                count -= 1
                continue
            with lock:
                acks.append(ack)
                sent[user] = count
            if not wait_reply:
                continue
            while posts_to("D" + user) == before and time.monotonic() < deadline + 10:
                time.sleep(0.002)
            arrived = [
                c.at
                for c in fake.calls
                if c.method == "chat.postMessage" and c.params.get("channel") == "D" + user
            ]
            if len(arrived) > before and not ticket:
                with lock:
                    replies.append((arrived[before] - started) * 1000)
            if ticket:  # leave the "what's the problem?" step, so the next question is a question
                poster.dm(user, "cancel", f"Ev{i:03d}-{count:06d}-c")

    threads = [threading.Thread(target=employee, args=(i,)) for i in range(n)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {"acks": acks, "replies": replies, "sent": sent, "elapsed": elapsed, "errors": len(errors)}


def bare_bolt(fake: FakeSlack, employees: int, seconds: float) -> dict[str, Any]:
    bolt = BoltApp(
        client=make_client("xoxb-bench", fake.url),
        signing_secret=SECRET,
        token_verification_enabled=False,
        ignoring_self_events_enabled=False,
    )
    bolt.event("message")(lambda: None)
    server = SlackHttpServer(bolt, lambda: True, host="127.0.0.1", port=0)
    server.start()
    try:
        poster = Poster(f"http://127.0.0.1:{server.port}")
        return run_employees(fake, poster, employees, seconds, wait_reply=False)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.slack_bench")
    parser.add_argument("--employees", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    fake, stop_fake = start_fake_slack()
    for i in range(args.employees):
        fake.add_user(f"U{i:03d}", f"emp{i:02d}@example.com", f"Employee {i}")
    fake.channels.add("CTRIAGE")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        settings = load_settings(
            database_url=url,
            slack_bot_token="xoxb-bench",
            slack_signing_secret=SECRET,
            slack_triage_channel="CTRIAGE",
            slack_api_url=fake.url,
            kb_semantic="off",
            technician_group="it-support",
            delivery_poll_seconds=0.2,
        )
        directory = DemoDirectory.from_document(people(args.employees))
        slack = build_slack(settings, build=lambda chat: build_app(settings, chat=chat, directory=directory))
        slack.app.warm_up()
        slack.app.start_background(role="bench")
        server = SlackHttpServer(slack.adapter.bolt, slack.ready, host="127.0.0.1", port=0)
        server.start()
        try:
            bot = run_employees(
                fake, Poster(f"http://127.0.0.1:{server.port}"), args.employees, args.seconds, wait_reply=True
            )
            time.sleep(2)  # let the last replies land before counting them
            counts = {user: len(fake.posted("D" + user)) for user in bot["sent"]}
        finally:
            server.stop()
            slack.app.stop_background()
        reference = bare_bolt(fake, args.employees, min(args.seconds, 20.0))
    stop_fake()
    return report(bot, reference, counts)


def report(bot: dict[str, Any], reference: dict[str, Any], counts: dict[str, int]) -> int:
    messages = len(bot["acks"])
    # Every event gets exactly one reply, and each "cancel" after a ticket request one more.
    expected = {u: n + n // TICKET_EVERY for u, n in bot["sent"].items()}
    lost = sum(max(0, expected[u] - counts.get(u, 0)) for u in expected)
    duplicated = sum(max(0, counts.get(u, 0) - expected[u]) for u in expected)
    ack_p99, reply_p99 = percentile(bot["acks"], 0.99), percentile(bot["replies"], 0.99)
    print(
        f"employees: {len(bot['sent'])}, messages: {messages} in {bot['elapsed']:.1f} s "
        f"({messages / bot['elapsed']:.1f}/s)"
    )
    print(
        f"ack latency      p50 {percentile(bot['acks'], 0.5):7.1f} ms  p99 {ack_p99:7.1f} ms "
        f"(target p99 ≤ {ACK_P99_MS:.0f} ms)"
    )
    print(
        f"event → reply    p50 {percentile(bot['replies'], 0.5):7.1f} ms  p99 {reply_p99:7.1f} ms "
        f"(target p99 ≤ {REPLY_P99_MS:.0f} ms; {len(bot['replies'])} KB answers)"
    )
    print(
        f"bare bolt ack    p50 {percentile(reference['acks'], 0.5):7.1f} ms  "
        f"p99 {percentile(reference['acks'], 0.99):7.1f} ms ({len(reference['acks'])} events, reference)"
    )
    print(
        f"replies lost: {lost}, duplicated: {duplicated}; connections refused: {bot['errors']} "
        f"(bare bolt: {reference['errors']})"
    )
    if statistics.fmean(bot["acks"] or [0]) and (
        ack_p99 > ACK_P99_MS or reply_p99 > REPLY_P99_MS or lost or duplicated
    ):
        print("TARGET MISSED")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
