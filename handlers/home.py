"""A person's home page (Slack's App Home tab): what they are waiting for, and what waits for them.

Everyone sees their open tickets, their access requests still waiting (with Cancel) and the access
granted to them (with Release); a technician also sees the queue (unclaimed tickets, urgent first, with
Claim), their claims and the flagged tickets; a manager (or anyone asked to approve) the approvals waiting
for them.

It is an ordinary message with the topic `home`: a platform with a home page shows it there (Slack:
views.publish, replacing the previous one). It is drawn when the person opens it, and again when something
on it changes: whoever the bot tells something to (and every technician, when triage hears of a ticket)
has their page marked stale in the same transaction (`mark_changed`, run by the engine after every unit
of work), and the `refresh_home_pages` job redraws it a moment later — once for a burst of changes. Only
pages that were opened are kept fresh, so a platform without a home page never receives one unasked.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, or_, select, update

from bot.clock import now
from bot.messages import Button, Person
from bot.store.models import HomePage
from handlers import manager, people, tickets
from handlers.access import records as access_records
from handlers.context import Context, Speaker
from handlers.registry import action
from handlers.ticket_views import OPEN_STATUSES, queue_line, status_line

HOME_TOPIC = "home"
MAX_BUTTONS = 24  # Slack shows 25 per row of actions; the lists above them say the rest
# A change waits this long before its page is redrawn, so a burst of changes is one redraw.
SETTLE = timedelta(seconds=2)
REFRESH_BATCH = 50


@action("home.open")
def on_home(ctx: Context, _argument: str) -> None:
    show_home(ctx, ctx.speaker)
    _kept_fresh(ctx, ctx.speaker, ctx.event.person.platform)


def show_home(ctx: Context, speaker: Speaker) -> None:
    """Draw `speaker`'s home page (from an event of theirs or from the refresh job)."""
    sections: list[str] = []
    buttons: list[Button] = []
    typed: list[str] = []
    if speaker.is_technician:
        _technician_part(ctx, speaker, sections, buttons, typed)
    lines, decide = manager.approvals_waiting_for(ctx, speaker.email)
    if lines or speaker.is_manager:  # approvers are managers, resource owners, members of a group
        sections.append(_section("Waiting for your approval", lines, "Nothing is waiting for your approval."))
        buttons += decide
    _employee_part(ctx, speaker, sections, buttons, typed)
    ctx.send(
        speaker.email,
        "\n\n".join(sections),
        [*buttons[: MAX_BUTTONS - 1], Button("new_ticket.open", "New ticket", "primary")],
        topic=HOME_TOPIC,
        quoted=tuple(dict.fromkeys(part for part in typed if part)),
    )


def _employee_part(
    ctx: Context, speaker: Speaker, sections: list[str], buttons: list[Button], typed: list[str]
) -> None:
    mine = [t for t in tickets.tickets_of(ctx.session, speaker.email) if t.status in OPEN_STATUSES]
    sections.append(
        _section("Your open tickets", [status_line(t) for t in mine], "You have no open tickets.")
    )
    typed += [t.subject for t in mine]
    if access_records.catalog(ctx) is not None:
        waiting = access_records.pending_requests(ctx.session, speaker.email)
        granted = access_records.active_grants(ctx.session, speaker.email)

        def name(entry_id: str) -> str:
            return access_records.entry_name(ctx, entry_id)

        sections.append(
            _section(
                "Your access requests",
                [f"{name(r.entry_id)} — {r.status}" for r in waiting],
                "No access requests waiting.",
            )
        )
        sections.append(
            _section(
                "Access you have through me",
                [f"{name(g.entry_id)} — {access_records.until(g.expires_at)}" for g in granted],
                "None.",
            )
        )
        buttons += [
            Button(f"access.withdraw:{r.correlation_id}", f"Cancel request: {name(r.entry_id)}")
            for r in waiting
            if r.status == "pending"
        ]
        buttons += [Button(f"access.release:{g.id}", f"Release {name(g.entry_id)}") for g in granted]
    buttons += [Button(f"ticket.show:{t.id}", f"#{t.id}") for t in mine]


def _technician_part(
    ctx: Context, speaker: Speaker, sections: list[str], buttons: list[Button], typed: list[str]
) -> None:
    queue = tickets.queue(ctx.session)
    unclaimed = sorted(
        (t for t in queue if t.assignee_email is None), key=lambda t: (not t.urgent, t.created_at)
    )
    claims = [t for t in queue if t.assignee_email == speaker.email]
    flagged = [t for t in queue if t.flags]
    sections += [
        _section("Waiting for a technician", [queue_line(t) for t in unclaimed], "Nothing unclaimed."),
        _section("Your claims", [queue_line(t) for t in claims], "You have no claimed tickets."),
        _section("Flagged", [queue_line(t) for t in flagged], "Nothing flagged."),
    ]
    buttons += [Button(f"ticket.claim:{t.id}", f"Claim #{t.id}", "primary") for t in unclaimed]
    typed += [t.subject for t in (*unclaimed, *claims, *flagged)]


def _section(title: str, lines: list[str], empty: str) -> str:
    return f"{title}:\n" + ("\n".join(f"• {line}" for line in lines) if lines else empty)


# --- keeping opened pages fresh ---------------------------------------------------------------------------


def _kept_fresh(ctx: Context, speaker: Speaker, platform: str) -> None:
    page = ctx.session.get(HomePage, speaker.email)
    if page is None:
        page = HomePage(email=speaker.email, platform=platform, published_at=now())
        ctx.session.add(page)
    page.platform, page.is_technician = platform, speaker.is_technician
    page.published_at, page.stale_since = now(), None


def mark_changed(ctx: Context) -> None:
    """Whoever this unit of work told something, and every technician when triage heard of a ticket:
    their opened home pages are stale from now (a page already stale keeps its time)."""
    told = {reply.to for reply in ctx.outbox.replies if reply.topic != HOME_TOPIC}
    persons = {to for to in told if not to.startswith("#")}
    queue_changed = f"#{ctx.settings.triage_channel}" in told
    if not persons and not queue_changed:
        return
    whose: ColumnElement[bool] = HomePage.email.in_(persons)
    if queue_changed:
        whose = or_(whose, HomePage.is_technician.is_(True))
    ctx.session.execute(
        update(HomePage).where(HomePage.stale_since.is_(None), whose).values(stale_since=now())
    )


def refresh_home_pages(ctx: Context) -> None:
    """The job: redraw the pages that have been stale for `SETTLE` (locked, so a change committed while
    one is drawn marks it stale again rather than being lost)."""
    due = ctx.session.scalars(
        select(HomePage)
        .where(HomePage.stale_since.is_not(None), HomePage.stale_since <= now() - SETTLE)
        .order_by(HomePage.stale_since)
        .limit(REFRESH_BATCH)
        .with_for_update()
    )
    for page in list(due):
        speaker = people.identify(ctx.services, Person(page.platform, "", page.email))
        show_home(ctx, speaker)
        _kept_fresh(ctx, speaker, page.platform)
