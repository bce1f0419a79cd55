"""Incidents: a widespread problem technicians declared from an alert (handlers/problems.py detects them).

Declaring takes the alert's reports and their tickets into the incident, titled after the cluster's most
typical report, and tells every reporter that technicians are on it. While it is open, a new reporter of
the same problem is told it is known and linked instead of getting a ticket (they can still insist).
Technicians record the root cause, link or unlink tickets, and resolve it with a resolution text:
its still-open tickets are resolved with it, and every linked person is told once — resolving is a
conditional update, so a second press (or a second technician) changes and sends nothing. A resolved
incident can be published as a known-issue article through the usual review (handlers/publish.py).

Commands (technicians): `incidents`, `incident N`, `incident N cause TEXT`, `incident N resolve TEXT`,
`incident N link T`, `incident N unlink T`, `incident N publish`. The card's buttons do the same; Root
cause and Resolve take the technician's next message. Every step is audited.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update

from bot.clock import now
from bot.messages import Button
from bot.redact import hide_secrets
from bot.store.models import Incident, ProblemAlert, ProblemReport, Ticket
from handlers import arguments, audit, conversations, incident_views, new_ticket, problems, publish, tickets
from handlers.context import Context
from handlers.registry import action, flow, in_flow
from handlers.ticket_views import OPEN_STATUSES, rating_buttons

FLOW = "incident_text"
COMPOSE_TTL = timedelta(minutes=10)  # as a technician's pending reply (handlers/technician.py)
LISTED = 10  # resolved incidents listed under the open ones
_LIST = re.compile(r"^\s*incidents\s*$", re.I)
_COMMAND = re.compile(
    r"^\s*incident\s+#?(?P<id>\d+)(?:\s+(?P<verb>cause|resolve|link|unlink|publish)\b\s*(?P<rest>.*))?$",
    re.I | re.S,
)
_PROMPTS = {
    "cause": "Your next message will be the root cause of incident #{id} (for the desk and the known issue)",
    "resolve": "Your next message will be the resolution of incident #{id}: every linked person reads it",
}


class IncidentError(tickets.TicketError):
    """A refusal to show instead of acting (handled by `tickets.guarded`)."""


def is_command(text: str) -> bool:
    return bool(_LIST.match(text) or _COMMAND.match(text))


def try_command(ctx: Context, text: str) -> bool:
    """Run `text` as an incident command; False when it is not one. Non-technicians are refused."""
    if not is_command(text):
        return False
    if not ctx.speaker.is_technician:
        ctx.reply(
            tickets.ROLE_UNVERIFIED
            if tickets.role_unverifiable(ctx)
            else "That's a technician command, for the service desk. Tell me what's wrong instead."
        )
        return True
    match = _COMMAND.match(text)
    if match is None:
        show_list(ctx)
        return True
    verb, rest = (match["verb"] or "show").lower(), (match["rest"] or "").strip()
    tickets.guarded(ctx, lambda: _COMMANDS[verb](ctx, _incident(ctx, match["id"]), rest))
    return True


def show_list(ctx: Context) -> None:
    statement = select(Incident).order_by(Incident.status != "open", Incident.id.desc())
    incidents = [i for i in ctx.session.scalars(statement.limit(LISTED + 20))]
    open_ones = [i for i in incidents if i.status == "open"]
    resolved = [i for i in incidents if i.status != "open"][:LISTED]
    if not incidents:
        ctx.reply("No incidents. Alerts about similar reports appear in triage.")
        return
    lines = [f"Open incidents: {len(open_ones)}", *(incident_views.line(ctx.session, i) for i in open_ones)]
    if resolved:
        lines += ["Recently resolved:", *(incident_views.line(ctx.session, i) for i in resolved)]
    ctx.reply(
        "\n".join(lines),
        [Button(f"incident.show:{i.id}", f"Incident #{i.id}") for i in open_ones[:5]],
        quoted=tuple(i.title for i in incidents),
    )


def show(ctx: Context, incident: Incident, _: str = "") -> None:
    ctx.reply(
        incident_views.headline(incident),
        incident_views.buttons(incident),
        card=incident_views.card(ctx.session, incident),
        quoted=incident_views.typed_parts(ctx.session, incident),
    )


# --- from an alert --------------------------------------------------------------------------------------


@action("incident.declare")
def on_declare(ctx: Context, argument: str) -> None:
    tickets.guarded(ctx, lambda: declare(ctx, _alert(ctx, argument)))


def declare(ctx: Context, alert: ProblemAlert) -> Incident:
    """The alert's cluster becomes an incident (first press wins); its reporters are told."""
    if not _decide(ctx, alert, "declared"):
        raise IncidentError(_already(ctx, alert))
    reports = problems.alert_reports(ctx.session, alert.id)
    incident = Incident(
        status="open",
        title=problems.typical_title(ctx.session, reports),
        alert_id=alert.id,
        declared_by=ctx.speaker.email,
        declared_at=now(),
    )
    ctx.session.add(incident)
    ctx.session.flush()
    for report in reports:
        report.incident_id = incident.id
        if report.ticket_id is not None:
            problems.link_ticket(ctx, report.ticket_id, incident)
    _audit(ctx, incident, "incident.declare", reports=len(reports))
    for email in incident_views.linked_people(ctx.session, incident.id):
        ctx.send(
            email,
            f"Technicians are working on a problem that affects several people, including yours: "
            f"{incident.title}. I'll tell you when it's fixed.",
            quoted=(incident.title,),
        )
    refresh_card(ctx, incident)
    ctx.reply(f"Incident #{incident.id} declared: {incident.title}", incident_views.buttons(incident))
    return incident


@action("incident.dismiss")
def on_dismiss(ctx: Context, argument: str) -> None:
    def run() -> None:
        alert = _alert(ctx, argument)
        if not _decide(ctx, alert, "dismissed"):
            raise IncidentError(_already(ctx, alert))
        audit.record(
            ctx.session,
            actor=ctx.speaker.email,
            action="incident.dismiss",
            target=f"alert:{alert.id}",
            result="dismissed",
            correlation_id=f"alert:{alert.id}",
        )
        minutes = ctx.settings.incident_window_minutes
        ctx.update(
            "#" + ctx.settings.triage_channel,
            problems.alert_topic(alert.id),
            f"Similar reports marked not related by {ctx.speaker.email}; more like them won't alert again "
            f"while they keep coming within {minutes} minutes of each other.",
        )
        ctx.reply("Marked not related.")

    tickets.guarded(ctx, run)


def _decide(ctx: Context, alert: ProblemAlert, status: str) -> bool:
    """open → `status`, atomically: of two technicians pressing at once, one decides."""
    changed = ctx.session.execute(
        update(ProblemAlert)
        .where(ProblemAlert.id == alert.id, ProblemAlert.status == "open")
        .values(status=status, decided_by=ctx.speaker.email, updated_at=now())
    )
    ctx.session.refresh(alert)
    return bool(getattr(changed, "rowcount", 0))


def _already(ctx: Context, alert: ProblemAlert) -> str:
    if alert.status == "declared":
        incident = ctx.session.scalars(select(Incident).where(Incident.alert_id == alert.id)).first()
        number = f" #{incident.id}" if incident else ""
        return f"{alert.decided_by} already declared it incident{number}."
    return f"{alert.decided_by} already marked these reports not related."


# --- working an incident --------------------------------------------------------------------------------


def note_cause(ctx: Context, incident: Incident, text: str) -> None:
    if not text:
        _compose(ctx, "cause", incident)
        return
    incident.root_cause = hide_secrets(text)
    _audit(ctx, incident, "incident.root_cause")
    refresh_card(ctx, incident)
    ctx.reply(f"Root cause recorded on incident #{incident.id}.")


def resolve(ctx: Context, incident: Incident, text: str) -> None:
    """Resolve once; its open tickets with it; every linked person told once."""
    if not text:
        _compose(ctx, "resolve", incident)
        return
    resolution, moment = hide_secrets(text), now()
    changed = ctx.session.execute(
        update(Incident)
        .where(Incident.id == incident.id, Incident.status == "open")
        .values(status="resolved", resolution=resolution, resolved_by=ctx.speaker.email, resolved_at=moment)
    )
    ctx.session.refresh(incident)
    if not getattr(changed, "rowcount", 0):
        raise IncidentError(f"Incident #{incident.id} is already resolved; nobody was told again.")
    resolved = _resolve_tickets(ctx, incident)
    people = incident_views.linked_people(ctx.session, incident.id)
    for email in people:
        _tell_fixed(ctx, incident, email, [t for t in resolved if t.requester_email == email])
    _audit(ctx, incident, "incident.resolve", people=len(people), tickets=len(resolved))
    refresh_card(ctx, incident)
    ctx.reply(
        f"Incident #{incident.id} resolved; {len(people)} people told, {len(resolved)} tickets resolved.",
        incident_views.buttons(incident),
    )


def _resolve_tickets(ctx: Context, incident: Incident) -> list[Ticket]:
    """The incident's still-open tickets are resolved with its resolution (their requesters are told in
    the incident's message, not once more per ticket)."""
    resolved = []
    for ticket in incident_views.linked_tickets(ctx.session, incident.id):
        if ticket.status not in OPEN_STATUSES:
            continue
        ticket.status, ticket.resolved_at = "resolved", incident.resolved_at
        ticket.resolution = f"Fixed with incident #{incident.id}: {incident.resolution}"
        ticket.assignee_email = ticket.assignee_email or ctx.speaker.email
        tickets.record_event(ctx, ticket, "resolved", ticket.resolution, {"incident": incident.id})
        conversations.unfollow_ticket(ctx.session, ticket.requester_email, ticket.id)
        resolved.append(ticket)
    return resolved


def _tell_fixed(ctx: Context, incident: Incident, email: str, resolved: list[Ticket]) -> None:
    yours = "".join(f" Your ticket #{t.id} is resolved with it." for t in resolved)
    rate = " How did we do? Rate the help from 1 (poor) to 5 (great)." if len(resolved) == 1 else ""
    ctx.send(
        email,
        f"Fixed: {incident.title}. {incident.resolution}{yours}{rate}",
        rating_buttons(resolved[0].id) if len(resolved) == 1 else (),
        ticket=resolved[0].id if len(resolved) == 1 else None,
        quoted=(incident.title, incident.resolution),
    )


def link_ticket(ctx: Context, incident: Incident, text: str) -> None:
    ticket = tickets.get(ctx.session, tickets.parse_id(text or "?"))
    if ticket.incident_id == incident.id:
        raise IncidentError(f"Ticket #{ticket.id} is already part of incident #{incident.id}.")
    if incident.status != "open":
        raise IncidentError(f"Incident #{incident.id} is resolved; link tickets to an open incident.")
    problems.link_ticket(ctx, ticket.id, incident)
    _audit(ctx, incident, "incident.link", ticket=ticket.id)
    ctx.send(
        ticket.requester_email,
        f"Your ticket #{ticket.id} is part of a known problem: {incident.title}. Technicians are on it; "
        "I'll tell you when it's fixed.",
        ticket=ticket.id,
        quoted=(incident.title,),
    )
    refresh_card(ctx, incident)
    ctx.reply(f"Ticket #{ticket.id} linked to incident #{incident.id}.")


def unlink_ticket(ctx: Context, incident: Incident, text: str) -> None:
    """Not part of it after all: the ticket, and the report it came from, leave the incident."""
    ticket = tickets.get(ctx.session, tickets.parse_id(text or "?"))
    if ticket.incident_id != incident.id:
        raise IncidentError(f"Ticket #{ticket.id} is not part of incident #{incident.id}.")
    ticket.incident_id = None
    for report in ctx.session.scalars(select(ProblemReport).where(ProblemReport.ticket_id == ticket.id)):
        report.incident_id = None
    tickets.record_event(ctx, ticket, "incident_unlinked", "", {"incident": incident.id})
    tickets.refresh_card(ctx, ticket)
    _audit(ctx, incident, "incident.unlink", ticket=ticket.id)
    refresh_card(ctx, incident)
    ctx.reply(f"Ticket #{ticket.id} is no longer part of incident #{incident.id}.")


def publish_known_issue(ctx: Context, incident: Incident, _: str = "") -> None:
    """Draft an article from the incident (title, root cause, resolution) for the usual review."""
    if incident.status == "open":
        raise IncidentError(f"Resolve incident #{incident.id} first: the article says how it was fixed.")
    if incident.article_id:
        ctx.reply(
            f"Incident #{incident.id} is already published as {incident.article_id}. Edit that article?",
            [Button(f"publish.revise:{incident.article_id}", "Edit the article", "primary")],
        )
        return
    steps = publish.steps_from(incident.resolution) or [incident.resolution]
    body = (
        f"**Symptom:** {incident.title}\n\n**Cause:** {incident.root_cause or 'not recorded'}\n\n"
        "**Fix or workaround:**\n"
        + "\n".join(f"{n}. {step}" for n, step in enumerate(steps, 1))
        + f"\n\n{publish.DRAFT_ENDING}"
    )
    reported = ctx.session.scalars(select(ProblemReport.text).where(ProblemReport.incident_id == incident.id))
    questions = list(dict.fromkeys([incident.title, *reported]))[:10]
    _audit(ctx, incident, "incident.publish_draft")
    publish.review_known_issue(
        ctx, incident.id, title=publish.draft_title(incident.title), body=body, questions=questions
    )


_COMMANDS: dict[str, Callable[[Context, Incident, str], None]] = {
    "show": show,
    "cause": note_cause,
    "resolve": resolve,
    "link": link_ticket,
    "unlink": unlink_ticket,
    "publish": publish_known_issue,
}


def _incident_action(verb: str) -> Callable[[Context, str], None]:
    def handle(ctx: Context, argument: str) -> None:
        def run() -> None:
            tickets.require_technician(ctx)
            _COMMANDS[verb](ctx, _incident(ctx, argument), "")

        tickets.guarded(ctx, run)

    return handle


for _verb in ("show", "cause", "resolve", "publish"):
    action(f"incident.{_verb}")(_incident_action(_verb))


def _compose(ctx: Context, purpose: str, incident: Incident) -> None:
    ctx.state.start(FLOW, purpose, incident_id=incident.id, since=now().isoformat())
    minutes = int(COMPOSE_TTL.total_seconds() // 60)
    ctx.reply(
        _PROMPTS[purpose].format(id=incident.id)
        + f" — type `cancel` to stop. (This waits {minutes} minutes.)",
        [Button("incident.cancel", "Cancel")],
    )


@flow(FLOW)
def on_text(ctx: Context, text: str) -> None:
    from handlers import technician  # here: technician runs these commands too, so it imports this module

    purpose, incident_id = ctx.state.step, str(ctx.state.data.get("incident_id", ""))
    since = str(ctx.state.data.get("since", ""))
    ctx.state.end()
    if technician.is_command(text):  # a command is a command in every mode, as in technician's compose
        ctx.reply(f"(I dropped the pending {purpose} for incident #{incident_id} and ran your command.)")
        technician.try_command(ctx, text)
        return
    if _expired(since):  # a resolution is read by everyone linked: never from a prompt left long ago
        ctx.reply(
            f"Your pending {purpose} for incident #{incident_id} expired, so I did not use what you typed. "
            f"Say `incident {incident_id} {purpose} TEXT`."
        )
        return

    def run() -> None:
        tickets.require_technician(ctx)
        _COMMANDS[purpose](ctx, _incident(ctx, incident_id), text.strip())

    tickets.guarded(ctx, run)


@action("incident.cancel")
def on_cancel(ctx: Context, _: str) -> None:
    if in_flow(ctx, FLOW):
        ctx.state.end()
        ctx.reply("Cancelled.")


# --- for the person who reported it ----------------------------------------------------------------------


@action("incident.own_ticket")
def on_own_ticket(ctx: Context, argument: str) -> None:
    """Told their problem is a known one, someone still wants a ticket of their own: they get it (linked
    to the incident, so it is resolved with it)."""
    report_id = arguments.record_id(argument)
    report = ctx.session.get(ProblemReport, report_id) if report_id is not None else None
    if report is None or report.person_email != ctx.speaker.email:
        ctx.reply("I can't find that report any more. Tell me what's wrong and I'll help.")
        return
    if report.ticket_id is not None:
        ctx.reply(f"You already have ticket #{report.ticket_id} for it.", ticket=report.ticket_id)
        return
    new_ticket.start(ctx, problem=report.text, check_incidents=False, report_id=report.id)


# --- helpers ----------------------------------------------------------------------------------------------


def _expired(since: str) -> bool:
    try:
        return now() - datetime.fromisoformat(since) > COMPOSE_TTL
    except ValueError:
        return True


def refresh_card(ctx: Context, incident: Incident) -> None:
    """The incident's card in triage: the alert's message, replaced in place at every change."""
    topic = problems.alert_topic(incident.alert_id) if incident.alert_id else f"incident:{incident.id}"
    ctx.update(
        "#" + ctx.settings.triage_channel,
        topic,
        incident_views.headline(incident),
        incident_views.buttons(incident),
        card=incident_views.card(ctx.session, incident),
        quoted=incident_views.typed_parts(ctx.session, incident),
    )


def _incident(ctx: Context, argument: str) -> Incident:
    tickets.require_technician(ctx)
    incident_id = arguments.record_id(argument.strip().removeprefix("#"))
    incident = ctx.session.get(Incident, incident_id) if incident_id is not None else None
    if incident is None:
        raise IncidentError(f"There is no incident #{arguments.bounded_text(argument[:20]) or ''}.")
    return incident


def _alert(ctx: Context, argument: str) -> ProblemAlert:
    tickets.require_technician(ctx)
    alert_id = arguments.record_id(argument)
    alert = ctx.session.get(ProblemAlert, alert_id) if alert_id is not None else None
    if alert is None:
        raise IncidentError("That alert no longer exists.")
    return alert


def _audit(ctx: Context, incident: Incident, action_name: str, **detail: object) -> None:
    audit.record(
        ctx.session,
        actor=ctx.speaker.email,
        action=action_name,
        target=f"incident:{incident.id}",
        result="ok",
        correlation_id=f"incident:{incident.id}",
        **detail,
    )
