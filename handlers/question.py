"""Questions: answer from the knowledge base when it truly knows, step aside when it does not.

Every question is recorded with what became of it (answered, confirmed helpful, not helpful, escalated),
which is what the digest's deflection figures and the knowledge-gap list are made from. Only the
"That solved it" button confirms an answer; silence proves nothing.
"""

from __future__ import annotations

from typing import Any

from bot.clock import now
from bot.messages import Button
from bot.store.models import KbExample, KbQuestion
from handlers import new_ticket
from handlers.context import Context
from handlers.registry import action

PASSAGE_LIMIT = 700


def answer(ctx: Context, text: str) -> None:
    """Look the question up; answer with the best article, or offer a ticket."""
    question = KbQuestion(
        person_email=ctx.speaker.email,
        text=text.strip(),
        outcome="unanswered",
        tried_articles=[],
        created_at=now(),
        updated_at=now(),
    )
    ctx.session.add(question)
    ctx.session.flush()
    result = ctx.services.knowledge(ctx.session).search(question.text)
    if result.answer is None:
        _offer_ticket(ctx, question, "I don't have an article that answers that.")
        return
    _present(ctx, question, result.answer, first=True)


@action("kb.solved")
def on_solved(ctx: Context, argument: str) -> None:
    question = _own_question(ctx, argument)
    if question is None or question.article_id is None:
        return
    if question.outcome == "helpful":
        ctx.reply("Thanks, already noted.")
        return
    question.outcome, question.updated_at = "helpful", now()
    # A confirmed phrasing teaches the article a new way people ask for it.
    ctx.session.add(KbExample(article_id=question.article_id, text=question.text, created_at=now()))
    ctx.reply("Great, glad that helped! Anything else?")


@action("kb.unhelpful")
def on_unhelpful(ctx: Context, argument: str) -> None:
    question = _own_question(ctx, argument)
    if question is None or question.article_id is None:
        return
    if question.outcome not in ("answered", "not_helpful"):
        ctx.reply("Noted.")
        return
    question.outcome, question.updated_at = "not_helpful", now()
    result = ctx.services.knowledge(ctx.session).search(
        question.text, exclude=frozenset(question.tried_articles)
    )
    if result.answer is not None:
        _present(ctx, question, result.answer, first=False)
    else:
        _offer_ticket(ctx, question, "Sorry that wasn't it, and I have no better article.")


@action("kb.escalate")
def on_escalate(ctx: Context, argument: str) -> None:
    question = _own_question(ctx, argument)
    if question is None:
        return
    question.outcome, question.updated_at = "escalated", now()
    new_ticket.start(ctx, problem=question.text, category="question", transcript=_transcript(question))


@action("kb.decline")
def on_decline(ctx: Context, _: str) -> None:
    ctx.reply("OK. If you change your mind, just ask again or say 'talk to a human'.")


def _present(ctx: Context, question: KbQuestion, hit: Any, *, first: bool) -> None:
    article = hit.article
    question.article_id = article.id
    question.confidence = float(hit.confidence)
    question.tried_articles = [*question.tried_articles, article.id]
    question.outcome, question.updated_at = "answered", now()
    lead = "" if first else "Maybe this one: "
    passage = _shorten(hit.passage or article.body)
    more = f"\nRead more: {article.links[0]}" if getattr(article, "links", None) else ""
    ctx.reply(
        f"{lead}*{article.title}*\n{passage}{more}\n\nDid this solve it?",
        [
            Button(f"kb.solved:{question.id}", "That solved it", "primary"),
            Button(f"kb.unhelpful:{question.id}", "Not what I need"),
        ],
    )


def _offer_ticket(ctx: Context, question: KbQuestion, lead: str) -> None:
    ctx.reply(
        f"{lead} Shall I open a ticket so a technician can help?",
        [
            Button(f"kb.escalate:{question.id}", "Open a ticket", "primary"),
            Button("kb.decline", "No thanks"),
        ],
    )


def _own_question(ctx: Context, argument: str) -> KbQuestion | None:
    question = ctx.session.get(KbQuestion, int(argument)) if argument.isdigit() else None
    if question is None or question.person_email != ctx.speaker.email:
        ctx.reply("I can't find that question any more. Ask me again?")
        return None
    return question


def _transcript(question: KbQuestion) -> str:
    tried = ", ".join(question.tried_articles) or "none matched"
    return f"Asked the bot: {question.text!r}. Articles offered and not helpful: {tried}."


def _shorten(text: str) -> str:
    text = text.strip()
    return text if len(text) <= PASSAGE_LIMIT else text[: PASSAGE_LIMIT - 1].rsplit(" ", 1)[0] + "…"
