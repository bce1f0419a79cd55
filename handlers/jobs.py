"""Scheduled work: what the bot does on its own, on a clock, with the system actor ("frontdesk").

Each job is a plain handler `job(ctx)`, run by the engine as a unit of work of its own (its transaction,
its outbox, its audit). Each acts only on what is due *now* and moves it with a conditional change, so
running a job twice, or in two processes at once, does the work once. `SCHEDULE` says how often each
runs; the scheduler (bot/scheduling.py) runs them only in the process that holds the lease.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, delete, exists, select, update
from sqlalchemy.orm import aliased

from bot.clock import now
from bot.messages import Button
from bot.store.models import OutboxMessage, ProcessedEvent, ResetRequest, Ticket, TicketEvent
from handlers import audit, conversations, digest_report, home, sla, tickets
from handlers.access.grants import expire_requests as expire_access_requests
from handlers.access.grants import reconcile_grants as reconcile_access_grants
from handlers.account.approval import expire_approval
from handlers.account.records import FLOW as ACCOUNT_FLOW
from handlers.account.records import audit_step, noun, transition_in
from handlers.context import Context
from handlers.ticket_notices import notify, to_assignee, to_requester

if TYPE_CHECKING:
    from bot.settings import Settings


@dataclass(frozen=True)
class Scheduled:
    name: str
    run: Callable[[Context], None]
    every_seconds: int


# --- reset/unlock requests that ran out of time ---------------------------------------------------------


def expire_account_requests(ctx: Context) -> None:
    """Approvals and codes past their time: the request expires, the person is released from the flow
    and told, and the approver's card says it expired."""
    moment = now()
    approval_cutoff = moment - timedelta(minutes=ctx.settings.approval_ttl_minutes)
    due = ctx.session.scalars(
        select(ResetRequest).where(
            ResetRequest.status == "pending",
            (
                and_(ResetRequest.method == "manager_approval", ResetRequest.created_at < approval_cutoff)
                | and_(ResetRequest.method == "email_code", ResetRequest.code_expires_at < moment)
            ),
        )
    ).all()
    for request in due:
        _expire(ctx, request)


def _expire(ctx: Context, request: ResetRequest) -> None:
    what = noun(request.kind)
    if request.method == "manager_approval":
        ttl = ctx.settings.approval_ttl_minutes
        if not expire_approval(ctx.session, request, ttl_minutes=ttl, actor=ctx.speaker.email):
            return  # decided, cancelled or expired meanwhile
        told = f"Your manager didn't approve your {what} in time, so nothing was changed."
        ctx.update(
            request.approver_email,
            f"approval:{request.correlation_id}",
            f"The {what} request for {request.person_email} expired before anyone decided; nothing was "
            "changed. If they still need it, they can ask again.",
        )
    else:
        if not transition_in(ctx.session, request, "expired", "pending"):
            return
        audit_step(ctx, request, "code_expired", "expired")
        told = f"The verification code for your {what} expired, so nothing was changed."
    _release(ctx, request)
    ctx.send(request.person_email, told + " Ask me again whenever you're ready.")


def _release(ctx: Context, request: ResetRequest) -> None:
    """The person is no longer held in the flow by a request that cannot go on."""
    state = conversations.load(ctx.session, request.person_email, timeout_minutes=10**6)
    if state.flow == ACCOUNT_FLOW and state.data.get("correlation") == request.correlation_id:
        state.end()
        state.ended.clear()  # its end hook would cancel a pending request; this one has already expired
        conversations.save(ctx.session, request.person_email, state)


# --- claims nobody acted on -----------------------------------------------------------------------------


def expire_claims(ctx: Context) -> None:
    """A ticket claimed with no word to the requester within FRONTDESK_CLAIM_EXPIRY goes back to the queue;
    the technician and the triage channel are told."""
    cutoff = now() - timedelta(minutes=ctx.settings.claim_expiry)
    replied = aliased(TicketEvent)
    stale = ctx.session.scalars(
        select(Ticket).where(
            Ticket.status == "claimed",
            Ticket.assignee_email.is_not(None),
            Ticket.claimed_at < cutoff,
            ~exists().where(
                replied.ticket_id == Ticket.id,
                replied.kind == "message_to_requester",
                replied.at >= Ticket.claimed_at,
            ),
        )
    ).all()
    for ticket in stale:
        _return_to_queue(ctx, ticket)


def _return_to_queue(ctx: Context, ticket: Ticket) -> None:
    technician = ticket.assignee_email or ""
    returned = ctx.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.status == "claimed", Ticket.assignee_email == technician)
        .values(status="new", assignee_email=None, claimed_at=None, updated_at=now())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not returned:
        return
    ctx.session.refresh(ticket)
    hours = _duration(ctx.settings.claim_expiry)
    tickets.record_event(ctx, ticket, "claim_expired", data={"technician": technician})
    _audit(ctx, "ticket.claim_expired", f"ticket-{ticket.id}", technician=technician)
    ctx.send(
        technician,
        f"Ticket #{ticket.id} went back to the queue: you claimed it {hours} ago and nobody has written "
        "to the requester since. Claim it again if you're on it.",
        [Button(f"ticket.claim:{ticket.id}", "Claim again", "primary")],
        ticket=ticket.id,
    )
    ctx.triage(
        f"Ticket #{ticket.id} is back in the queue (its claim expired after {hours} without a reply): "
        f"{ticket.subject}",
        [Button(f"ticket.claim:{ticket.id}", "Claim", "primary")],
        ticket=ticket.id,
    )


# --- tickets waiting on a requester who went quiet ------------------------------------------------------


def close_waiting_tickets(ctx: Context) -> None:
    """Waiting on the requester: one reminder after FRONTDESK_WAITING_REMINDER_DAYS, closed (reopen
    possible) after FRONTDESK_WAITING_CLOSE_DAYS."""
    settings = ctx.settings
    moment = now()
    for ticket in ctx.session.scalars(select(Ticket).where(Ticket.status == "waiting")).all():
        since = _last_event_at(ctx, ticket.id, "waiting")
        if since is None:
            continue
        reminded = _last_event_at(ctx, ticket.id, "waiting_reminder", after=since)
        if reminded is None and moment - since >= timedelta(days=settings.waiting_reminder_days):
            _remind(ctx, ticket)
        elif (
            reminded is not None
            and moment - since >= timedelta(days=settings.waiting_close_days)
            and moment - reminded >= timedelta(days=_days_after_reminder(settings))
        ):
            _close_unanswered(ctx, ticket)


def _days_after_reminder(settings: Settings) -> int:
    return settings.waiting_close_days - settings.waiting_reminder_days


def _remind(ctx: Context, ticket: Ticket) -> None:
    tickets.record_event(ctx, ticket, "waiting_reminder")
    days = _days_after_reminder(ctx.settings)
    notify(
        ctx,
        ticket,
        to_requester(
            ticket,
            f"Ticket #{ticket.id} ({ticket.subject}) is still waiting for your answer. Reply here and I'll "
            f"pass it on; without an answer it will be closed in {days} day{'s' if days != 1 else ''}.",
            [Button(f"ticket.answer:{ticket.id}", "Reply")],
        ),
    )


def _close_unanswered(ctx: Context, ticket: Ticket) -> None:
    closed = ctx.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.status == "waiting")
        .values(status="closed", updated_at=now())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not closed:
        return
    ctx.session.refresh(ticket)
    tickets.record_event(ctx, ticket, "closed_no_answer")
    _audit(ctx, "ticket.closed_no_answer", f"ticket-{ticket.id}")
    conversations.unfollow_ticket(ctx.session, ticket.requester_email, ticket.id)
    notify(
        ctx,
        ticket,
        to_requester(
            ticket,
            f"I closed ticket #{ticket.id} ({ticket.subject}) because we didn't hear back. If you still need "
            f"help, say 'reopen {ticket.id}'.",
        ),
        to_assignee(ticket, f"Ticket #{ticket.id} was closed: no answer from the requester."),
    )


# --- service targets -----------------------------------------------------------------------------------


def watch_service_targets(ctx: Context) -> None:
    """An unclaimed urgent ticket past its first-response target pings the triage channel, once per target
    period while nobody takes it; an assigned ticket nearing its resolution target reminds its assignee
    once. Each ping is a ticket event (`sla_ping`, `sla_reminder`): what was said is in its history."""
    targets = sla.Targets.of(ctx.settings)
    for ticket in _unclaimed_urgent_past_target(ctx, targets):
        _ping_triage(ctx, ticket, targets)
    for urgent in (True, False):
        for ticket in _nearing_resolution_target(ctx, targets, urgent):
            _remind_assignee(ctx, ticket, targets)


def _unclaimed_urgent_past_target(ctx: Context, targets: sla.Targets) -> list[Ticket]:
    period = targets.first_response(urgent=True)
    moment = now()
    pinged = aliased(TicketEvent)
    return list(
        ctx.session.scalars(
            _locked(
                select(Ticket).where(
                    Ticket.status == "new",
                    Ticket.assignee_email.is_(None),
                    Ticket.urgent.is_(True),
                    Ticket.created_at <= moment - period,
                    ~exists().where(
                        pinged.ticket_id == Ticket.id, pinged.kind == "sla_ping", pinged.at > moment - period
                    ),
                )
            )
        )
    )


def _nearing_resolution_target(ctx: Context, targets: sla.Targets, urgent: bool) -> list[Ticket]:
    reminded = aliased(TicketEvent)
    return list(
        ctx.session.scalars(
            _locked(
                select(Ticket).where(
                    Ticket.status.in_(("claimed", "new")),
                    Ticket.assignee_email.is_not(None),
                    Ticket.urgent.is_(urgent),
                    Ticket.created_at <= now() - targets.warning(urgent),
                    ~exists().where(reminded.ticket_id == Ticket.id, reminded.kind == "sla_reminder"),
                )
            )
        )
    )


def _locked(statement: Select[Any]) -> Select[Any]:
    """Two processes running the job at once: the second skips the tickets the first is pinging (and
    once it commits, their new event excludes them)."""
    return statement.with_for_update(of=Ticket, skip_locked=True)


def _ping_triage(ctx: Context, ticket: Ticket, targets: sla.Targets) -> None:
    waited = sla.duration(now() - ticket.created_at)
    target = sla.duration(targets.first_response(urgent=True))
    minutes = ctx.settings.sla_first_response_urgent
    tickets.record_event(ctx, ticket, "sla_ping", data={"target_minutes": minutes})
    ctx.triage(
        f"URGENT ticket #{ticket.id} has waited {waited} with nobody on it (first-response target "
        f"{target}): {ticket.subject}",
        [
            Button(f"ticket.claim:{ticket.id}", "Claim", "primary"),
            Button(f"ticket.show:{ticket.id}", "Details"),
        ],
        ticket=ticket.id,
        quoted=(ticket.subject,),
    )


def _remind_assignee(ctx: Context, ticket: Ticket, targets: sla.Targets) -> None:
    left = sla.time_left(ticket, targets, now())
    tickets.record_event(ctx, ticket, "sla_reminder")
    ctx.send(
        ticket.assignee_email or "",
        f"Ticket #{ticket.id} is nearing its resolution target ({left}): {ticket.subject}",
        [Button(f"ticket.show:{ticket.id}", "Details")],
        ticket=ticket.id,
        quoted=(ticket.subject,),
    )


# --- housekeeping ---------------------------------------------------------------------------------------


def clean_up(ctx: Context) -> None:
    """Forget processed event ids and delivered outbox rows past their retention (dead rows stay for the
    operators)."""
    moment = now()
    events = ctx.session.execute(
        delete(ProcessedEvent).where(
            ProcessedEvent.at < moment - timedelta(days=ctx.settings.event_retention_days)
        )
    ).rowcount  # type: ignore[attr-defined]
    rows = ctx.session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.status == "delivered",
            OutboxMessage.delivered_at < moment - timedelta(days=ctx.settings.outbox_retention_days),
        )
    ).rowcount  # type: ignore[attr-defined]
    _audit(ctx, "housekeeping.clean_up", "database", events=int(events or 0), outbox_rows=int(rows or 0))


# --- helpers --------------------------------------------------------------------------------------------


def _last_event_at(ctx: Context, ticket_id: int, kind: str, after: datetime | None = None) -> datetime | None:
    statement = select(TicketEvent.at).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == kind)
    if after is not None:
        statement = statement.where(TicketEvent.at >= after)
    return ctx.session.scalar(statement.order_by(TicketEvent.at.desc()).limit(1))


def _audit(ctx: Context, action: str, target: str, **detail: object) -> None:
    audit.record(
        ctx.session,
        actor=ctx.speaker.email,
        action=action,
        target=target,
        result="done",
        correlation_id=target,
        **detail,
    )


def _duration(minutes: int) -> str:
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"


SCHEDULE: tuple[Scheduled, ...] = (
    Scheduled("expire_account_requests", expire_account_requests, 30),
    Scheduled("expire_claims", expire_claims, 60),
    # Grants past their end are removed; run at start-up too (bot/scheduling.py), so a stopped bot catches up.
    Scheduled("reconcile_access_grants", reconcile_access_grants, 60),
    Scheduled("expire_access_requests", expire_access_requests, 60),
    Scheduled("close_waiting_tickets", close_waiting_tickets, 15 * 60),
    Scheduled("clean_up", clean_up, 24 * 3600),
    Scheduled("post_digest", digest_report.post_digest, 60),
    Scheduled("watch_service_targets", watch_service_targets, 60),
    # Opened App Home pages showing something that changed are redrawn (once per burst of changes).
    Scheduled("refresh_home_pages", home.refresh_home_pages, 5),
)
