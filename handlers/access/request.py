"""Asking for access: match the catalogue, check what the person already has, ask how long and why,
confirm, then send the approvers their cards (or grant at once when no approval is needed).

The conversation keeps only the catalogue entry's id: the group granted is always the entry's own, so
nothing typed can name a group.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from automations.access_catalog import AccessEntry, describe_duration, parse_duration
from automations.directory import DirectoryError, DirectoryPerson
from bot.clock import now
from bot.messages import Button, Card
from bot.store.models import AccessRequest
from bot.textsafety import printable
from handlers import arguments, new_ticket
from handlers.access.records import (
    FLOW,
    MAX_JUSTIFICATION,
    approver_emails,
    audit_request,
    bot_grant_for,
    catalog,
    how_long,
    in_audience,
    pending_requests,
    until,
)
from handlers.context import Context
from handlers.registry import action, flow, in_flow

# Buttons offered for the duration, each only when within the entry's maximum.
_CHOICES = (3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400)
MAX_BUTTONS = 5
_FOR = re.compile(r"^\s*(for\s+)?(?P<amount>.+?)\s*[.!]?$", re.I)
_WORD_NUMBERS = {"a": "1", "an": "1", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5"}


def start_request(ctx: Context, text: str) -> None:
    """ "I need access to the finance share": the entry it names, or a choice, or a ticket offered."""
    access = catalog(ctx)
    if access is None:
        new_ticket.start(ctx, problem=text, category="request_access", intro="A technician will handle this.")
        return
    matches = access.match(text)
    if not matches:
        ctx.state.start(FLOW, "no_match", text=text[:MAX_JUSTIFICATION])
        names = ", ".join(entry.name for entry in access.entries)
        ctx.reply(
            "I couldn't match that to any access I can arrange myself "
            f"({names}). A technician can look at it if I open a ticket.",
            [Button("access.ticket", "Open a ticket", "primary"), Button("access.cancel", "No thanks")],
        )
        return
    if len(matches) > 1:
        ctx.state.start(FLOW, "choose")
        ctx.reply(
            "Which one do you mean?",
            [Button(f"access.pick:{entry.id}", entry.name) for entry in matches[:MAX_BUTTONS]],
        )
        return
    begin(ctx, matches[0])


@action("access.ticket")
def on_ticket(ctx: Context, _: str) -> None:
    if in_flow(ctx, FLOW, "no_match"):
        text = str(ctx.state.data.get("text", ""))
        new_ticket.start(ctx, problem=text, category="request_access", intro="A technician will handle this.")


@action("access.pick")
def on_pick(ctx: Context, entry_id: str) -> None:
    access = catalog(ctx)
    entry = access.get(arguments.token(entry_id) or "") if access else None
    if entry is None:
        ctx.reply("That access is not in the catalogue (any more).")
        return
    begin(ctx, entry)


@action("access.request")
def on_request_entry(ctx: Context, entry_id: str) -> None:
    """ "Extend" and "Ask for it" buttons name the entry."""
    on_pick(ctx, entry_id)


def begin(ctx: Context, entry: AccessEntry, *, extending: bool = False) -> None:
    """The checks before any question: who asks, may they, do they have it already."""
    person = _requester(ctx)
    if person is None:
        return
    if entry.requestable_by and not entry.requestable_by.empty:
        audience = entry.requestable_by
        if not in_audience(ctx, person, audience.departments, audience.groups):
            audit_request(ctx, _draft(ctx, entry, person), "refused", "not_requestable")
            ctx.state.end()
            ctx.reply(
                f"{entry.name} can't be requested by your department. Say 'talk to a human' if you need it."
            )
            return
    for request in pending_requests(ctx.session, person.email):
        if request.entry_id == entry.id:
            ctx.state.end()
            ctx.reply(f"You already asked for {entry.name}; the request is waiting for approval.")
            return
    grant = bot_grant_for(ctx.session, person.email, entry.group)
    has_it = _is_member(ctx, person, entry.group)
    if has_it and not extending:
        ctx.state.end()
        if grant is not None and grant.expires_at is not None and not grant.pre_existing:
            ctx.reply(
                f"You already have {entry.name}, {until(grant.expires_at)}. Need longer?",
                [Button(f"access.extend:{entry.id}", "Extend", "primary")],
            )
        else:
            ctx.reply(f"You already have {entry.name} (it has no end date set by me).")
        return
    ctx.state.start(FLOW, "duration", entry=entry.id, extending=extending)
    _ask_duration(ctx, entry)


@action("access.extend")
def on_extend(ctx: Context, entry_id: str) -> None:
    access = catalog(ctx)
    entry = access.get(arguments.token(entry_id) or "") if access else None
    if entry is None:
        ctx.reply("That access is not in the catalogue (any more).")
        return
    begin(ctx, entry, extending=True)


def _requester(ctx: Context) -> DirectoryPerson | None:
    speaker = ctx.speaker
    if speaker.is_guest:
        ctx.reply("I can't arrange access for guest and external accounts; please ask your host.")
        return None
    if speaker.directory_down or speaker.profile is None:
        ctx.reply(
            "I can't find your account in the company directory right now, so I can't arrange access. "
            "Say 'talk to a human' and a technician will help."
        )
        return None
    try:
        status = ctx.services.directory.account_status(speaker.profile)
    except DirectoryError:
        ctx.reply("I couldn't check your account in the directory; please try again in a few minutes.")
        return None
    if not status.exists or status.disabled or status.protected:
        ctx.reply(
            "I can't arrange access for this account automatically. Say 'talk to a human' and a "
            "technician will help."
        )
        return None
    return speaker.profile


def _is_member(ctx: Context, person: DirectoryPerson, group: str) -> bool:
    try:
        return ctx.services.directory.is_member(person, group)
    except DirectoryError:
        return False


def _ask_duration(ctx: Context, entry: AccessEntry) -> None:
    maximum = entry.max_seconds
    options = [s for s in _CHOICES if maximum is None or s <= maximum]
    default = entry.default_seconds
    if default is not None and default not in options:
        options.append(default)
    options = sorted(options, key=lambda s: (s != default, s))[:MAX_BUTTONS]
    buttons = [
        Button(f"access.duration:{s}", describe_duration(s) + (" (usual)" if s == default else ""))
        for s in sorted(options)
    ]
    if maximum is None:
        buttons.append(Button("access.duration:permanent", "Permanently"))
    limit = "no maximum" if maximum is None else f"at most {describe_duration(maximum)}"
    ctx.reply(
        f"{entry.name}: {entry.description}\nFor how long do you need it ({limit})? "
        "Pick one or type it, e.g. '2 days'.",
        buttons,
    )


@action("access.duration")
def on_duration(ctx: Context, value: str) -> None:
    if in_flow(ctx, FLOW, "duration"):
        _take_duration(ctx, value if value == "permanent" else f"{arguments.record_id(value) or 0}s")


@flow(FLOW, called="your access request", choices=("duration", "confirm", "choose", "no_match"))
def on_message(ctx: Context, text: str) -> None:
    step = ctx.state.step
    if step == "duration":
        _take_duration(ctx, text)
    elif step == "justification":
        _take_justification(ctx, text)
    elif step == "confirm":
        ctx.reply("Please press Confirm to send the request, or Cancel.", _confirm_buttons())
    else:
        ctx.state.end()
        start_request(ctx, text)


def _entry(ctx: Context) -> AccessEntry | None:
    access = catalog(ctx)
    entry = access.get(str(ctx.state.data.get("entry", ""))) if access else None
    if entry is None:
        ctx.state.end()
        ctx.reply("That access is not in the catalogue any more, so I've stopped. What do you need?")
    return entry


def _take_duration(ctx: Context, text: str) -> None:
    entry = _entry(ctx)
    if entry is None:
        return
    seconds = _typed_seconds(text)
    maximum = entry.max_seconds
    if seconds == 0:
        ctx.reply("Tell me how long, for example '8 hours' or '2 days'.")
        return
    if seconds is None and maximum is not None:
        ctx.reply(f"{entry.name} can't be permanent: at most {describe_duration(maximum)}.")
        return
    if seconds is not None and maximum is not None and seconds > maximum:
        ctx.reply(
            f"That's longer than allowed: {entry.name} is granted for at most {describe_duration(maximum)}."
        )
        return
    ctx.state.goto("justification", seconds=seconds)
    if entry.justification == "required":
        ctx.reply("Why do you need it? (one line for the approvers)")
    else:
        ctx.reply("Why do you need it? (optional)", [Button("access.skip", "Skip")])


def _typed_seconds(text: str) -> int | None:
    """Seconds for "2 days", "for 8h", "a week", "permanent"; 0 when it is not a duration."""
    match = _FOR.match(text.lower())
    amount = match["amount"] if match else text
    words = amount.split()
    if words and words[0] in _WORD_NUMBERS:
        amount = " ".join([_WORD_NUMBERS[words[0]], *words[1:]])
    if amount.endswith("s") and amount[:-1].isdigit():
        return int(amount[:-1]) or 0  # a button's "3600s"
    try:
        duration = parse_duration(amount)
    except ValueError:
        return 0
    return None if duration is None else int(duration.total_seconds())


@action("access.skip")
def on_skip(ctx: Context, _: str) -> None:
    if in_flow(ctx, FLOW, "justification"):
        _take_justification(ctx, "")


def _take_justification(ctx: Context, text: str) -> None:
    entry = _entry(ctx)
    if entry is None:
        return
    reason = " ".join(text.split())[:MAX_JUSTIFICATION]
    if not reason and entry.justification == "required":
        ctx.reply("A reason is required for this access: what do you need it for?")
        return
    ctx.state.goto("confirm", justification=reason)
    seconds = ctx.state.data.get("seconds")
    why = f"\nWhy: {reason}" if reason else ""
    ctx.reply(
        f"Request {entry.name} {how_long(seconds)}?{why}",
        _confirm_buttons(),
        quoted=(reason,),
    )


def _confirm_buttons() -> list[Button]:
    return [Button("access.confirm", "Confirm", "primary"), Button("access.cancel", "Cancel")]


@action("access.cancel")
def on_cancel(ctx: Context, _: str) -> None:
    if ctx.state.flow == FLOW:
        ctx.state.end()
    ctx.reply("OK, nothing requested.")


@action("access.confirm")
def on_confirm(ctx: Context, _: str) -> None:
    if not in_flow(ctx, FLOW, "confirm"):
        return
    entry = _entry(ctx)
    person = _requester(ctx) if entry else None
    if entry is None or person is None:
        ctx.state.end()
        return
    data = ctx.state.data
    request = _draft(ctx, entry, person)
    request.duration_seconds = data.get("seconds")
    request.justification = str(data.get("justification", ""))
    request.pre_existing = _is_member(ctx, person, entry.group) and not data.get("extending")
    ctx.session.add(request)
    ctx.session.flush()
    ctx.state.end()
    audit_request(ctx, request, "requested", "pending", seconds=request.duration_seconds)
    from handlers.access import decide  # the approval side builds on this module

    if entry.is_auto or _auto_approved(ctx, entry, person):
        decide.approve_without_approvers(ctx, request)
        return
    approvers = approver_emails(ctx, entry, person)
    if len(approvers) < entry.approvals_needed:
        request.status = "failed"
        audit_request(ctx, request, "no_approvers", "failed", found=len(approvers))
        ctx.reply(
            f"I couldn't find enough people to approve {entry.name} for you, so I didn't send the "
            "request. Say 'talk to a human' and a technician will sort it out."
        )
        return
    decide.ask_approvers(ctx, request, entry, person, approvers)


def _auto_approved(ctx: Context, entry: AccessEntry, person: DirectoryPerson) -> bool:
    rule = entry.auto_approve
    return rule is not None and not rule.empty and in_audience(ctx, person, rule.departments, rule.groups)


def _draft(ctx: Context, entry: AccessEntry, person: DirectoryPerson) -> AccessRequest:
    moment = now()
    return AccessRequest(
        correlation_id=uuid.uuid4().hex,
        person_email=person.email,
        person_id=person.id,
        entry_id=entry.id,
        group=entry.group,  # always the catalogue's group, never anything typed
        duration_seconds=entry.default_seconds,
        justification="",
        status="pending",
        approvals_needed=entry.approvals_needed,
        approvals=[],
        notified=[],
        decided_by="",
        reason="",
        pre_existing=False,
        created_at=moment,
        updated_at=moment,
        expires_at=moment + timedelta(hours=ctx.settings.access_request_ttl),
    )


def request_card(entry: AccessEntry, request: AccessRequest, person: DirectoryPerson, manager: str) -> Card:
    return Card(
        f"Access request: {entry.name}",
        (
            ("Who", f"{person.name} <{person.email}>"),
            ("Title", person.title),
            ("Department", person.department),
            ("Manager", manager or "—"),
            ("Access", f"{entry.name} — {entry.description}"),
            ("How long", how_long(request.duration_seconds)),
            ("Why", printable(request.justification) or "—"),
            ("Approvals", f"{len(request.approvals)} of {request.approvals_needed}"),
        ),
    )
