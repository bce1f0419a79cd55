"""The `frontdesk` command line."""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any

import click
from sqlalchemy import select

from bot import __version__
from bot.cli_support import command_settings as _settings
from bot.cli_support import friendly_errors
from bot.logs import configure_logging
from bot.settings import Settings
from bot.store import db
from bot.store.models import AuditRecord, Ticket
from bot.textsafety import printable


def _show(line: str) -> None:
    """A line for a person to read that carries what people typed: escaped, so it cannot drive the
    terminal (bot.textsafety). JSON output is escaped by json.dumps already."""
    click.echo(printable(line))


@click.group()
@click.version_option(__version__, prog_name="frontdesk")
def main() -> None:
    """frontdesk — the IT help desk's chat-ops colleague.

    Settings come from FRONTDESK_* environment variables or a .env file (see .env.example).
    """


@main.command()
@click.option("--as", "speaker", required=True, metavar="EMAIL", help="Who is speaking (a directory email).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per bot message.")
@friendly_errors
def chat(speaker: str, as_json: bool) -> None:
    """Chat with the bot in the terminal (interactive), or pipe lines in (scriptable)."""
    run_console(_settings(), speaker, as_json)


def run_console(settings: Settings, speaker: str, as_json: bool, banner: str = "") -> None:
    from automations.directory import DirectoryError
    from bot.bootstrap import build_app
    from bot.delivery.threads import last_reply_to
    from bot.platforms.console import CONSOLE_HELP, ConsoleChat

    def lookup_name(email: str) -> str | None:
        try:
            person = app.services.directory.find_by_email(email)
        except DirectoryError:
            return email  # directory down: let them in; the bot will say what it cannot do
        return person.name if person else None

    console = ConsoleChat(None, lookup_name, speaker, as_json=as_json)
    app = build_app(settings, chat=[console])
    console.handle = app.bot.handle
    console.remember = lambda email: last_reply_to(app.sessions, ConsoleChat.platform, email)
    if lookup_name(speaker.strip().lower()) is None:
        raise click.ClickException(
            f"{speaker} is not in the directory ({_directory_name(settings)}); "
            "use --as with the email of someone in it"
        )
    # Bytes that are not UTF-8 must not end the chat: they arrive as lone surrogates, which the engine
    # answers with "characters I can't read", and the next line works again.
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="surrogateescape")
    interactive = sys.stdin.isatty()
    # Model downloads and loads draw tqdm progress bars on the terminal the person is chatting in.
    os.environ.setdefault("TQDM_DISABLE", "1")
    if interactive and "log_level" not in settings.model_fields_set:
        # A person is chatting in this terminal: only warnings interrupt the conversation.
        configure_logging("WARNING", settings.log_format)
    if interactive and not as_json:
        click.echo((banner + "\n" if banner else "") + CONSOLE_HELP + "\n", err=True)
    app.warm_up()
    app.delivery.dispatcher.run_due()  # what a crash left undelivered comes first
    app.start_background(role="chat")
    try:
        console.run(sys.stdin, interactive=interactive)
    finally:
        app.stop_background()
        app.delivery.dispatcher.run_due()  # a last try for what is still queued (email)


def _directory_name(settings: Settings) -> str:
    if settings.directory == "entra":
        return f"Entra ID tenant {settings.entra_tenant_id}"
    return str(settings.demo_directory) if settings.directory == "demo" else settings.ldap_url


@main.command()
@click.option(
    "--database",
    "database_url",
    default=None,
    metavar="URL",
    help="Where the demo keeps its data (default: sqlite:///frontdesk-demo.db).",
)
@click.option("--as", "speaker", default="ada@example.com", show_default=True, metavar="EMAIL")
@friendly_errors
def demo(database_url: str | None, speaker: str) -> None:
    """Seed demo people, articles and a ticket, print a guide, and start the console chat."""
    from bot.demo.seed import GUIDE, demo_overrides, seed

    settings = _settings(**demo_overrides(database_url))
    created = seed(settings)
    click.echo(GUIDE.format(database=settings.database_url, seeded=created), err=True)
    run_console(settings, speaker, as_json=False)


@main.group(name="db")
def db_group() -> None:
    """Database schema."""


@db_group.command()
@friendly_errors
def upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    settings = _settings()
    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    click.echo(f"database at {db.describe(engine)} is up to date")


@main.group()
def tickets() -> None:
    """List and show tickets."""


@tickets.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", type=click.Choice(["new", "claimed", "waiting", "resolved", "closed", "open"]))
@friendly_errors
def tickets_list(as_json: bool, status: str | None) -> None:
    """The queue: open tickets on top (unclaimed urgent first, then oldest)."""
    from handlers.ticket_views import OPEN_STATUSES
    from handlers.tickets import queue

    with _session() as session:
        rows = queue(session, limit=10_000, include_done=True)
        if status == "open":
            rows = [t for t in rows if t.status in OPEN_STATUSES]
        elif status:
            rows = [t for t in rows if t.status == status]
        if as_json:
            for ticket in rows:
                click.echo(json.dumps(_ticket_json(ticket)))
            return
        if not rows:
            click.echo("no tickets")
        for t in rows:
            flag = "URGENT " if t.urgent else ""
            _show(
                f"#{t.id:<5} {t.status:<9} {flag}{t.subject}  [{t.requester_email} → "
                f"{t.assignee_email or 'unclaimed'}]"
            )


@tickets.command(name="show")
@click.argument("ticket_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def tickets_show(ticket_id: int, as_json: bool) -> None:
    """One ticket with its history."""
    from handlers.ticket_views import event_line, ticket_card

    with _session() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            raise click.ClickException(f"there is no ticket #{ticket_id}")
        if as_json:
            data = _ticket_json(ticket)
            data["events"] = [
                {
                    "at": e.at.isoformat(),
                    "actor": e.actor_email,
                    "kind": e.kind,
                    "text": e.text,
                    "data": e.data,
                }
                for e in ticket.events
            ]
            click.echo(json.dumps(data, indent=2))
            return
        card = ticket_card(ticket)
        _show(card.title)
        for label, value in card.fields:
            _show(f"  {label}: {value}")
        click.echo("History:")
        for e in ticket.events:
            _show(f"  {event_line(e)}")


@main.command()
@click.option("--days", default=7, show_default=True, help="How far back to look.")
@click.option("--json", "as_json", is_flag=True)
@friendly_errors
def stats(days: int, as_json: bool) -> None:
    """Knowledge-base figures (honest deflection), knowledge gaps and weak articles."""
    from datetime import timedelta

    from bot import insights
    from bot.bootstrap import build_app
    from bot.clock import now

    app = build_app(_read_settings())
    since, until = now() - timedelta(days=days), now()
    with app.sessions() as session:
        figures = insights.kb_figures(session, app.services.knowledge(session), since, until)
        gaps = insights.knowledge_gaps(session, since, 20)
        weak = insights.weak_articles(session)
    if as_json:
        weak_rows = [{"id": a, "helpful": up, "not_helpful": down} for a, up, down in weak]
        report = {"days": days, "kb": figures.as_dict(), "gaps": gaps, "weak_articles": weak_rows}
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"Last {days} days: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figures.as_dict().items())
    )
    _show("Knowledge gaps:" + ("".join(f"\n  {q}" for q in gaps) or " none"))
    for article_id, up, down in weak:
        click.echo(f"Weak article: {article_id} ({up} helpful, {down} not)")


@main.group()
def audit() -> None:
    """The audit log of sensitive steps."""


@audit.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", default=200, show_default=True)
@friendly_errors
def audit_list(as_json: bool, limit: int) -> None:
    """Newest last: who did what to which account, with what result."""
    with _session() as session:
        rows = list(session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)))[::-1]
        for r in rows:
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "id": r.id,
                            "at": r.at.isoformat(),
                            "actor": r.actor,
                            "action": r.action,
                            "target": r.target,
                            "result": r.result,
                            "correlation_id": r.correlation_id,
                            "detail": r.detail,
                        }
                    )
                )
            else:
                _show(
                    f"{r.at:%Y-%m-%d %H:%M:%S} {r.correlation_id[:8]} {r.actor} {r.action} {r.target} "
                    f"→ {r.result}"
                )


def _read_settings() -> Settings:
    """Settings for a command that only reads: it never creates a database, and after `make demo` (no
    FRONTDESK_DATABASE_URL, no frontdesk.db, but frontdesk-demo.db here) it reads the demo's, saying so."""
    from bot.demo.seed import DEMO_DATABASE

    settings = _settings()
    default = Settings.model_fields["database_url"].default
    demo_file = DEMO_DATABASE.removeprefix("sqlite:///")
    if (
        not os.environ.get("FRONTDESK_DATABASE_URL")
        and settings.database_url == default
        and not os.path.exists(default.removeprefix("sqlite:///"))
        and os.path.exists(demo_file)
    ):
        click.echo(
            f"(no frontdesk.db here and FRONTDESK_DATABASE_URL is unset: reading {demo_file})", err=True
        )
        settings = _settings(database_url=DEMO_DATABASE)
    _require_existing_sqlite_file(settings.database_url)
    return settings


class _session:
    """A read session on the configured database, with clear errors when it is unusable."""

    def __enter__(self) -> Any:
        settings = _read_settings()
        engine = db.make_engine(settings.database_url)
        if settings.auto_migrate:
            db.upgrade(engine)
        else:
            db.check_schema(engine)
        self._session = db.make_session_factory(engine)()
        return self._session

    def __exit__(self, *exc: object) -> None:
        self._session.close()


def _require_existing_sqlite_file(url: str) -> None:
    """Reading commands must not create an empty database where a mistyped URL points."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # make_engine reports it in words
    path = (parsed.database or "").removeprefix("file:")
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return
    if not os.path.exists(path):
        raise click.ClickException(
            f"there is no database at {path} (FRONTDESK_DATABASE_URL={url}); check the URL, or create it "
            "with `frontdesk db upgrade`"
        )


def _ticket_json(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id,
        "status": t.status,
        "urgent": t.urgent,
        "subject": t.subject,
        "problem": t.problem,
        "category": t.category,
        "requester": t.requester_email,
        "requester_name": t.requester_name,
        "department": t.requester_department,
        "title": t.requester_title,
        "location": t.requester_location,
        "manager": t.requester_manager,
        "directory": t.requester_directory,
        "assignee": t.assignee_email,
        "flags": t.flags,
        "transcript": t.transcript,
        "resolution": t.resolution,
        "rating": t.rating,
        "rating_comment": t.rating_comment,
        "created_at": t.created_at.isoformat(),
        "updated_at": t.updated_at.isoformat(),
    }


def _attach_optional_commands() -> None:
    from bot.cli_access import access
    from bot.cli_articles import attach as attach_article_commands
    from bot.cli_delivery import outbox, run, worker
    from bot.cli_digest import digest
    from bot.cli_teams import teams
    from kb.cli import kb
    from kb.intent.cli import intent

    attach_article_commands(kb)
    main.add_command(kb)
    main.add_command(intent)
    for command in (run, worker, outbox, digest, access, teams):
        main.add_command(command)


_attach_optional_commands()

if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
