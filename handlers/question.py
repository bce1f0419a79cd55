"""Questions: answer from the knowledge base when it truly knows, step aside when it does not.

Every question is recorded with what became of it (answered, confirmed helpful, not helpful, escalated),
which is what the digest's deflection figures and the knowledge-gap list are made from. Only the
"That solved it" button confirms an answer; silence proves nothing. Each verdict on each article offered
is a vote (kb_votes): rejecting a first and a next-best article is two "not helpful" votes.

A message about a safety hazard (fire, smoke, sparks, a swollen battery…) never gets an article: the
person is told to get away from it and call for help, and an urgent ticket is opened (`report_hazard`).

"Open a ticket" leaves the question's id in the new-ticket flow's data (`kb_question_id`); the flow links
the ticket to it (`insights.link_ticket`) once the ticket exists. The phrasing a retracted
confirmation taught is ignored by the knowledge service from then on.
"""

from __future__ import annotations

from collections.abc import Sized
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.clock import now
from bot.messages import Button
from bot.redact import hide_secrets
from bot.store.models import KbExample, KbQuestion, KbVote
from handlers import arguments, conversations, new_ticket, problems, tickets
from handlers.context import Context
from handlers.registry import action
from kb.lexical import normalised_wording

PASSAGE_LIMIT = 700
# A button label typed as text acts on the person's latest answer if it is this recent.
STALE_BUTTON_WINDOW = timedelta(hours=1)
SOLVED_LABEL = "That solved it"
UNHELPFUL_LABEL = "Not what I need"
ESCALATE_LABEL = "Open a ticket"
DECLINE_LABEL = "No thanks"
_TYPED_LABELS = {
    normalised_wording(SOLVED_LABEL): "kb.solved",
    "solved": "kb.solved",
    normalised_wording(UNHELPFUL_LABEL): "kb.unhelpful",
    normalised_wording(ESCALATE_LABEL): "kb.escalate",
    normalised_wording(DECLINE_LABEL): "kb.decline",
}
NO_ANSWER = "I don't have an article that answers that."
NO_ARTICLES = "I don't have any articles yet, so I can't answer that myself."
HAZARD_REPLY = (
    "⚠️ That sounds like a safety hazard. Don't touch or use the device: if it is safe to do so, unplug it "
    "at the wall, then step away. If there is fire, smoke or a burning smell, raise the alarm and call "
    "emergency services and facilities now. I'm opening an urgent ticket so IT follows up."
)


def answer(ctx: Context, text: str) -> None:
    """Look the question up; answer with the best article, or offer a ticket. Safety hazards never get
    here: the router sends them to `report_hazard` before anything else."""
    if _typed_button(ctx, text):
        return
    question = KbQuestion(
        person_email=ctx.speaker.email,
        text=hide_secrets(text.strip()),  # questions feed the gaps report and a ticket's "what was tried"
        outcome="unanswered",
        tried_articles=[],
        created_at=now(),
        updated_at=now(),
    )
    ctx.session.add(question)
    ctx.session.flush()
    knowledge = ctx.services.knowledge(ctx.session)
    result = knowledge.search(question.text)
    if result.answer is None:
        if problems.check_question(ctx, question.text, question.id) is not None:
            return  # a known problem: they were told so (and may still ask for a ticket)
        _offer_ticket(ctx, question, NO_ARTICLES if _is_empty(knowledge) else NO_ANSWER)
        return
    _present(ctx, question, result.answer, first=True)


def report_hazard(ctx: Context, text: str) -> None:
    """Safety first: no article, clear instructions, an urgent ticket opened at once."""
    ticket = tickets.open_ticket(ctx, problem=text.strip(), urgent=True, category="safety")
    conversations.end_topic(ctx.state)
    ctx.reply(f"{HAZARD_REPLY} Ticket #{ticket.id} is open as urgent.", ticket=ticket.id)


@action("kb.solved")
def on_solved(ctx: Context, argument: str) -> None:
    question = _own_question(ctx, argument)
    if question is None or question.article_id is None:
        return
    if question.outcome == "helpful":
        ctx.reply("Thanks, already noted.")
        return
    question.outcome, question.updated_at = "helpful", now()
    _vote(ctx, question, "helpful")
    _teach(ctx.session, question)
    conversations.end_topic(ctx.state)  # solved: a later ticket is about something else
    ctx.reply("Great, glad that helped! Anything else?")


@action("kb.unhelpful")
def on_unhelpful(ctx: Context, argument: str) -> None:
    question = _own_question(ctx, argument)
    if question is None or question.article_id is None:
        return
    if question.outcome != "answered":
        ctx.reply("Noted.")
        return
    question.outcome, question.updated_at = "not_helpful", now()
    _vote(ctx, question, "not_helpful")
    # The next-best article must clear a stricter bar (kb.search: second choices are right less often).
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
    # Asking for a ticket is insisting on one: a known problem was already said to be known.
    new_ticket.start(
        ctx,
        problem=question.text,
        category="question",
        transcript=_transcript(question),
        check_incidents=False,
    )
    ctx.state.data["kb_question_id"] = question.id  # for link_ticket, once the ticket exists


@action("kb.decline")
def on_decline(ctx: Context, _: str) -> None:
    ctx.reply("OK. If you change your mind, just ask again or say 'talk to a human'.")


_TYPED_ACTIONS = {
    "kb.solved": on_solved,
    "kb.unhelpful": on_unhelpful,
    "kb.escalate": on_escalate,
    "kb.decline": on_decline,
}


# --- helpers ----------------------------------------------------------------------------------------


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
            Button(f"kb.solved:{question.id}", SOLVED_LABEL, "primary"),
            Button(f"kb.unhelpful:{question.id}", UNHELPFUL_LABEL),
        ],
    )


def _offer_ticket(ctx: Context, question: KbQuestion, lead: str) -> None:
    ctx.reply(
        f"{lead} Shall I open a ticket so a technician can help?",
        [
            Button(f"kb.escalate:{question.id}", ESCALATE_LABEL, "primary"),
            Button("kb.decline", DECLINE_LABEL),
        ],
    )


def _vote(ctx: Context, question: KbQuestion, verdict: str) -> None:
    """One vote per (question, article): pressing twice changes nothing."""
    assert question.article_id is not None
    existing = ctx.session.scalars(
        select(KbVote).where(KbVote.question_id == question.id, KbVote.article_id == question.article_id)
    ).first()
    if existing is None:
        ctx.session.add(
            KbVote(
                question_id=question.id,
                article_id=question.article_id,
                person_email=ctx.speaker.email,
                verdict=verdict,
                created_at=now(),
            )
        )


def _teach(session: Session, question: KbQuestion) -> None:
    """A confirmed phrasing teaches the article a new way people ask for it — once per wording."""
    assert question.article_id is not None
    wording = normalised_wording(question.text)
    known = session.scalars(select(KbExample.text).where(KbExample.article_id == question.article_id))
    if wording and all(normalised_wording(text) != wording for text in known):
        session.add(
            KbExample(
                article_id=question.article_id, text=question.text, question_id=question.id, created_at=now()
            )
        )


def _typed_button(ctx: Context, text: str) -> bool:
    """A button label typed as text ("Not what I need") is not a question: it acts on the person's latest
    answer when there is a recent one, and is never recorded as a knowledge gap."""
    name = _TYPED_LABELS.get(normalised_wording(text))
    if name is None:
        return False
    latest = ctx.session.scalars(
        select(KbQuestion)
        .where(KbQuestion.person_email == ctx.speaker.email)
        .order_by(KbQuestion.id.desc())
        .limit(1)
    ).first()
    if latest is None or now() - latest.updated_at > STALE_BUTTON_WINDOW or not _button_applies(name, latest):
        ctx.reply("Those buttons have expired. What do you need? Ask me in your own words.")
        return True
    _TYPED_ACTIONS[name](ctx, str(latest.id))
    return True


def _button_applies(name: str, question: KbQuestion) -> bool:
    """Whether the latest question still shows that button: an answer shows "That solved it" and "Not
    what I need", a ticket offer shows "Open a ticket" and "No thanks"."""
    if name in ("kb.solved", "kb.unhelpful"):
        return question.outcome == "answered"
    return name in ("kb.escalate", "kb.decline") and question.outcome in ("unanswered", "not_helpful")


def _is_empty(knowledge: object) -> bool:
    """A knowledge base with no article at all (an empty folder, or every file deleted)."""
    return isinstance(knowledge, Sized) and len(knowledge) == 0


def _own_question(ctx: Context, argument: str) -> KbQuestion | None:
    question_id = arguments.record_id(argument)
    question = ctx.session.get(KbQuestion, question_id) if question_id is not None else None
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
