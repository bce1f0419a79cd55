"""`frontdesk run PLATFORM`, `frontdesk worker` and `frontdesk outbox …`: the long-running processes and
the operators' view of what the bot has sent or still has to send."""

from __future__ import annotations

import json
import signal
import threading
from datetime import datetime
from typing import Any

import click
from sqlalchemy import select

from bot.cli_support import command_settings, friendly_errors
from bot.clock import now
from bot.messages import shorten
from bot.store import db
from bot.store.models import OutboxMessage

PLATFORMS = ("console", "slack", "teams")
STATUSES = ("pending", "sending", "delivered", "dead")


@click.command()
@click.argument("platforms", nargs=-1, required=True, type=click.Choice(PLATFORMS))
@click.option("--as", "speaker", default="", metavar="EMAIL", help="console: who is speaking.")
@click.option("--json", "as_json", is_flag=True, help="console: one JSON object per bot message.")
@friendly_errors
def run(platforms: tuple[str, ...], speaker: str, as_json: bool) -> None:
    """Run the bot on a chat platform, with the scheduler and the dispatcher in the same process.

    `frontdesk run slack teams` serves both on one port (Slack in HTTP mode)."""
    from bot.cli import run_console

    chosen = set(platforms)
    if "teams" in chosen and chosen <= {"slack", "teams"}:
        from bot.platforms.teams.run import run_teams

        run_teams(command_settings(), with_slack="slack" in chosen)
        return
    if chosen == {"slack"}:
        from bot.platforms.slack.run import run_slack

        run_slack(command_settings())
        return
    if chosen != {"console"}:
        raise click.UsageError("run one platform, or `slack teams` together")
    if not speaker:
        raise click.UsageError("frontdesk run console needs --as EMAIL (who is speaking)")
    run_console(command_settings(), speaker, as_json)


@click.command()
@friendly_errors
def worker() -> None:
    """Scheduled jobs and the dispatcher only (email; Slack when FRONTDESK_SLACK_BOT_TOKEN is set; Teams
    when FRONTDESK_TEAMS_APP_ID and FRONTDESK_TEAMS_APP_PASSWORD are), until stopped.

    Several workers (and bots) may share one PostgreSQL database: a lease elects the one that runs the
    jobs, and another takes over within FRONTDESK_LEASE_SECONDS when it stops."""
    from bot.bootstrap import build_app

    settings = command_settings()
    chat: list[Any] = []
    slack = teams = None
    if settings.slack_bot_token.get_secret_value():  # a worker delivers to every platform configured
        from bot.platforms.slack.run import slack_deliverer

        slack = slack_deliverer(settings)
        chat.append(slack)
    if settings.teams_app_id and settings.teams_app_password.get_secret_value():
        from bot.platforms.teams.run import teams_deliverer

        teams = teams_deliverer(settings)
        chat.append(teams)
    app = build_app(settings, chat=chat)
    if slack is not None:
        from bot.platforms.slack.run import follow_threads

        follow_threads(app, slack)
    if teams is not None:
        from bot.platforms.teams.run import follow_threads as follow_teams_threads

        follow_teams_threads(app, teams)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    work = app.start_background(role="worker")
    click.echo(f"frontdesk worker {work.lease.holder} on {db.describe(app.engine)}", err=True)
    try:
        stop.wait()
    finally:
        app.stop_background()


@click.group()
def outbox() -> None:
    """What the bot has sent or still has to send."""


@outbox.command(name="list")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def outbox_list(status: str | None, limit: int, as_json: bool) -> None:
    """Newest last: each message with its platform, recipient, status and attempts."""
    with _sessions()() as session:
        statement = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        if status:
            statement = statement.where(OutboxMessage.status == status)
        rows = list(session.scalars(statement))[::-1]
        for row in rows:
            click.echo(json.dumps(_row_json(row)) if as_json else _row_line(row))
        if not rows and not as_json:
            click.echo("no messages")


@outbox.command(name="retry")
@click.argument("row_id", type=int)
@friendly_errors
def outbox_retry(row_id: int) -> None:
    """Send a dead (or waiting) message again: its attempts start over."""
    with _sessions().begin() as session:
        row = session.get(OutboxMessage, row_id)
        if row is None:
            raise click.ClickException(f"there is no outbox message {row_id}")
        if row.status in ("delivered", "sending"):
            raise click.ClickException(f"outbox message {row_id} is {row.status}; nothing to retry")
        row.status, row.attempts, row.next_attempt_at, row.last_error = "pending", 0, now(), ""
    click.echo(f"outbox message {row_id} will be sent again by the next running frontdesk process")


def _sessions() -> Any:
    from bot.cli import _require_existing_sqlite_file

    settings = command_settings()
    _require_existing_sqlite_file(settings.database_url)
    engine = db.make_engine(settings.database_url)
    if settings.auto_migrate:
        db.upgrade(engine)
    else:
        db.check_schema(engine)
    return db.make_session_factory(engine)


def _row_json(row: OutboxMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "platform": row.platform,
        "recipient": row.recipient,
        "kind": row.kind,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at),
        "created_at": _iso(row.created_at),
        "delivered_at": _iso(row.delivered_at),
        "fallback": row.fallback,
        "last_error": row.last_error,
        "message_ref": row.message_ref,
        "text": _summary(row),
    }


def _row_line(row: OutboxMessage) -> str:
    error = f"  ({shorten(row.last_error, 60)})" if row.last_error else ""
    fallback = f" [{row.fallback}]" if row.fallback else ""
    return (
        f"{row.id:<6} {row.status:<9} {row.attempts}× {row.platform:<8} {row.kind:<6} "
        f"{row.recipient}{fallback}: {shorten(_summary(row), 60)}{error}"
    )


def _summary(row: OutboxMessage) -> str:
    payload = row.payload or {}
    return " ".join(str(payload.get("subject") or payload.get("text") or "").split())


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
