"""The digest as people read it: the text for chat (and email), its buttons, the manager's "digest"
command, and the scheduled post to the managers and the digest channel (exactly once per day)."""

from __future__ import annotations

import contextlib
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite

from automations.directory import DirectoryError
from bot.clock import now
from bot.messages import Button
from bot.store.models import DigestPost
from handlers import audit, digest, digest_chart, technician
from handlers.context import Context
from handlers.registry import action

BUTTONS = (Button("digest.queue", "Open the queue", "primary"), Button("digest.gaps", "Knowledge gaps"))
NO_DATA = "no data yet"
# "digest", "digest 7", "digest week", "how is the desk doing (this week | today | yesterday)?"
_ASK = re.compile(
    r"^\s*(?:(?:the\s+)?digest"
    r"(?:\s+(?P<days>\d{1,3})(?:\s*days?)?|\s+(?P<span1>today|yesterday|week|this week))?"
    r"|how(?:'s| is| are)\s+(?:the\s+)?(?:desk|we|things|service desk)\s+doing"
    r"(?:\s+(?P<span2>today|yesterday|this week|last week))?)\s*[?.!]*\s*$",
    re.I,
)
MAX_DAYS = 366


# --- asking in chat --------------------------------------------------------------------------------------


def asked_period(text: str, moment: datetime, zone: str) -> digest.Period | None:
    """The period a manager's question asks for; None when it is not a digest question."""
    match = _ASK.match(text)
    if not match:
        return None
    today = moment.astimezone(ZoneInfo(zone)).date()
    span = (match["span1"] or match["span2"] or "").lower()
    if match["days"]:
        return digest.period(today - timedelta(days=1), min(int(match["days"]), MAX_DAYS), zone)
    if span == "today":
        return digest.period(today, 1, zone)
    if span in ("week", "this week"):
        return digest.period(today, 7, zone)  # the last 7 days, today included
    if span == "last week":
        return digest.period(today - timedelta(days=1), 7, zone)
    return digest.period(today - timedelta(days=1), 1, zone)


def try_command(ctx: Context, text: str) -> bool:
    """A manager's "digest" / "how is the desk doing this week?": the digest for that period, to them."""
    span = asked_period(text, now(), ctx.settings.timezone)
    if span is None:
        return False
    text_, chart = build(ctx, span)
    ctx.reply(text_, BUTTONS, attachment=str(chart) if chart else "")
    return True


@action("digest.queue")
def open_queue(ctx: Context, _argument: str) -> None:
    if not _may_see(ctx):
        ctx.reply("The queue is for the service desk and its managers.")
        return
    technician.show_queue(ctx)


@action("digest.gaps")
def open_gaps(ctx: Context, _argument: str) -> None:
    if not _may_see(ctx):
        ctx.reply("The knowledge gaps are for the service desk and its managers.")
        return
    technician.show_kb_report(ctx)


def _may_see(ctx: Context) -> bool:
    return ctx.speaker.is_manager or ctx.speaker.is_technician


# --- the scheduled post ----------------------------------------------------------------------------------


def post_digest(ctx: Context) -> None:
    """At FRONTDESK_DIGEST_TIME on FRONTDESK_DIGEST_DAYS: yesterday's digest to each manager and the digest
    channel, once per day however many processes run the job (the day's digest_posts row decides)."""
    settings = ctx.settings
    local = now().astimezone(ZoneInfo(settings.timezone))
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    if local.strftime("%a").lower() not in settings.digest_days:
        return
    if (local.hour, local.minute) < (hour, minute):
        return
    if not _claim_day(ctx, local.date().isoformat()):
        return  # posted already today (here or by another process)
    span = digest.period(local.date() - timedelta(days=1), 1, settings.timezone)
    text, chart = build(ctx, span)
    recipients = recipients_of(ctx)
    topic, attachment = f"digest:{span.last.isoformat()}", str(chart) if chart else ""
    for email in recipients:
        ctx.send(email, text, BUTTONS, topic=topic, attachment=attachment)
    if settings.digest_channel:
        ctx.send("#" + settings.digest_channel, text, BUTTONS, topic=topic, attachment=attachment)
    audit.record(
        ctx.session,
        actor=ctx.speaker.email,
        action="digest.posted",
        target=span.last.isoformat(),
        result="done",
        correlation_id=f"digest-{span.last.isoformat()}",
        recipients=len(recipients),
        chart=str(chart) if chart else "",
    )


def _claim_day(ctx: Context, day: str) -> bool:
    """Insert the day's row unless it exists; True only for the process whose insert took it (the row
    comes back from RETURNING; ON CONFLICT DO NOTHING returns none, and waits for a concurrent insert)."""
    dialect = ctx.session.get_bind().dialect.name
    values = {"day": day, "posted_at": now(), "holder": "frontdesk"}
    table = cast(Table, DigestPost.__table__)
    statement: Any
    if dialect == "postgresql":
        statement = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    else:
        statement = insert(table).values(**values)
    return ctx.session.execute(statement.returning(table.c.day)).first() is not None


def recipients_of(ctx: Context) -> list[str]:
    """FRONTDESK_DIGEST_RECIPIENTS, or else the managers (FRONTDESK_MANAGERS and the manager group)."""
    settings = ctx.settings
    if settings.digest_recipients:
        return list(settings.digest_recipients)
    emails = list(settings.managers)
    if settings.manager_group:
        # Directory down: the listed managers still get it; the group's miss today's, not every one.
        with contextlib.suppress(DirectoryError):
            emails += [p.email.lower() for p in ctx.services.directory.group_members(settings.manager_group)]
    return sorted(dict.fromkeys(emails))


# --- the text --------------------------------------------------------------------------------------------


def build(ctx: Context, span: digest.Period) -> tuple[str, Path | None]:
    """The figures, their chart, and the text that carries both."""
    numbers = digest.figures(ctx.session, ctx.settings, span)
    chart = chart_for(ctx.settings.digest_chart_dir, numbers)
    return render(numbers), chart


def chart_for(folder: Path | None, numbers: dict[str, Any]) -> Path | None:
    try:
        name = f"digest-{numbers['period']['first']}-{numbers['period']['last']}"
        return digest_chart.draw(numbers["trend"], digest_chart.chart_dir(folder), name)
    except (ImportError, OSError):
        return None  # the text carries every figure; a missing picture must not stop the digest


def render(numbers: dict[str, Any]) -> str:
    """The compact text of the digest (chat, email, console); its chart travels as the attachment."""
    period = numbers["period"]
    title = period["last"] if period["days"] == 1 else f"{period['first']} to {period['last']}"
    lines = [f"Service desk digest — {title} ({numbers['timezone']})"]
    lines += _requests_lines(numbers)
    lines += _kb_lines(numbers["kb"])
    lines += _ticket_lines(numbers["tickets"])
    lines += _satisfaction_lines(numbers["satisfaction"])
    lines.append(f"Approvals waiting more than a day: {numbers['approvals_waiting']}")
    lines.append(f"Access grants ending within a day: {_or_no_data(numbers['grants_expiring'])}")
    lines.append(_incident_line(numbers["incidents"]))
    lines.append("Last 7 days (requests / bot resolved / deflection): " + _trend_line(numbers["trend"]))
    return "\n".join(lines)


def _requests_lines(numbers: dict[str, Any]) -> list[str]:
    requests, automation = numbers["requests"], numbers["automation"]
    categories = ", ".join(f"{k} {v}" for k, v in requests["tickets"].items()) or "none"
    return [
        f"Requests: tickets {sum(requests['tickets'].values())} ({categories}); resets {requests['resets']}; "
        f"unlocks {requests['unlocks']}; questions {requests['kb_questions']}; access {requests['access']}",
        f"Resolved by the bot: {automation['resolved']} (resets {automation['resets_done']}, unlocks "
        f"{automation['unlocks_done']}, answers {automation['kb_answers']}, "
        f"grants {automation['grants_done']}) — about {_hours(automation['minutes_saved'])} of technician "
        "time saved",
    ]


def _kb_lines(kb: dict[str, Any]) -> list[str]:
    lines = [
        f"Questions: {kb['asked']} asked, {kb['answered']} answered, {kb['confirmed_helpful']} confirmed "
        f"helpful, {kb['not_helpful']} not helpful; honest deflection {_percent(kb['deflection_rate'])}"
    ]
    if kb["top_unanswered"]:
        lines.append("Nobody could answer:")
        for question in kb["top_unanswered"]:
            times = f" (×{question['times']})" if question["times"] > 1 else ""
            lines.append(f"  • {question['text']}{times}")
    return lines


def _ticket_lines(t: dict[str, Any]) -> list[str]:
    backlog = ", ".join(f"{label} {count}" for label, count in t["backlog"].items())
    breaches = t["sla_breaches"]
    return [
        f"Tickets: {t['opened']} opened, {t['resolved']} resolved, {t['unclaimed']} unclaimed; "
        f"backlog {sum(t['backlog'].values())} ({backlog})",
        f"SLA breaches: first response {breaches['first_response']}, resolution {breaches['resolution']}; "
        f"median first response {_minutes(t['median_first_response_minutes'])}, resolution "
        f"{_minutes(t['median_resolution_minutes'])}; first-contact resolution "
        f"{t['first_contact_resolved']} ({_percent(t['first_contact_rate'])})",
    ]


def _satisfaction_lines(s: dict[str, Any]) -> list[str]:
    if not s["count"]:
        return ["Satisfaction: no ratings"]
    lines = [f"Satisfaction: {s['average']:.1f}/5 from {s['count']} rating{'s' if s['count'] != 1 else ''}"]
    lines += [
        f"  • #{low['ticket']} rated {low['rating']}" + (f": {low['comment']}" if low["comment"] else "")
        for low in s["low"]
    ]
    return lines


def _trend_line(trend: list[dict[str, Any]]) -> str:
    return " · ".join(
        f"{row['day'][5:]} {row['requests']}/{row['bot_resolved']}/{_percent(row['deflection_rate'])}"
        for row in trend
    )


def _incident_line(incidents: dict[str, Any] | None) -> str:
    if incidents is None:
        return f"Open incidents: {NO_DATA}"
    titles = "; ".join(f"#{i['id']} {i['title']}" for i in incidents["titles"])
    period = f" ({incidents['declared']} declared, {incidents['resolved']} resolved in the period)"
    return f"Open incidents: {incidents['open'] or 'none'}{period}" + (f": {titles}" if titles else "")


def _or_no_data(value: object) -> str:
    return NO_DATA if value is None else str(value)


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{round(rate * 100)}%"


def _minutes(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 120:
        return f"{value:g} min"
    return f"{value / 60:.1f} h"


def _hours(minutes: int) -> str:
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"
