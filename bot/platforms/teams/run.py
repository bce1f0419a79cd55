"""`frontdesk run teams` (and `frontdesk run slack teams`): the bot wired to Teams — the deliverer in the
outbox, the Teams SDK's app in front on `/api/messages`, with the scheduler and the dispatcher in the same
process; with Slack too, both deliverers share one bot and one port (`/slack/events` beside it)."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot.bootstrap import App, build_app
from bot.delivery.port import Deliverer
from bot.delivery.threads import TicketThreads
from bot.platforms.teams.adapter import TeamsAdapter, Tenant
from bot.platforms.teams.connector import Connector
from bot.platforms.teams.deliverer import PLATFORM, TeamsDeliverer
from bot.platforms.teams.server import WebServer, serve_slack, web_app
from bot.settings import Settings, SettingsError

log = structlog.get_logger(__name__)
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"


@dataclass
class TeamsBot:
    app: App
    adapter: TeamsAdapter
    deliverer: TeamsDeliverer

    def ready(self) -> bool:
        return database_ready(self.app)


def teams_threads(sessions: sessionmaker[Session]) -> TicketThreads:
    return TicketThreads(sessions, PLATFORM, place="conversation", message="activity")


def bot_token(settings: Settings) -> Callable[[], str]:
    """The bot's Bot Framework token from frontdesk's msal client (client credentials), cached by msal."""
    from automations.entra.credentials import AppCredentials

    credentials = AppCredentials(
        tenant_id=settings.teams_tenant_id,
        client_id=settings.teams_app_id,
        client_secret=settings.teams_app_password.get_secret_value(),
        authority=settings.entra_authority,
        ca_file=settings.entra_ca_file,
    )
    return lambda: credentials.token(BOT_FRAMEWORK_SCOPE)


def teams_deliverer(settings: Settings, token: Callable[[], str] | None = None) -> TeamsDeliverer:
    """The Teams deliverer alone: what `frontdesk worker` delivers through when Teams is configured."""
    connector = Connector(token or bot_token(settings))
    channels = {settings.triage_channel: settings.teams_triage_conversation}
    return TeamsDeliverer(
        connector, channels, service_url=settings.teams_service_url, triage=settings.triage_channel
    )


def follow_threads(app: App, deliverer: TeamsDeliverer) -> None:
    """Lines about a ticket go into its card's thread (the card's activity id is in the outbox)."""
    deliverer.card_of_ticket = teams_threads(app.sessions).card_of


def build_teams(
    settings: Settings,
    *,
    build: Callable[[Sequence[Deliverer]], App] | None = None,
    token: Callable[[], str] | None = None,
    others: Sequence[Deliverer] = (),
    process_before_response: bool = False,
) -> TeamsBot:
    """The bot on Teams. `build` makes the App from the chat deliverers (tests pass their fakes' wiring);
    `others`: more chat deliverers for the same bot (Slack's, in `frontdesk run slack teams`)."""
    check_settings(settings, token_from_settings=token is None)
    token = token or bot_token(settings)
    deliverer = teams_deliverer(settings, token)
    app = (build or (lambda chat: build_app(settings, chat=chat)))([deliverer, *others])
    threads = teams_threads(app.sessions)
    deliverer.card_of_ticket = threads.card_of
    adapter = TeamsAdapter(
        app.bot.handle,
        deliverer.connector,
        Tenant(settings.teams_app_id, settings.teams_tenant_id, settings.teams_triage_conversation),
        threads,
        token=token,
        openid_metadata_url=settings.teams_openid_metadata_url,
        web=web_app(lambda: database_ready(app)),
        process_before_response=process_before_response,
    )
    asyncio.run(adapter.initialize())  # registers /api/messages, with the SDK's token validation
    return TeamsBot(app, adapter, deliverer)


def database_ready(app: App) -> bool:
    """The database answers: what `/readyz` reports."""
    with app.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return True


def check_settings(settings: Settings, *, token_from_settings: bool = True) -> None:
    problems = []
    if not settings.teams_app_id:
        problems.append("FRONTDESK_TEAMS_APP_ID: required (the Entra app registration's client id)")
    if token_from_settings and not settings.teams_app_password.get_secret_value():
        problems.append("FRONTDESK_TEAMS_APP_PASSWORD: required (the app registration's client secret)")
    if not settings.teams_tenant_id:
        problems.append("FRONTDESK_TEAMS_TENANT_ID: required (your organisation's tenant id)")
    if not settings.teams_triage_conversation:
        problems.append(
            "FRONTDESK_TEAMS_TRIAGE_CONVERSATION: required (the triage channel's conversation id)"
        )
    if not settings.teams_service_url:
        problems.append("FRONTDESK_TEAMS_SERVICE_URL: required (e.g. https://smba.trafficmanager.net/teams/)")
    if problems:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))


def run_teams(settings: Settings, *, with_slack: bool = False) -> None:
    """Until SIGTERM/SIGINT: HTTP on FRONTDESK_HTTP_PORT (`/api/messages`, and `/slack/events` with Slack)."""
    from bot.platforms.slack import run as slack_run

    slack = None
    if with_slack:
        slack_run.check_settings(settings)
        if settings.slack_app_token.get_secret_value():
            raise SettingsError(
                "Slack beside Teams is served over HTTP on the same port: unset FRONTDESK_SLACK_APP_TOKEN"
            )
        slack = slack_run.slack_deliverer(settings)
    teams = build_teams(settings, others=[slack] if slack is not None else [])
    app = teams.app
    if slack is not None:
        serve_slack(teams.adapter.web, slack_run.attach_slack(settings, app, slack).bolt)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    app.warm_up()
    app.start_background(role="teams")
    server = WebServer(teams.adapter.web, port=settings.http_port)
    log.info("teams_http_listening", port=settings.http_port, path="/api/messages", slack=slack is not None)
    try:
        server.serve_until(stop)
    finally:
        teams.adapter.close()  # the activities already acknowledged are handled, then delivered
        app.stop_background()
