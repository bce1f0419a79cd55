"""Turn a resolved ticket into a knowledge-base article: the bot drafts, the technician edits, publishes.

The draft's title names the problem the way people search for it ("How to fix: Outlook asks for my
password every few minutes"; a how-to question stays a question); the body gives the symptom, then the
fix as numbered steps. A ticket is published once: asking again offers to edit the article it became.
Published articles live in the database and are searchable at once (the knowledge service rebuilds when
the articles table changes; in the background for a large knowledge base).
"""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.clock import now
from bot.messages import Button, Card
from bot.store.models import Incident, KbArticle
from handlers import arguments, tickets
from handlers.context import Context
from handlers.registry import action, flow, in_flow

FLOW = "publish"
TITLE_LENGTH = 90
FIX_PREFIX = "How to fix:"  # a drafted title's opening, left out of the article's id


_GREETING = re.compile(
    r"^\s*((hi|hello|hey|dear|good (morning|afternoon|evening))\b[^,.!:]*[,.!:]?\s*"
    r"|(urgent|help|please)\s*[:!,-]\s*)+",
    re.I,
)
_HEDGE = re.compile(r"^(i think|it seems( that)?|it looks like|for some reason|so|ok|well)\s*,?\s*", re.I)
_QUESTION = re.compile(r"^(how|what|where|why|when|which|can|could|is|are|do|does)\b", re.I)
# Not kb.articles.SENTENCE_END, which splits only before a capital, digit or quote: chat text often starts
# its sentences in lower case ("my vpn drops. it started monday").
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def draft_from_ticket(ticket: tickets.Ticket) -> tuple[str, str]:
    """A first draft: a title people would search for, and a body that says what fixed it."""
    problem = " ".join(ticket.problem.split())
    return draft_title(problem), draft_body(problem, ticket.resolution)


def draft_title(problem: str) -> str:
    """ "How to fix: <the problem>" from its first sentence, greetings and hedges dropped; a how-to
    question is kept as the question."""
    text = _HEDGE.sub("", _GREETING.sub("", problem)).strip() or problem
    first = _SENTENCE.split(text, maxsplit=1)[0].strip().rstrip(".!? ")
    first = re.sub(r"^my\s+", "", first, flags=re.I)
    first = first[:1].upper() + first[1:]
    title = f"{first}?" if _QUESTION.match(first) else f"{FIX_PREFIX} {first}"
    if len(title) > TITLE_LENGTH:
        title = title[: TITLE_LENGTH - 1].rsplit(" ", 1)[0].rstrip(",;:-") + "…"
    return title


def draft_body(problem: str, resolution: str) -> str:
    """The symptom as reported, then the technician's resolution as numbered steps an employee can follow
    (see `steps_from`), and where to turn when they do not help."""
    steps = steps_from(resolution)
    fix = "\n".join(f"{n}. {step}" for n, step in enumerate(steps, 1)) or "(no steps recorded)"
    return f"**Symptom:** {problem}\n\n**How to fix it:**\n{fix}\n\n{DRAFT_ENDING}"


DRAFT_ENDING = 'If this doesn\'t help, ask for a technician: say "talk to a human" and what you tried.'
# Where a resolution divides into steps: line breaks, sentence ends, semicolons and "then".
_STEP_BREAK = re.compile(r"\n+|(?<=[.!?])\s+|;\s*|,?\s+(?:and\s+)?then\s+|,?\s+after that,?\s+", re.I)
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)]|step \d+:?)\s*", re.I)
# A line or sentence for the desk only: internal notes, and statements about the ticket rather than the fix.
_INTERNAL = re.compile(
    r"^\s*(\[internal\]|internal\s*:|note( to self)?\s*:|fyi\b|tech note\b|private\s*:)"
    r"|\binternal note\b|\(internal\)"
    r"|^\s*(closing|closed|resolved|escalated|reassigned|assigned|merged)\b.*\b(ticket|case|incident)\b"
    r"|^\s*(user|requester|customer|caller|they|she|he)\s+(confirmed|says|said|reports?)\b"
    r"|^\s*(fixed|resolved|done|solved|works( now)?|all good|sorted)\s*[.!]*\s*$",
    re.I,
)
# Ticket numbers and the like: "(see #123)", "per ticket 45", "INC0012345".
_TICKET_REFERENCE = re.compile(
    r"\s*\(?\b(?:(?:see|per|as in|like|from|same as)\s+)?(?:(?:ticket|incident|case|request)\s*#?\d+)\)?"
    r"|\s*\(?(?:(?:see|per|as in|like|from|same as)\s+)?#\d+\)?|\s*\bINC\d+\b",
    re.I,
)
# "I removed …", "we had the user restart …", "asked them to sign in …": the step itself, imperative.
_WHO_DID_IT = re.compile(
    r"^(?:then\s+)?(?:(?:i|we)\s+(?:then\s+)?)?(?:(?:asked|told|had|got|helped)\s+(?:the\s+)?"
    r"(?:user|requester|customer|caller|them|him|her|employee)\s+(?:to\s+)?)?",
    re.I,
)
_THE_USER = re.compile(r"\b(?:the\s+)?(?:user|requester|customer|caller)(?P<s>'s)?\b", re.I)
# Past-tense verbs whose present ends in "e" (removed → remove); other "-ed" verbs just drop it.
_E_VERBS = frozenset(
    (
        "remove",
        "close",
        "change",
        "update",
        "enable",
        "disable",
        "delete",
        "configure",
        "rename",
        "replace",
        "use",
        "make",
        "create",
        "move",
        "save",
        "type",
        "restore",
        "choose",
        "re-enable",
        "reconfigure",
        "recreate",
        "relaunch",
        "retype",
        "archive",
        "activate",
        "deactivate",
        "authenticate",
        "revoke",
        "issue",
        "approve",
        "share",
        "store",
        "force",
        "require",
        "resize",
        "rotate",
        "generate",
        "locate",
        "migrate",
        "provide",
        "increase",
        "decrease",
        "release",
        "raise",
        "clone",
        "receive",
    )
)
_IRREGULAR = {
    "ran": "run",
    "set": "set",
    "reset": "reset",
    "did": "do",
    "made": "make",
    "put": "put",
    "took": "take",
    "gave": "give",
    "went": "go",
    "chose": "choose",
    "rebuilt": "rebuild",
    "reran": "rerun",
    "cleaned": "clean",
    "shut": "shut",
    "unplugged": "unplug",
    "plugged": "plug",
    "stopped": "stop",
    "dropped": "drop",
    "mapped": "map",
    "swapped": "swap",
    "logged": "log",
}


def steps_from(resolution: str) -> list[str]:
    """A technician's note ("Cleared the cache; then I restarted Outlook. Closing the ticket.") as steps an
    employee can follow ("Clear the cache", "Restart Outlook"): ticket numbers and desk-only remarks go."""
    steps = []
    for part in _STEP_BREAK.split(resolution):
        text = _LIST_MARK.sub("", part or "").strip()
        if not text or _INTERNAL.search(text):
            continue
        text = _TICKET_REFERENCE.sub("", text).strip(" ,;:-")
        step = _imperative(text)
        if step and any(ch.isalpha() for ch in step):
            steps.append(step)
    return steps


def _imperative(text: str) -> str:
    text = _WHO_DID_IT.sub("", text, count=1)
    text = _THE_USER.sub(lambda m: "your" if m["s"] else "you", text)
    first, _, rest = text.partition(" ")
    verb = _present(first)
    text = f"{verb} {rest}".strip() if rest else verb
    text = " ".join(text.split())
    if not text:
        return ""
    text = text[:1].upper() + text[1:]
    return text if text[-1] in ".!?:" else f"{text}."


def _present(word: str) -> str:
    """ "Removed" → "Remove", "restarted" → "restart"; a word that is not a past-tense verb stays."""
    lower = word.lower()
    if lower in _IRREGULAR:
        present = _IRREGULAR[lower]
    elif lower.endswith("ied") and len(lower) > 4:
        present = lower[:-3] + "y"
    elif lower.endswith("ed") and len(lower) > 4 and lower[:-1] in _E_VERBS:
        present = lower[:-1]
    elif lower.endswith("ed") and len(lower) > 4 and not lower.endswith("eed"):
        present = lower[:-2]
    else:
        return word
    return present[:1].upper() + present[1:] if word[:1].isupper() else present


@action("kb.draft")
def on_draft(ctx: Context, argument: str) -> None:
    if not ctx.speaker.is_technician:
        ctx.reply("Only service desk technicians can publish articles.")
        return
    try:
        ticket = tickets.get(ctx.session, tickets.parse_id(argument))
    except tickets.TicketError as error:
        ctx.reply(str(error))
        return
    if ticket.status not in ("resolved", "closed") or not ticket.resolution:
        ctx.reply(f"Ticket #{ticket.id} has no resolution yet; resolve it first.")
        return
    published = _published_from(ctx, ticket.id)
    if published is not None:
        ctx.reply(
            f"Ticket #{ticket.id} is already published as “{published.title}” ({published.id}). "
            "Edit that article instead?",
            [Button(f"publish.revise:{published.id}", "Edit the article", "primary"), _CANCEL],
        )
        return
    title, body = draft_from_ticket(ticket)
    ctx.state.start(FLOW, "review", ticket_id=ticket.id, title=title, body=body, question=ticket.problem)
    _show_draft(ctx)


def review_known_issue(
    ctx: Context, incident_id: int, *, title: str, body: str, questions: list[str]
) -> None:
    """The same review for a known issue drafted from an incident (handlers/incidents.py): `questions`
    are how people reported it, so the article is found the way they ask; publishing it records the
    article on the incident."""
    ctx.state.start(
        FLOW,
        "review",
        ticket_id=None,
        incident_id=incident_id,
        title=title,
        body=body,
        question=questions[0],
        questions=questions,
    )
    _show_draft(ctx)


@action("publish.revise")
def on_revise(ctx: Context, article_id: str) -> None:
    """Edit an article published from a ticket: the same review, saved over the existing article."""
    if not ctx.speaker.is_technician:
        ctx.reply("Only service desk technicians can publish articles.")
        return
    known_id = arguments.token(article_id)
    article = ctx.session.get(KbArticle, known_id) if known_id is not None else None
    if article is None:
        ctx.reply("That article no longer exists.")
        return
    ctx.state.start(
        FLOW,
        "review",
        ticket_id=article.source_ticket_id,
        title=article.title,
        body=article.body,
        question=article.questions[0] if article.questions else article.title,
        article_id=article.id,
    )
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
    existing = ctx.session.get(KbArticle, data["article_id"]) if data.get("article_id") else None
    if existing is None and data.get("ticket_id") is not None:
        existing = _published_from(ctx, int(data["ticket_id"]))
        if existing is not None:  # published meanwhile (another technician, another draft)
            ctx.state.end()
            ctx.reply(f"Ticket #{data['ticket_id']} was already published as {existing.id}; nothing changed.")
            return
    if existing is not None:
        existing.title, existing.body, existing.updated_at = data["title"], data["body"], now()
        ctx.state.end()
        ctx.reply(
            f"Updated “{existing.title}” ({existing.id}). The bot answers with the new text from now on."
        )
        return
    incident = ctx.session.get(Incident, data["incident_id"]) if data.get("incident_id") else None
    article = KbArticle(
        id=_article_id(ctx, data["title"]),
        title=data["title"],
        body=data["body"],
        tags=["known-issue"] if incident is not None else ["from-ticket"],
        questions=[question[:300] for question in data.get("questions") or [data["question"]]],
        links=[],
        author_email=ctx.speaker.email,
        source_ticket_id=int(data["ticket_id"]) if data.get("ticket_id") is not None else None,
        created_at=now(),
        updated_at=now(),
    )
    ctx.session.add(article)
    if incident is not None:
        incident.article_id = article.id
    ctx.state.end()
    ctx.reply(f"Published “{article.title}” ({article.id}). The bot answers with it from now on.")


@action("publish.cancel")
def on_cancel(ctx: Context, _: str) -> None:
    if in_flow(ctx, FLOW):
        ctx.state.end()
        ctx.reply("Draft discarded.")


def _show_draft(ctx: Context) -> None:
    data = ctx.state.data
    heading = "Draft article:"
    if data.get("incident_id"):
        heading = f"Draft known issue from incident #{data['incident_id']}:"
    elif data.get("ticket_id"):
        heading = f"Draft article from ticket #{data['ticket_id']}:"
    ctx.reply(
        heading,
        _review_buttons(),
        card=Card(data["title"], (("Body", data["body"]),)),
    )


_CANCEL = Button("publish.cancel", "Cancel")


def _review_buttons() -> list[Button]:
    return [
        Button("publish.confirm", "Publish", "primary"),
        Button("publish.edit:title", "Edit title"),
        Button("publish.edit:body", "Edit body"),
        _CANCEL,
    ]


def _published_from(ctx: Context, ticket_id: int) -> KbArticle | None:
    return ctx.session.scalars(select(KbArticle).where(KbArticle.source_ticket_id == ticket_id)).first()


def _article_id(ctx: Context, title: str) -> str:
    slug = (
        re.sub(r"[^a-z0-9]+", "-", title.lower().removeprefix(FIX_PREFIX.lower())).strip("-")[:60]
        or "article"
    )
    candidate, n = slug, 2
    while ctx.session.get(KbArticle, candidate) is not None:
        candidate, n = f"{slug}-{n}", n + 1
    return candidate
