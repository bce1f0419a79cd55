"""Turn a resolved ticket into a knowledge-base article: the bot drafts, the technician edits, publishes.

The draft's title is the problem as a question; the body is the resolution, with the problem as
context. Published articles live in the database and are searchable at once (the knowledge service
rebuilds when the articles table changes).
"""

from __future__ import annotations

import re

from bot.clock import now
from bot.messages import Button, Card
from bot.store.models import KbArticle
from handlers import tickets
from handlers.context import Context
from handlers.registry import action, flow, in_flow

FLOW = "publish"
TITLE_LENGTH = 90


def draft_from_ticket(ticket: tickets.Ticket) -> tuple[str, str]:
    """A first draft: a title people would search for, and a body that says what fixed it."""
    problem = " ".join(ticket.problem.split())
    first_sentence = re.split(r"(?<=[.!?])\s", problem, maxsplit=1)[0].rstrip(".!? ")
    title = first_sentence[:1].upper() + first_sentence[1:]
    if len(title) > TITLE_LENGTH:
        title = title[: TITLE_LENGTH - 1].rsplit(" ", 1)[0] + "…"
    body = f"**Problem:** {problem}\n\n**What fixed it:** {ticket.resolution.strip()}"
    return title, body


@action("kb.draft")
def on_draft(ctx: Context, argument: str) -> None:
    if not ctx.speaker.is_technician:
        ctx.reply("Only service desk technicians can publish articles.")
        return
    if not argument.isdigit():
        ctx.reply("That button does not name a ticket.")
        return
    try:
        ticket = tickets.get(ctx.session, int(argument))
    except tickets.TicketError as error:
        ctx.reply(str(error))
        return
    if ticket.status not in ("resolved", "closed") or not ticket.resolution:
        ctx.reply(f"Ticket #{ticket.id} has no resolution yet; resolve it first.")
        return
    title, body = draft_from_ticket(ticket)
    ctx.state.start(FLOW, "review", ticket_id=ticket.id, title=title, body=body, question=ticket.problem)
    _show_draft(ctx)


@flow(FLOW)
def on_text(ctx: Context, text: str) -> None:
    step = ctx.state.step
    if step in ("title", "body"):
        ctx.state.goto("review", **{step: text.strip()})
        _show_draft(ctx)
    else:
        ctx.reply("Choose Publish, Edit title, Edit body or Cancel.", _review_buttons())


@action("publish.edit")
def on_edit(ctx: Context, part: str) -> None:
    if in_flow(ctx, FLOW, "review") and part in ("title", "body"):
        ctx.state.goto(part)
        ctx.reply(f"Send the new {part} (the whole of it).", [Button("publish.cancel", "Cancel")])


@action("publish.confirm")
def on_publish(ctx: Context, _: str) -> None:
    if not in_flow(ctx, FLOW, "review"):
        return
    data = ctx.state.data
    article = KbArticle(
        id=_article_id(ctx, data["title"]),
        title=data["title"],
        body=data["body"],
        tags=["from-ticket"],
        questions=[data["question"][:300]],
        links=[],
        author_email=ctx.speaker.email,
        source_ticket_id=int(data["ticket_id"]),
        created_at=now(),
        updated_at=now(),
    )
    ctx.session.add(article)
    ctx.state.end()
    ctx.reply(f"Published “{article.title}” ({article.id}). The bot answers with it from now on.")


@action("publish.cancel")
def on_cancel(ctx: Context, _: str) -> None:
    if in_flow(ctx, FLOW):
        ctx.state.end()
        ctx.reply("Draft discarded.")


def _show_draft(ctx: Context) -> None:
    data = ctx.state.data
    ctx.reply(
        f"Draft article from ticket #{data['ticket_id']}:",
        _review_buttons(),
        card=Card(data["title"], (("Body", data["body"]),)),
    )


def _review_buttons() -> list[Button]:
    return [
        Button("publish.confirm", "Publish", "primary"),
        Button("publish.edit:title", "Edit title"),
        Button("publish.edit:body", "Edit body"),
        Button("publish.cancel", "Cancel"),
    ]


def _article_id(ctx: Context, title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "article"
    candidate, n = slug, 2
    while ctx.session.get(KbArticle, candidate) is not None:
        candidate, n = f"{slug}-{n}", n + 1
    return candidate
