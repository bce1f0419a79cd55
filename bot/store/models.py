"""The database schema: conversations, tickets and their history, knowledge-base feedback, audit.

Typed SQLAlchemy 2.0 models. Alembic migrations in `bot/store/migrations` create the same schema on
SQLite and PostgreSQL; `tests/integration/test_migrations.py` checks they agree with these models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite keeps no time zone, so we store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use bot.clock.now()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON}


class Conversation(Base):
    """Where a person is in a multi-step flow, so a restart resumes it."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_email: Mapped[str] = mapped_column(String(320), unique=True)
    flow: Mapped[str] = mapped_column(String(64), default="")
    step: Mapped[str] = mapped_column(String(64), default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The ticket the person's plain messages are relayed to (set when a technician writes to them).
    thread_ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime]


class ProcessedEvent(Base):
    """Inbound event ids already handled: a retried delivery is recognised and ignored."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime]


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    subject: Mapped[str] = mapped_column(String(200))
    problem: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(40), default="question")
    requester_email: Mapped[str] = mapped_column(String(320), index=True)
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    requester_title: Mapped[str] = mapped_column(String(200), default="")
    requester_department: Mapped[str] = mapped_column(String(200), default="")
    requester_location: Mapped[str] = mapped_column(String(200), default="")
    requester_manager: Mapped[str] = mapped_column(String(320), default="")
    # What the directory said about the requester when the ticket was opened: found | not_found |
    # unavailable ("" on tickets from before it was recorded). Technicians must know who they talk to.
    requester_directory: Mapped[str] = mapped_column(String(20), default="", server_default="")
    assignee_email: Mapped[str | None] = mapped_column(String(320), nullable=True, index=True)
    flags: Mapped[list[str]] = mapped_column(default=list)
    transcript: Mapped[str] = mapped_column(Text, default="")
    resolution: Mapped[str] = mapped_column(Text, default="")
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rating_comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The widespread problem this ticket is part of (handlers/incidents.py); None for most tickets.
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )
    incident: Mapped[Incident | None] = relationship(
        primaryjoin="foreign(Ticket.incident_id) == Incident.id", viewonly=True
    )


class TicketEvent(Base):
    """One entry of a ticket's history; every change and every message is one."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime]
    actor_email: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class KbArticle(Base):
    """An article written inside the bot (published from a ticket); file articles live on disk."""

    __tablename__ = "kb_articles"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(default=list)
    questions: Mapped[list[str]] = mapped_column(default=list)
    links: Mapped[list[str]] = mapped_column(default=list)
    author_email: Mapped[str] = mapped_column(String(320), default="")
    source_ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # A withdrawn article is kept (so `restore article ID` can undo a mistake) but never answered.
    withdrawn_at: Mapped[datetime | None] = mapped_column(nullable=True)
    withdrawn_reason: Mapped[str] = mapped_column(String(300), default="", server_default="")


class KbQuestion(Base):
    """Every question asked and what became of it: the source of honest deflection figures."""

    __tablename__ = "kb_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_email: Mapped[str] = mapped_column(String(320), index=True)
    text: Mapped[str] = mapped_column(Text)
    article_id: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    confidence: Mapped[float] = mapped_column(default=0.0)
    # unanswered | answered | helpful | not_helpful | escalated
    outcome: Mapped[str] = mapped_column(String(20), default="unanswered", index=True)
    tried_articles: Mapped[list[str]] = mapped_column(default=list)
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class KbExample(Base):
    """A phrasing a person confirmed an article answers; it becomes an example question of the article."""

    __tablename__ = "kb_examples"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[str] = mapped_column(String(80), index=True)
    text: Mapped[str] = mapped_column(Text)
    # The confirmed question it came from (None: added otherwise); retracting the confirmation removes it.
    question_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    created_at: Mapped[datetime]


class KbVote(Base):
    """One button verdict on one article offered for one question: "Not what I need" on a first and a
    next-best article is two votes. What demotes and flags articles."""

    __tablename__ = "kb_votes"
    __table_args__ = (UniqueConstraint("question_id", "article_id", name="uq_kb_votes_question_article"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(Integer, index=True)
    article_id: Mapped[str] = mapped_column(String(80), index=True)
    person_email: Mapped[str] = mapped_column(String(320))
    verdict: Mapped[str] = mapped_column(String(20))  # helpful | not_helpful
    created_at: Mapped[datetime]


class AuditRecord(Base):
    """Append-only record of every sensitive step. Never holds a secret."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str] = mapped_column(String(500), default="")
    result: Mapped[str] = mapped_column(String(40))
    correlation_id: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ResetRequest(Base):
    """A password reset or unlock in progress or done: verification state, limits and idempotency."""

    __tablename__ = "reset_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    correlation_id: Mapped[str] = mapped_column(String(64), unique=True)
    person_email: Mapped[str] = mapped_column(String(320), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # reset | unlock
    method: Mapped[str] = mapped_column(String(30))  # email_code | manager_approval | chat_identity
    # pending → verified → executing → done | partial | failed; or cancelled | denied | expired | refused;
    # interrupted: found still executing long after (a crash mid-way), never re-run automatically
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    code_hash: Mapped[str] = mapped_column(String(128), default="")
    code_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    approver_email: Mapped[str] = mapped_column(String(320), default="")
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    # The directory's handle of the account (a DN for LDAP), fixed when the request starts: execution acts
    # on this account, looked up again, not on whoever the chat identity maps to by then.
    account_id: Mapped[str] = mapped_column(String(500), default="", server_default="")


class ServerKey(Base):
    """Keys the bot generated once and must keep across restarts (when FRONTDESK_SECRET_KEY is unset).

    Never logged, never shown."""

    __tablename__ = "server_keys"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


Index("ix_tickets_queue", Ticket.status, Ticket.assignee_email, Ticket.urgent, Ticket.created_at)


class OutboxMessage(Base):
    """One message the bot sends (a chat reply, a card update, a deletion, an email), written in the same
    transaction as the change that caused it and delivered by the dispatcher (`bot/delivery`).

    Never holds a secret: a temporary password is delivered from memory, and only the deletion of its
    message (which needs no secret, just the platform's reference) becomes a row.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    platform: Mapped[str] = mapped_column(String(20))  # the deliverer: console | slack | teams | email …
    recipient: Mapped[str] = mapped_column(String(320))  # an email, or #channel
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)  # where on that platform
    fallback: Mapped[str] = mapped_column(String(40), default="")  # e.g. "email: no chat identity"
    kind: Mapped[str] = mapped_column(String(10), default="send")  # send | update | delete
    topic: Mapped[str] = mapped_column(String(120), default="")  # what an update replaces ("ticket:12")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # For update/delete: the row whose delivered message this acts on, or the reference itself.
    ref_row_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message_ref: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # pending → sending → delivered; or back to pending (retry) and dead after the last attempt
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Identity(Base):
    """A person's identity on one chat platform, refreshed on every inbound event: how to reach them
    there (Slack user/team, Teams object id with the conversation reference for proactive messages)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id", name="uq_identities_platform_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    platform_user_id: Mapped[str] = mapped_column(String(200))
    team: Mapped[str] = mapped_column(String(200), default="")  # Slack team, Teams tenant
    reference: Mapped[dict[str, Any]] = mapped_column(default=dict)  # conversation reference, service URL
    updated_at: Mapped[datetime]


class Lease(Base):
    """A named lease (`scheduler`): the holder runs the scheduled jobs until it stops renewing it."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime]


Index("ix_outbox_due", OutboxMessage.status, OutboxMessage.next_attempt_at)
Index("ix_outbox_recipient", OutboxMessage.platform, OutboxMessage.recipient, OutboxMessage.status)
Index("ix_outbox_topic", OutboxMessage.topic, OutboxMessage.recipient)


class DigestPost(Base):
    """One row per local day the managers' digest was posted: two processes running the digest job at
    the same moment insert the same day, and only the one whose insert took the row posts."""

    __tablename__ = "digest_posts"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD in FRONTDESK_TIMEZONE
    posted_at: Mapped[datetime]
    holder: Mapped[str] = mapped_column(String(120), default="")


# The digest's aggregates: range scans by day, and each ticket's first response found from an index.
Index("ix_tickets_created_at", Ticket.created_at)
Index("ix_tickets_resolved_at", Ticket.resolved_at)
Index("ix_ticket_events_kind_at", TicketEvent.kind, TicketEvent.at)
Index("ix_kb_questions_created_at", KbQuestion.created_at)
Index("ix_reset_requests_status_updated", ResetRequest.status, ResetRequest.updated_at)


class AccessRequest(Base):
    """A request for catalogue access: who asks, for which entry, how long, why, and its approvals.

    The group is copied from the catalogue entry when the request is made (never from what was typed).
    """

    __tablename__ = "access_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    correlation_id: Mapped[str] = mapped_column(String(64), unique=True)
    person_email: Mapped[str] = mapped_column(String(320), index=True)
    person_id: Mapped[str] = mapped_column(String(500))  # the directory's handle, fixed at request time
    entry_id: Mapped[str] = mapped_column(String(64))
    group: Mapped[str] = mapped_column(String(500))
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: permanent
    justification: Mapped[str] = mapped_column(Text, default="")
    # pending → approved → granting → granted | failed; or denied | expired | cancelled
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    approvals_needed: Mapped[int] = mapped_column(Integer, default=1)
    approvals: Mapped[list[str]] = mapped_column(default=list)  # emails of the approvers so far
    notified: Mapped[list[str]] = mapped_column(default=list)  # who got an approval card
    decided_by: Mapped[str] = mapped_column(String(320), default="")
    reason: Mapped[str] = mapped_column(Text, default="")  # a denial's reason
    pre_existing: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)  # the request's own time-out
    reminded_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AccessGrant(Base):
    """A membership the bot gave, and when it ends. `pre_existing`: the person was already a member before
    the request, so the bot must never remove it."""

    __tablename__ = "access_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    person_email: Mapped[str] = mapped_column(String(320), index=True)
    person_id: Mapped[str] = mapped_column(String(500))
    entry_id: Mapped[str] = mapped_column(String(64))
    group: Mapped[str] = mapped_column(String(500))
    # active → ended | failed (removal given up is never: it keeps being retried, with back-off)
    status: Mapped[str] = mapped_column(String(12), default="active")
    pre_existing: Mapped[bool] = mapped_column(Boolean, default=False)
    granted_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)  # None: permanent
    # When the reconciler may try the removal next (back-off after a failure); due = min(expires, next)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    removal_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    end_reason: Mapped[str] = mapped_column(String(200), default="")


# The reconciler's query: active grants whose removal is due, without reading the others.
Index("ix_access_grants_due", AccessGrant.status, AccessGrant.next_attempt_at)


class HomePage(Base):
    """A person's home page on a platform that has one (Slack's App Home), once they have opened it:
    `stale_since` is set when something on it changed, and the `refresh_home_pages` job republishes it a
    moment later — once for a whole burst of changes (handlers/home.py)."""

    __tablename__ = "home_pages"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    is_technician: Mapped[bool] = mapped_column(Boolean, default=False)  # the queue is on it
    published_at: Mapped[datetime]
    stale_since: Mapped[datetime | None] = mapped_column(nullable=True)


Index("ix_home_pages_stale", HomePage.stale_since)


class ProblemReport(Base):
    """A report of a problem — a ticket opened, or a question the knowledge base could not answer — kept
    with its content terms, so that each new report is compared with the window's without re-reading them
    (handlers/problems.py). `alert_id`: the cluster it was grouped in; `incident_id`: the incident it is
    part of."""

    __tablename__ = "problem_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_email: Mapped[str] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(12))  # ticket | question | message
    text: Mapped[str] = mapped_column(Text)
    term_count: Mapped[int] = mapped_column(Integer)
    reported_at: Mapped[datetime] = mapped_column(index=True)
    ticket_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    question_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("problem_alerts.id"), nullable=True, index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True, index=True)
    # Its sentence embedding (float16 bytes, handlers/report_vectors.py); None on a lexical-only install.
    vector: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class ProblemReportTerm(Base):
    """One content term of one report: the inverted index the similarity check reads (only the reports
    sharing a term with the new one, within the window, are touched)."""

    __tablename__ = "problem_report_terms"

    report_id: Mapped[int] = mapped_column(ForeignKey("problem_reports.id"), primary_key=True)
    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The report's, copied: the cosine bar is checked while counting shared terms, before any join.
    reported_at: Mapped[datetime]
    term_count: Mapped[int] = mapped_column(Integer)


Index("ix_problem_report_terms_term_at", ProblemReportTerm.term, ProblemReportTerm.reported_at)


class ProblemAlert(Base):
    """One alert in triage about a cluster of similar reports: open → declared (an incident) | dismissed
    ("Not related": the cluster stays quiet while it keeps growing)."""

    __tablename__ = "problem_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    decided_by: Mapped[str] = mapped_column(String(320), default="")


class Incident(Base):
    """A widespread problem technicians declared: its reports and tickets link to it; while it is open, new
    reporters of the same problem are told it is known; resolving it tells every linked person."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)  # open | resolved
    title: Mapped[str] = mapped_column(String(300))
    root_cause: Mapped[str] = mapped_column(Text, default="")
    resolution: Mapped[str] = mapped_column(Text, default="")
    alert_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    declared_by: Mapped[str] = mapped_column(String(320))
    declared_at: Mapped[datetime]
    resolved_by: Mapped[str] = mapped_column(String(320), default="")
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    article_id: Mapped[str | None] = mapped_column(String(80), nullable=True)  # "publish as known issue"
