"""`frontdesk run slack`: the bot wired to Slack — the deliverer in the outbox, the bolt app in front,
served over HTTP or Socket Mode, with the scheduler and the dispatcher in the same process."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from slack_sdk import WebClient
from sqlalchemy import text

from bot.bootstrap import App, build_app
from bot.delivery.port import Deliverer
from bot.platforms.slack.adapter import SlackAdapter, Workspace
from bot.platforms.slack.deliverer import SlackDeliverer, make_client
from bot.platforms.slack.server import SlackHttpServer
from bot.platforms.slack.threads import slack_threads
from bot.settings import Settings, SettingsError

log = structlog.get_logger(__name__)
DIGEST = "digest"


@dataclass
class SlackBot:
    app: App
    adapter: SlackAdapter
    deliverer: SlackDeliverer

    def ready(self) -> bool:
        """The database answers: what `/readyz` reports."""
        with self.app.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True


def build_slack(
    settings: Settings,
    *,
    build: Callable[[Sequence[Deliverer]], App] | None = None,
    client: WebClient | None = None,
    process_before_response: bool = False,
) -> SlackBot:
    """The bot on Slack. `build` makes the App from the chat deliverers (tests pass their fakes' wiring)."""
    check_settings(settings)
    client = client or make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    deliverer = slack_deliverer(settings, client)
    app = (build or (lambda chat: build_app(settings, chat=chat)))([deliverer])
    adapter = attach_slack(settings, app, deliverer, process_before_response=process_before_response)
    return SlackBot(app, adapter, deliverer)


def attach_slack(
    settings: Settings, app: App, deliverer: SlackDeliverer, *, process_before_response: bool = False
) -> SlackAdapter:
    """The Slack adapter in front of `app` (which delivers through `deliverer`, maybe beside Teams')."""
    me = deliverer.client.auth_test()  # who the bot is, and a clear failure now if the token is wrong
    workspace = Workspace(str(me["user_id"]), str(me.get("team_id") or ""), settings.slack_triage_channel)
    threads = slack_threads(app.sessions)
    deliverer.card_ts = threads.card_of
    return SlackAdapter(
        app.bot.handle,
        deliverer.client,
        workspace,
        threads.ticket_of,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        process_before_response=process_before_response,
        in_conversation=threads.is_conversation,
    )


def slack_deliverer(settings: Settings, client: WebClient | None = None) -> SlackDeliverer:
    """The Slack deliverer alone: what `frontdesk worker` delivers through when Slack is configured."""
    client = client or make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    channels = {settings.triage_channel: settings.slack_triage_channel, DIGEST: settings.slack_digest_channel}
    return SlackDeliverer(client, channels, triage=settings.triage_channel)


def follow_threads(app: App, deliverer: SlackDeliverer) -> None:
    """Lines about a ticket go into its card's thread (the card's ts is in the outbox)."""
    deliverer.card_ts = slack_threads(app.sessions).card_of


def check_settings(settings: Settings) -> None:
    problems = []
    if not settings.slack_bot_token.get_secret_value():
        problems.append("FRONTDESK_SLACK_BOT_TOKEN: required (the bot token, xoxb-…)")
    if (
        not settings.slack_app_token.get_secret_value()
        and not settings.slack_signing_secret.get_secret_value()
    ):
        problems.append(
            "FRONTDESK_SLACK_SIGNING_SECRET: required in HTTP mode "
            "(or set FRONTDESK_SLACK_APP_TOKEN for Socket Mode)"
        )
    if not settings.slack_triage_channel:
        problems.append("FRONTDESK_SLACK_TRIAGE_CHANNEL: required (the triage channel's id, C…)")
    if problems:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))


def run_slack(settings: Settings) -> None:
    """Until SIGTERM/SIGINT: Socket Mode when an app token is set, else HTTP on FRONTDESK_HTTP_PORT."""
    slack = build_slack(settings)
    app = slack.app
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    app.warm_up()
    app.start_background(role="slack")
    app_token = settings.slack_app_token.get_secret_value()
    try:
        if app_token:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            handler = SocketModeHandler(slack.adapter.bolt, app_token)
            handler.connect()
            log.info("slack_socket_mode_connected")
            stop.wait()
            handler.close()
        else:
            server = SlackHttpServer(slack.adapter.bolt, slack.ready, port=settings.http_port)
            server.start()
            log.info("slack_http_listening", port=server.port, path="/slack/events")
            stop.wait()
            server.stop()
    finally:
        app.stop_background()
