"""Honest knowledge-base figures: what was asked, answered, confirmed, escalated — and what wasn't.

A deflection counts only when the person pressed "That solved it", and is taken back when the same
person opens a ticket on the same topic within three days (others count silence as success); a taken-back
confirmation also stops teaching its phrasing to the article (`taken_back_questions`).

Votes: every "That solved it" / "Not what I need" on every article offered is one row of kb_votes, so an
article rejected as the next-best answer counts as much as one rejected first.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.redact import hide_secrets
from bot.store.models import KbExample, KbQuestion, KbVote, Ticket


class KnowledgeSearch(Protocol):
    """The knowledge base as these figures use it (kb.search.KnowledgeBase satisfies it)."""

    def search(self, query: str, k: int = 5) -> Any: ...


TAKE_BACK_WINDOW = timedelta(days=3)
# An article needs this many "not helpful" votes, outnumbering "helpful" ones, before it is demoted.
DEMOTION_MIN_VOTES = 3
_WORD = re.compile(r"[a-z0-9]{3,}")
_STOP = {
    "the",
    "and",
    "for",
    "with",
    "how",
    "what",
    "can",
    "you",
    "get",
    "does",
    "not",
    "have",
    "from",
    "this",
    "that",
    "when",
    "why",
    "where",
    "who",
    "are",
    "was",
    "but",
    "all",
    "any",
    "its",
    "into",
}


@dataclass(frozen=True)
class KbFigures:
    asked: int
    answered: int
    confirmed_helpful: int
    not_helpful: int
    escalated: int
    unanswered: int
    deflected: int
    taken_back: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def kb_figures(session: Session, knowledge: KnowledgeSearch, since: datetime, until: datetime) -> KbFigures:
    questions = list(
        session.scalars(
            select(KbQuestion).where(KbQuestion.created_at >= since, KbQuestion.created_at < until)
        )
    )
    helpful = [q for q in questions if q.outcome == "helpful"]
    taken_back = sum(1 for q in helpful if _followed_by_ticket(session, knowledge, q))
    return KbFigures(
        asked=len(questions),
        answered=sum(1 for q in questions if q.article_id is not None),
        confirmed_helpful=len(helpful),
        not_helpful=sum(1 for q in questions if q.outcome == "not_helpful"),
        escalated=sum(1 for q in questions if q.outcome == "escalated"),
        unanswered=sum(1 for q in questions if q.outcome == "unanswered" and q.article_id is None),
        deflected=len(helpful) - taken_back,
        taken_back=taken_back,
    )


def knowledge_gaps(session: Session, since: datetime, limit: int = 10) -> list[str]:
    """Questions no article answered (or whose articles did not help), newest first."""
    rows = session.scalars(
        select(KbQuestion)
        .where(
            KbQuestion.created_at >= since, KbQuestion.outcome.in_(("unanswered", "escalated", "not_helpful"))
        )
        .order_by(KbQuestion.created_at.desc())
    )
    seen: dict[str, str] = {}
    for question in rows:
        # Questions recorded before they were screened must not show a password in the report either.
        seen.setdefault(" ".join(sorted(_words(question.text))), hide_secrets(question.text))
    return list(seen.values())[:limit]


def article_votes(session: Session) -> dict[str, tuple[int, int]]:
    """article id → (helpful, not helpful) votes from the buttons, one per question and article."""
    rows = session.execute(
        select(KbVote.article_id, KbVote.verdict, func.count()).group_by(KbVote.article_id, KbVote.verdict)
    )
    votes: dict[str, list[int]] = {}
    for article_id, verdict, count in rows:
        votes.setdefault(str(article_id), [0, 0])[0 if verdict == "helpful" else 1] += count
    return {article_id: (up, down) for article_id, (up, down) in votes.items()}


def demotions(session: Session) -> dict[str, float]:
    """Articles that keep getting "not helpful" rank lower: a factor in (0, 1]."""
    factors = {}
    for article_id, (up, down) in article_votes(session).items():
        if down >= DEMOTION_MIN_VOTES and down > up:
            factors[article_id] = max(0.5, 1.0 - 0.1 * (down - up))
    return factors


def weak_articles(session: Session) -> list[tuple[str, int, int]]:
    """Articles flagged for technicians: demoted ones, with their (helpful, not helpful) votes."""
    votes = article_votes(session)
    return sorted(((a, *votes[a]) for a in demotions(session)), key=lambda row: row[1] - row[2])


def taken_back_questions(session: Session, knowledge: KnowledgeSearch) -> set[int]:
    """Confirmed questions that taught an article a phrasing, taken back since by a same-topic ticket."""
    taught = session.scalars(
        select(KbQuestion).where(
            KbQuestion.outcome == "helpful",
            KbQuestion.id.in_(select(KbExample.question_id).where(KbExample.question_id.is_not(None))),
            KbQuestion.person_email.in_(select(Ticket.requester_email)),
        )
    )
    return {question.id for question in taught if _followed_by_ticket(session, knowledge, question)}


def _followed_by_ticket(session: Session, knowledge: KnowledgeSearch, question: KbQuestion) -> bool:
    later = session.scalars(
        select(Ticket).where(
            Ticket.requester_email == question.person_email,
            Ticket.created_at >= question.created_at,
            Ticket.created_at <= question.created_at + TAKE_BACK_WINDOW,
        )
    )
    return any(_same_topic(knowledge, question, ticket) for ticket in later)


def _same_topic(knowledge: KnowledgeSearch, question: KbQuestion, ticket: Ticket) -> bool:
    """Same article retrieved for the ticket's problem, or most of the question's words in it."""
    hits = knowledge.search(ticket.problem, k=3).hits
    if question.article_id and any(hit.article.id == question.article_id for hit in hits):
        return True
    asked, problem = _words(question.text), _words(ticket.problem)
    return bool(asked) and len(asked & problem) / len(asked) >= 0.5


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def link_ticket(session: Session, question_id: Any, ticket_id: int) -> None:
    """Record which ticket an escalated question became (kb_questions.ticket_id)."""
    question = session.get(KbQuestion, int(question_id)) if str(question_id).isdigit() else None
    if question is not None and question.ticket_id is None:
        question.ticket_id = ticket_id
