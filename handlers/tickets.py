"""Tickets as the service desk works them: open, claim, relay, note, flag, resolve, rate, reopen.

Each operation changes the ticket, appends an event to its history, and tells the people concerned —
the requester, the assignee, a previous assignee — through `notify`, in chat and by email, never the
person who made the change. Delivery is in `ticket_notices`; cards, lines and buttons in `ticket_views`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from automations.directory import DirectoryPerson
from bot import logs
from bot.clock import now
from bot.messages import Button, shorten
from bot.redact import hide_secrets
from bot.store.models import Ticket, TicketEvent
from handlers import arguments, conversations, sla
from handlers.context import Context
from handlers.ticket_notices import Notice, mail_subject, notify, to_assignee, to_both, to_requester
from handlers.ticket_views import (
    DIRECTORY_WORDS,
    FLAGS,
    OPEN_STATUSES,
    display_name,
    rating_buttons,
    technician_buttons,
    ticket_card,
    typed_parts,
)

log = structlog.get_logger(__name__)
QUEUE_PAGE = 20  # open tickets listed at once
FLAGS_CLEARED = {
    "needs_budget": "the budget approval it was waiting for is no longer holding it up",
    "needs_approval": "the approval it was waiting for is no longer holding it up",
}
SUBJECT_LENGTH = 80
# The ticket events that change what its triage card shows (status, assignee, flags).
CARD_CHANGES = frozenset(
    {
        "claimed",
        "unclaimed",
        "reassigned",
        "waiting",
        "resolved",
        "closed",
        "withdrawn",
        "reopened",
        "flag_set",
        "flag_cleared",
    }
)
MAX_TICKET_ID = arguments.MAX_RECORD_ID  # a larger number names no ticket (see handlers.arguments)
ROLE_UNVERIFIED = (
    "I can't reach the company directory right now, so I can't verify your technician role. "
    "Please try again in a few minutes."
)


class TicketError(Exception):
    """An operation that cannot be done; the message is shown to the person as it is."""


@dataclass(frozen=True)
class Requester:
    """Whom a ticket is for, when that is not the speaker (a manager's approval failed: the owner's)."""

    email: str
    name: str
    profile: DirectoryPerson | None
    directory: str  # what the directory said: "found", "not_found", "unavailable"


def open_ticket(
    ctx: Context,
    *,
    problem: str,
    urgent: bool,
    category: str = "question",
    transcript: str = "",
    requester: Requester | None = None,
) -> Ticket:
    """Open a ticket for the speaker (or `requester`), filled in from the directory; post it to triage.

    Subject, problem and transcript never keep what looks like a password: they are posted and emailed."""
    problem, transcript = hide_secrets(problem), hide_secrets(transcript)
    who = requester or Requester(
        ctx.speaker.email, ctx.speaker.name, ctx.speaker.profile, _directory_status(ctx)
    )
    profile = who.profile
    moment = now()
    ticket = Ticket(
        status="new",
        urgent=urgent,
        subject=_subject(problem),
        problem=problem.strip(),
        category=category,
        requester_email=who.email,
        requester_name=who.name,
        requester_title=profile.title if profile else "",
        requester_department=profile.department if profile else "",
        requester_location=profile.location if profile else "",
        requester_manager=(profile.manager_email or "") if profile else "",
        requester_directory=who.directory,
        transcript=transcript,
        flags=[],
        created_at=moment,
        updated_at=moment,
    )
    ctx.session.add(ticket)
    ctx.session.flush()
    _record(ctx, ticket, "created", problem, {"urgent": urgent, "category": category})
    ctx.triage(
        triage_headline(ticket),
        [
            Button(f"ticket.claim:{ticket.id}", "Claim", "primary"),
            Button(f"ticket.show:{ticket.id}", "Details"),
        ],
        card=ticket_card(ticket, targets=sla.Targets.of(ctx.settings)),
        ticket=ticket.id,
        topic=card_topic(ticket.id),
        quoted=typed_parts(ticket),
    )
    # The requester made this change, but the email is their receipt with the ticket number.
    ctx.email(
        ticket.requester_email,
        mail_subject(ticket),
        f"We opened ticket #{ticket.id} for you:\n\n"
        f"{ticket.problem}\n\nA technician will pick it up; you can follow it in chat.",
    )
    return ticket


def triage_headline(ticket: Ticket) -> str:
    """The first line of a ticket's card in triage."""
    unknown = (
        f" ({DIRECTORY_WORDS[ticket.requester_directory]})"
        if ticket.requester_directory in DIRECTORY_WORDS
        else ""
    )
    urgent = "URGENT " if ticket.urgent else ""
    return f"{urgent}ticket #{ticket.id} from {ticket.requester_name}{unknown}: {ticket.subject}"


def card_topic(ticket_id: int) -> str:
    """The topic of a ticket's card in triage, which every later change replaces in place."""
    return f"ticket:{ticket_id}"


def refresh_card(ctx: Context, ticket: Ticket) -> None:
    """The card in triage shows the ticket as it is now (claimed by whom, status, flags), for everyone."""
    assignee = f": {display_name(ctx, ticket.assignee_email)}" if ticket.assignee_email else ""
    buttons = [Button(f"ticket.show:{ticket.id}", "Details"), *technician_buttons(ticket)]
    ctx.update(
        "#" + ctx.settings.triage_channel,
        card_topic(ticket.id),
        f"{triage_headline(ticket)} [{ticket.status}{assignee}]",
        buttons,
        card=ticket_card(ticket, targets=sla.Targets.of(ctx.settings)),
        ticket=ticket.id,
        quoted=typed_parts(ticket),
    )


def parse_id(text: str) -> int:
    """A ticket number as typed or carried by a button ("12", "#12"); TicketError when it names none."""
    digits = text.strip().removeprefix("#")
    ticket_id = arguments.record_id(digits)
    if ticket_id is not None:
        return ticket_id
    if digits.isdigit():  # a number, but none of ours: too large, zero, or not ASCII digits ("²")
        raise TicketError(f"There is no ticket #{shorten(digits, 30)}.")
    raise TicketError(f"'{shorten(text, 20)}' is not a ticket number.")


def visible_ticket(ctx: Context, ticket_id: int) -> Ticket:
    """A ticket the speaker may act on: any for a technician, their own for anyone else — and for them the
    same words whether it does not exist or is someone else's, so nobody learns which tickets exist."""
    ticket = ctx.session.get(Ticket, ticket_id) if 1 <= ticket_id <= MAX_TICKET_ID else None
    if ticket is None or not (ctx.speaker.is_technician or ticket.requester_email == ctx.speaker.email):
        raise TicketError(
            f"There is no ticket #{ticket_id}."
            if ctx.speaker.is_technician
            else f"I can't find a ticket #{ticket_id} of yours. Say 'my tickets' to see them."
        )
    logs.bind(ticket=ticket.id)
    return ticket


def get(session: Session, ticket_id: int) -> Ticket:
    _check_id(ticket_id)
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketError(f"There is no ticket #{ticket_id}.")
    logs.bind(ticket=ticket.id)
    return ticket


def queue(session: Session, limit: int = QUEUE_PAGE, include_done: bool = False) -> list[Ticket]:
    """Open tickets first: unclaimed urgent ones, then unclaimed, then the rest, oldest first."""
    statement = select(Ticket)
    if not include_done:
        statement = statement.where(Ticket.status.in_(OPEN_STATUSES))
    is_open = case((Ticket.status.in_(OPEN_STATUSES), 0), else_=1)
    unclaimed = case((Ticket.assignee_email.is_(None), 0), else_=1)
    urgent_first = case((Ticket.urgent.is_(True), 0), else_=1)
    statement = statement.order_by(is_open, unclaimed, urgent_first, Ticket.created_at, Ticket.id).limit(
        limit
    )
    return list(session.scalars(statement))


def count_open(session: Session) -> int:
    statement = select(func.count()).select_from(Ticket).where(Ticket.status.in_(OPEN_STATUSES))
    return int(session.scalar(statement) or 0)


def open_tickets_where(session: Session, *conditions: object, limit: int = QUEUE_PAGE) -> list[Ticket]:
    """Open tickets matching `conditions` (assigned to someone, from someone's team), urgent, oldest first."""
    urgent_first = case((Ticket.urgent.is_(True), 0), else_=1)
    statement = (
        select(Ticket)
        .where(Ticket.status.in_(OPEN_STATUSES), *conditions)  # type: ignore[arg-type]
        .order_by(urgent_first, Ticket.created_at, Ticket.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def tickets_of(session: Session, email: str, limit: int = 10) -> list[Ticket]:
    is_open = case((Ticket.status.in_(OPEN_STATUSES), 0), else_=1)
    statement = (
        select(Ticket)
        .where(Ticket.requester_email == email)
        .order_by(is_open, Ticket.created_at.desc())
        .limit(limit)
    )
    return list(session.scalars(statement))


def claim(ctx: Context, ticket_id: int) -> Ticket:
    """Take an unclaimed ticket. The first claim wins, atomically; the second is told who has it."""
    require_technician(ctx)
    _check_id(ticket_id)
    moment = now()
    claimed = ctx.session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.assignee_email.is_(None), Ticket.status.in_(OPEN_STATUSES))
        .values(assignee_email=ctx.speaker.email, status="claimed", claimed_at=moment, updated_at=moment)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    ticket = get(ctx.session, ticket_id)
    ctx.session.refresh(ticket)
    if not claimed:
        if ticket.assignee_email == ctx.speaker.email:
            raise TicketError(f"Ticket #{ticket_id} is already yours.")
        if ticket.assignee_email:
            raise TicketError(
                f"Ticket #{ticket_id} is already claimed by {display_name(ctx, ticket.assignee_email)}."
            )
        raise TicketError(f"Ticket #{ticket_id} is {ticket.status}; reopen it first.")
    _record(ctx, ticket, "claimed")
    notify(
        ctx, ticket, to_requester(ticket, f"{ctx.speaker.name} is now working on your ticket #{ticket.id}.")
    )
    return ticket


def unclaim(ctx: Context, ticket_id: int) -> Ticket:
    ticket = _assigned_to_speaker(ctx, ticket_id)
    ticket.assignee_email = None
    ticket.status = "new"
    _record(ctx, ticket, "unclaimed")
    notify(
        ctx,
        ticket,
        to_requester(
            ticket,
            f"{ctx.speaker.name} is no longer working on your ticket #{ticket.id}; "
            "it's back in the queue and the next free technician will pick it up.",
        ),
    )
    ctx.triage(
        f"Ticket #{ticket.id} is back in the queue: {ticket.subject}",
        [Button(f"ticket.claim:{ticket.id}", "Claim", "primary")],
        ticket=ticket.id,
        quoted=(ticket.subject,),
    )
    return ticket


def reassign(ctx: Context, ticket_id: int, to_email: str) -> Ticket:
    require_technician(ctx)
    ticket = _open(ctx, ticket_id)
    to_email = to_email.strip().lower()
    if not _is_technician_email(ctx, to_email):
        raise TicketError(f"{to_email} is not a technician, so I can't assign the ticket to them.")
    previous = ticket.assignee_email
    if previous == to_email:
        raise TicketError(f"Ticket #{ticket_id} is already assigned to {display_name(ctx, to_email)}.")
    ticket.assignee_email = to_email
    ticket.status = "claimed"
    ticket.claimed_at = now()
    _record(ctx, ticket, "reassigned", "", {"from": previous, "to": to_email})
    new_name = display_name(ctx, to_email)
    notify(
        ctx,
        ticket,
        Notice(
            to_email,
            f"{ctx.speaker.name} assigned ticket #{ticket.id} to you: {ticket.subject}",
            technician_buttons(ticket),
            ticket_card(ticket),
            quoted=typed_parts(ticket),
        ),
        Notice(previous, f"{ctx.speaker.name} reassigned ticket #{ticket.id} from you to {new_name}."),
        to_requester(ticket, f"{new_name} is now working on your ticket #{ticket.id}."),
    )
    return ticket


def reply_to_requester(ctx: Context, ticket_id: int, text: str) -> Ticket:
    """A technician writes to the requester through the bot; the requester's answers come back."""
    require_technician(ctx)
    ticket = _open(ctx, ticket_id)
    if ticket.assignee_email is None:
        ticket.assignee_email, ticket.status, ticket.claimed_at = ctx.speaker.email, "claimed", now()
        _record(ctx, ticket, "claimed")
    _record(ctx, ticket, "message_to_requester", text)
    how = (
        f"\n(I'll pass your next messages on to them; say 'done with #{ticket.id}' when you're finished.)"
        if _follow(ctx, ticket)
        else ""
    )
    notify(
        ctx,
        ticket,
        to_requester(
            ticket,
            f"{ctx.speaker.name} (IT) about ticket #{ticket.id}: {text}{how}",
            [
                Button(f"ticket.answer:{ticket.id}", "Reply"),
                Button(f"ticket.solved:{ticket.id}", "It's solved"),
            ],
            email=f"{ctx.speaker.name} wrote:\n\n{text}\n\n"
            "Answer in chat with the bot; your reply goes to the ticket.",
            quoted=(text,),
        ),
        to_assignee(
            ticket, f"{ctx.speaker.name} wrote to the requester of #{ticket.id}: {text}", quoted=(text,)
        ),
    )
    return ticket


def requester_message(ctx: Context, ticket_id: int, text: str) -> Ticket:
    """The requester adds to their ticket; a ticket waiting on them goes back to the technician."""
    ticket = get(ctx.session, ticket_id)
    if ticket.requester_email != ctx.speaker.email:
        raise TicketError(f"Ticket #{ticket_id} is not one of yours.")
    if ticket.status in ("resolved", "closed"):
        raise TicketError(f"Ticket #{ticket_id} is {ticket.status}. Say 'reopen {ticket_id}' to reopen it.")
    if ticket.status == "waiting":
        ticket.status = "claimed"
    text = hide_secrets(text)  # relayed to the technician or posted to triage
    _record(ctx, ticket, "message_from_requester", text)
    if ticket.assignee_email:
        notify(
            ctx,
            ticket,
            to_assignee(
                ticket,
                f"{ticket.requester_name} on ticket #{ticket.id}: {text}",
                [
                    Button(f"ticket.reply:{ticket.id}", "Reply"),
                    Button(f"ticket.resolve:{ticket.id}", "Resolve"),
                ],
                email=f"{ticket.requester_name} wrote:\n\n{text}",
                quoted=(text, ticket.requester_name),
            ),
        )
    # Triage hears it either way (on Slack, in the thread of the ticket's card): the whole desk can
    # follow the conversation, and an unclaimed ticket's follow-up is a reason to claim it.
    ctx.triage(
        f"{ticket.requester_name} added to ticket #{ticket.id}: {text}",
        [] if ticket.assignee_email else [Button(f"ticket.claim:{ticket.id}", "Claim", "primary")],
        ticket=ticket.id,
        quoted=(text, ticket.requester_name),
    )
    return ticket


def add_note(ctx: Context, ticket_id: int, text: str) -> Ticket:
    """An internal note: in the history, never shown to the requester."""
    require_technician(ctx)
    ticket = get(ctx.session, ticket_id)
    _record(ctx, ticket, "note", text)
    # In the card's thread in triage, marked internal: the technicians see it where they work the ticket.
    ctx.triage(
        f"Internal note by {ctx.speaker.name} on #{ticket.id}: {text}",
        ticket=ticket.id,
        internal=True,
        quoted=(text,),
    )
    if ticket.assignee_email != ticket.requester_email:  # a technician's own ticket: the note stays internal
        notify(
            ctx,
            ticket,
            to_assignee(ticket, f"{ctx.speaker.name} added a note to #{ticket.id}: {text}", quoted=(text,)),
        )
    return ticket


def set_flag(ctx: Context, ticket_id: int, flag: str, on: bool = True) -> Ticket:
    require_technician(ctx)
    if flag not in FLAGS:
        raise TicketError(f"Unknown flag '{flag}'. Flags: {', '.join(FLAGS)}.")
    ticket = _open(ctx, ticket_id)
    flags = [f for f in ticket.flags if f != flag] + ([flag] if on else [])
    if flags == ticket.flags:
        return ticket
    ticket.flags = flags
    _record(ctx, ticket, "flag_set" if on else "flag_cleared", flag)
    if on:
        for_requester = f"Your ticket #{ticket.id} will take longer: {FLAGS[flag]}."
        for_assignee = f"{ctx.speaker.name} flagged #{ticket.id} {flag}."
    else:
        for_requester = f"Good news about ticket #{ticket.id}: {FLAGS_CLEARED[flag]}."
        for_assignee = f"{ctx.speaker.name} cleared the flag {flag} on #{ticket.id}."
    notify(ctx, ticket, to_requester(ticket, for_requester), to_assignee(ticket, for_assignee))
    return ticket


def mark_waiting(ctx: Context, ticket_id: int) -> Ticket:
    require_technician(ctx)
    ticket = _open(ctx, ticket_id)
    ticket.status = "waiting"
    _record(ctx, ticket, "waiting")
    _follow(ctx, ticket)  # "reply here" must hold: the requester's next message goes to the ticket
    notify(
        ctx,
        ticket,
        to_requester(
            ticket,
            f"Ticket #{ticket.id} is waiting for your answer. Reply here and I'll pass it on.",
            [Button(f"ticket.answer:{ticket.id}", "Reply")],
        ),
        to_assignee(ticket, f"{ctx.speaker.name} set #{ticket.id} to waiting on the requester."),
    )
    return ticket


def resolve(ctx: Context, ticket_id: int, resolution: str) -> Ticket:
    require_technician(ctx)
    ticket = _open(ctx, ticket_id)
    if not resolution.strip():
        raise TicketError("Say how it was resolved: the requester sees it and it may become an article.")
    ticket.status, ticket.resolution, ticket.resolved_at = "resolved", hide_secrets(resolution.strip()), now()
    ticket.assignee_email = ticket.assignee_email or ctx.speaker.email
    _record(ctx, ticket, "resolved", resolution)
    _unfollow(ctx, ticket)
    notify(
        ctx,
        ticket,
        to_requester(
            ticket,
            f"Ticket #{ticket.id} is resolved: {ticket.resolution}\n"
            "How did we do? Rate the help from 1 (poor) to 5 (great).",
            rating_buttons(ticket.id),
            quoted=(ticket.resolution,),
        ),
        to_assignee(
            ticket,
            f"{ctx.speaker.name} resolved #{ticket.id}: {ticket.resolution}",
            quoted=(ticket.resolution,),
        ),
    )
    return ticket


def close(ctx: Context, ticket_id: int) -> Ticket:
    ticket = get(ctx.session, ticket_id)
    if not (ctx.speaker.is_technician or ticket.requester_email == ctx.speaker.email):
        raise TicketError(f"Ticket #{ticket_id} is not one of yours.")
    if ticket.status == "closed":
        raise TicketError(f"Ticket #{ticket_id} is already closed.")
    ticket.status = "closed"
    _record(ctx, ticket, "closed")
    _unfollow(ctx, ticket)
    notify(ctx, ticket, *to_both(ticket, f"Ticket #{ticket.id} is closed."))
    return ticket


def withdraw(ctx: Context, ticket_id: int, reason: str) -> Ticket:
    """The requester no longer needs help: their open ticket is closed, and whoever works it (or triage)
    learns why."""
    ticket = visible_ticket(ctx, ticket_id)
    if ticket.requester_email != ctx.speaker.email:  # a technician too withdraws only their own
        raise TicketError(f"I can't find a ticket #{ticket_id} of yours. Say 'my tickets' to see them.")
    if ticket.status not in OPEN_STATUSES:
        raise TicketError(f"Ticket #{ticket_id} is already {ticket.status}.")
    reason = hide_secrets(reason.strip()) or "no reason given"
    ticket.status = "closed"
    _record(ctx, ticket, "withdrawn", reason)
    _unfollow(ctx, ticket)
    notify(
        ctx, ticket, to_assignee(ticket, f"{ticket.requester_name} withdrew ticket #{ticket.id}: {reason}")
    )
    ctx.triage(f"Ticket #{ticket.id} was withdrawn by {ticket.requester_name}: {reason}", ticket=ticket.id)
    return ticket


def reopen(ctx: Context, ticket_id: int, reason: str = "") -> Ticket:
    ticket = visible_ticket(ctx, ticket_id)
    if ticket.status in OPEN_STATUSES:
        raise TicketError(f"Ticket #{ticket_id} is still open.")
    ticket.status = "claimed" if ticket.assignee_email else "new"
    ticket.resolved_at = None
    ticket.rating, ticket.rating_comment = None, ""  # the next resolution is rated afresh; history keeps this
    _record(ctx, ticket, "reopened", reason)
    notify(
        ctx,
        ticket,
        *to_both(
            ticket, f"Ticket #{ticket.id} was reopened{': ' + reason if reason else ''}.", quoted=(reason,)
        ),
    )
    if not ticket.assignee_email:
        ctx.triage(
            f"Ticket #{ticket.id} was reopened: {ticket.subject}",
            [Button(f"ticket.claim:{ticket.id}", "Claim", "primary")],
            ticket=ticket.id,
            quoted=(ticket.subject,),
        )
    return ticket


def rate(ctx: Context, ticket_id: int, rating: int, comment: str = "") -> Ticket:
    """The requester rates resolved help 1-5; rating closes the ticket."""
    ticket = get(ctx.session, ticket_id)
    if ticket.requester_email != ctx.speaker.email:
        raise TicketError(f"Only the person who asked for help can rate ticket #{ticket_id}.")
    if ticket.status not in ("resolved", "closed"):
        raise TicketError(f"Ticket #{ticket_id} is not resolved yet.")
    if not 1 <= rating <= 5:
        raise TicketError("Ratings go from 1 (poor) to 5 (great).")
    if ticket.rating is not None:  # one rating per resolution; reopening clears it for the next one
        raise TicketError(f"You already rated ticket #{ticket.id} ({ticket.rating}/5); thank you.")
    ticket.rating, ticket.status = rating, "closed"
    if comment:
        ticket.rating_comment = comment = hide_secrets(comment)
    _record(ctx, ticket, "rated", comment, {"rating": rating})
    notify(
        ctx,
        ticket,
        to_assignee(
            ticket,
            f"{ticket.requester_name} rated ticket #{ticket.id} {rating}/5"
            + (f": {comment}" if comment else "."),
            quoted=(comment, ticket.requester_name),
        ),
    )
    return ticket


def add_rating_comment(ctx: Context, ticket_id: int, comment: str) -> Ticket:
    ticket = get(ctx.session, ticket_id)
    if ticket.requester_email != ctx.speaker.email or ticket.rating is None:
        raise TicketError(f"There is no rating of yours on ticket #{ticket_id}.")
    ticket.rating_comment = hide_secrets(comment.strip())
    _record(ctx, ticket, "rating_comment", comment)
    notify(
        ctx,
        ticket,
        to_assignee(
            ticket,
            f"{ticket.requester_name} commented on their {ticket.rating}/5 rating of #{ticket.id}: "
            f"{ticket.rating_comment}",
            quoted=(ticket.rating_comment, ticket.requester_name),
        ),
    )
    return ticket


def guarded(ctx: Context, operation: Callable[[], object]) -> bool:
    """Run a ticket operation; a refusal becomes the reply instead of an error. True when it succeeded."""
    try:
        operation()
    except TicketError as error:
        log.info("ticket_refused", reason=str(error))
        ctx.reply(str(error))
        return False
    return True


# ---------------------------------------------------------------- internals


def _record(
    ctx: Context, ticket: Ticket, kind: str, text: str = "", data: dict[str, object] | None = None
) -> None:
    moment = now()
    ticket.updated_at = moment
    logs.bind(ticket=ticket.id)
    log.info("ticket_event", kind=kind, status=ticket.status)
    ctx.session.add(
        TicketEvent(
            ticket_id=ticket.id,
            at=moment,
            actor_email=ctx.speaker.email,
            kind=kind,
            text=hide_secrets(text),  # every event of every ticket: one place keeps secrets out of history
            data=dict(data or {}),
        )
    )
    if kind in CARD_CHANGES:
        refresh_card(ctx, ticket)


def _follow(ctx: Context, ticket: Ticket) -> bool:
    """The requester's next plain messages go to this ticket (a technician is talking with them).
    True when they were not following it yet (they need to hear how relaying works)."""
    if ticket.requester_email == ctx.speaker.email:
        before, ctx.state.thread_ticket_id = ctx.state.thread_ticket_id, ticket.id  # saved last by the engine
    else:
        before = conversations.follow_ticket(ctx.session, ticket.requester_email, ticket.id)
    return before != ticket.id


def _unfollow(ctx: Context, ticket: Ticket) -> None:
    """A resolved or closed ticket no longer takes the requester's messages."""
    if ticket.requester_email == ctx.speaker.email:
        if ctx.state.thread_ticket_id == ticket.id:
            ctx.state.thread_ticket_id = None
    else:
        conversations.unfollow_ticket(ctx.session, ticket.requester_email, ticket.id)


def _directory_status(ctx: Context) -> str:
    if ctx.speaker.directory_down:
        return "unavailable"
    return "found" if ctx.speaker.known else "not_found"


def require_technician(ctx: Context) -> None:
    """Refuse anyone who is not a technician, saying so when the directory cannot confirm the role."""
    if not ctx.speaker.is_technician:
        raise TicketError(
            ROLE_UNVERIFIED if role_unverifiable(ctx) else "Only service desk technicians can do that."
        )


def role_unverifiable(ctx: Context) -> bool:
    """The speaker may be a technician through the directory group, but the directory is down."""
    return (
        not ctx.speaker.is_technician and ctx.speaker.directory_down and bool(ctx.settings.technician_group)
    )


def _is_technician_email(ctx: Context, email: str) -> bool:
    from handlers.people import is_technician  # local: people imports this module's callers

    return is_technician(ctx.services, email)


def _check_id(ticket_id: int) -> None:
    if not 1 <= ticket_id <= MAX_TICKET_ID:
        raise TicketError(f"There is no ticket #{ticket_id}.")


def _open(ctx: Context, ticket_id: int) -> Ticket:
    ticket = get(ctx.session, ticket_id)
    if ticket.status not in OPEN_STATUSES:
        raise TicketError(f"Ticket #{ticket_id} is {ticket.status}. Reopen it first.")
    return ticket


def _assigned_to_speaker(ctx: Context, ticket_id: int) -> Ticket:
    require_technician(ctx)
    ticket = _open(ctx, ticket_id)
    if ticket.assignee_email != ctx.speaker.email:
        raise TicketError(f"Ticket #{ticket_id} is not assigned to you.")
    return ticket


def _subject(problem: str) -> str:
    return shorten(" ".join(problem.split()), SUBJECT_LENGTH)


# A ticket's history, for the scheduled jobs (handlers/jobs.py) that change tickets on their own.
record_event = _record
