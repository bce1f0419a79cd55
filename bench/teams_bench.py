"""Teams under load: simulated employees write to the bot in their personal chats through the real Teams
SDK app (every request carries a Bot Framework token the SDK validates against the fake's JWKS), the core
working after the ack, while the fake Bot Connector records the replies the outbox delivers — on SQLite
and on PostgreSQL, with the Teams SDK's bare echo bot as the reference.

    .venv/bin/python -m bench.teams_bench [--employees 50] [--seconds 60] [--think 5] [--only sqlite]

The bot runs in a process of its own, as `frontdesk run teams` runs it (logging JSON lines at INFO, to
nowhere): the employees and the fake Bot Connector are the outside world, in this process, so their
threads neither share the bot's interpreter lock nor count in its CPU. Each employee asks a
knowledge-base question, waits for the answer to reach the fake, thinks (random, seeded, `--think`
seconds on average), and asks the next; every tenth turn is a ticket instead (three turns, the card
posted to the triage channel) — bench/load.py. Reported per database: ack latency p50/p99 (target p99 ≤
100 ms; Teams itself gives up after ~15 s), activity → reply-at-the-fake p50/p99 for knowledge-base
answers (target p99 ≤ 500 ms), messages per second, lost or duplicated replies (target zero), and the bot
process's CPU per message. The bare SDK echo bot (`await ctx.send(text)` in the handler, same token
validation, same server, same pacing, a process of its own) is measured in the same run as the reference.
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
import time
import urllib.request
import warnings
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import unquote

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
from tests.servers.fake_teams import APP_ID, BOT_TOKEN, TENANT, FakeTeams, start_fake_teams

TRIAGE = "19:bench-triage@thread.tacv2"
# The Teams SDK warns at import about its own preview features (as pyproject.toml tells pytest to ignore).
warnings.filterwarnings("ignore", "HtmlWidgetSecurityPolicy is in preview")
POSTED = re.compile(r"/v3/conversations/([^/]+)/activities(?:/[^/]+)?")


def user(i: int) -> str:
    return f"29:emp{i:03d}"


# --- the outside world: the fake Bot Connector and the employees -----------------------------------------


def record_posts(fake: FakeTeams, arrivals: Arrivals) -> None:
    """When each activity posted to a conversation reached the fake (updates and deletes are not replies)."""
    answer = fake.answer

    def recording(method: str, path: str, body: dict[str, Any], authorization: str) -> tuple[int, Any]:
        arrived = time.monotonic()
        status, answered = answer(method, path, body, authorization)
        posted = POSTED.fullmatch(path)
        if method == "POST" and posted and status == 201:
            arrivals.record(unquote(posted.group(1)), arrived)
        return status, answered

    fake.answer = recording  # type: ignore[method-assign]


class Poster:
    def __init__(self, fake: FakeTeams, port: int) -> None:
        self.fake = fake
        self.url = f"http://127.0.0.1:{port}/api/messages"
        self.token = fake.mint(expires_in=4 * 3600)  # the Bot Connector reuses its token too

    def say(self, i: int, text: str, activity_id: str) -> float:
        """Post one personal-chat message from employee `i`; the ack's latency in ms."""
        sender = user(i)
        body = {
            "type": "message",
            "id": activity_id,
            "serviceUrl": self.fake.url,
            "channelId": "msteams",
            "from": {"id": sender, "name": sender, "aadObjectId": "aad-" + sender.removeprefix("29:")},
            "recipient": {"id": "28:" + APP_ID, "name": "frontdesk"},
            "conversation": {
                "id": self.fake.personal(sender),
                "conversationType": "personal",
                "tenantId": TENANT,
            },
            "text": text,
        }
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": "Bearer " + self.token},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            assert response.status == 200, response.status
        return (time.perf_counter() - started) * 1000


# --- the bot (and the bare SDK echo bot) in a process of its own ---------------------------------------


def serve_bot(service_url: str, openid_url: str, database_url: str, employees: int, pipe: Connection) -> None:
    """The bot as `frontdesk run teams` runs it: port out, then CPU seconds used under load."""
    from automations.demo_directory import DemoDirectory
    from bot.bootstrap import build_app
    from bot.logs import configure_logging
    from bot.platforms.teams.run import build_teams
    from bot.platforms.teams.server import WebServer
    from bot.settings import load_settings
    from handlers.jobs import SCHEDULE

    # Logged as in production (JSON lines at INFO), to nowhere: the lines' cost is part of a message's.
    logging.disable(logging.NOTSET)
    configure_logging("INFO", "json", stream=open(os.devnull, "w"))  # noqa: SIM115 - for the process's life
    settings = load_settings(
        database_url=database_url,
        teams_app_id=APP_ID,
        teams_tenant_id=TENANT,
        teams_triage_conversation=TRIAGE,
        teams_service_url=service_url,
        teams_openid_metadata_url=openid_url,
        kb_semantic="off",
        technician_group="it-support",
        delivery_poll_seconds=0.2,
    )
    directory = DemoDirectory.from_document(people(employees))
    teams = build_teams(
        settings,
        build=lambda chat: build_app(settings, chat=chat, directory=directory),
        token=lambda: BOT_TOKEN,  # the bot's own token: the fake checks only that one is there
    )
    teams.app.warm_up()
    # The start-up catch-up (today's digest) happens before the load, as in a bot that has been up for a
    # while: the load meets the steady state.
    for job in SCHEDULE:
        teams.app.bot.run_job(job.name, job.run)
    teams.app.start_background(role="bench")
    server = WebServer(teams.adapter.web, host="127.0.0.1", port=0)
    server.start()
    try:
        measured(server.port, pipe)
    finally:
        server.stop()
        teams.adapter.close()
        teams.app.stop_background()


def serve_bare_echo(service_url: str, openid_url: str, pipe: Connection) -> None:
    """The reference: the Teams SDK's own echo bot, replying from the handler before answering the request."""
    from fastapi import FastAPI
    from microsoft_teams.api.auth.cloud_environment import PUBLIC, with_overrides
    from microsoft_teams.apps import App as TeamsApp
    from microsoft_teams.apps.http import FastAPIAdapter

    from bot.platforms.teams.server import WebServer

    quiet()
    web = FastAPI()
    sdk = TeamsApp(
        client_id=APP_ID,
        token=lambda *_args, **_kwargs: BOT_TOKEN,
        cloud=with_overrides(PUBLIC, openid_metadata_url=openid_url),
        http_server_adapter=FastAPIAdapter(app=web),
    )

    @sdk.on_message
    async def echo(ctx: Any) -> None:
        await ctx.send(f"you said: {ctx.activity.text}")

    asyncio.run(sdk.initialize())
    server = WebServer(web, host="127.0.0.1", port=0)
    server.start()
    try:
        measured(server.port, pipe)
    finally:
        server.stop()


def measure(target: Any, args: tuple[Any, ...], options: argparse.Namespace, *, bot: bool) -> dict[str, Any]:
    fake, stop_fake = start_fake_teams()
    for i in range(options.employees):
        fake.add_user(user(i), f"emp{i:02d}@example.com", f"Employee {i}")
    arrivals = Arrivals()
    record_posts(fake, arrivals)
    seconds = options.seconds if bot else min(options.seconds, 20.0)

    def load(port: int) -> dict[str, Any]:
        poster = Poster(fake, port)
        return run_employees(
            arrivals,
            poster.say,
            lambda i: fake.personal(user(i)),
            options.employees,
            seconds,
            options.think,
            wait_reply=True,  # the echo bot replies too: its reply latency is the reference's
        )

    try:
        result = under_load(target, (fake.url, fake.openid_metadata_url, *args), load, settle=True)
    finally:
        stop_fake()
    result["posted"] = {conversation: len(times) for conversation, times in arrivals.at.items()}
    return result


def describe_bare_echo(reference: dict[str, Any]) -> str:
    return (
        f"bare SDK echo: ack p50 {percentile(reference['acks'], 0.5):6.1f} ms  "
        f"p99 {percentile(reference['acks'], 0.99):6.1f} ms; "
        f"reply p50 {percentile(reference['replies'], 0.5):6.1f} ms  "
        f"p99 {percentile(reference['replies'], 0.99):6.1f} ms; {len(reference['acks'])} messages, "
        f"{cpu_per_message(reference):.1f} ms CPU each; refused: {reference['errors']} (reference)"
    )


def main(argv: list[str] | None = None) -> int:
    return run_suite(
        "bench.teams_bench", argv, measure, serve_bot, serve_bare_echo, describe_bare_echo, TRIAGE
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
