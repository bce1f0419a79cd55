"""Widespread problems: every report is compared with the recent ones, and a cluster alerts the technicians.

A *report* is a ticket opened from the conversation or a question the knowledge base could not answer
(`ProblemReport`). It is reduced to its content terms with the knowledge base's own analyser
(`kb.lexical.analyze`: help-desk synonyms folded, stop words out, Snowball stems) minus the words every
complaint uses ("not working", "problem", "error", …), which say that something is wrong but not what.
The terms are stored once, as an inverted index (`problem_report_terms`), so a new report is compared
only with the window's reports that share a term with it, by one SQL query — never by re-reading the
window (bench/incident_bench.py).

Two reports are similar when the cosine of their term sets, |A ∩ B| / √(|A|·|B|), reaches
FRONTDESK_INCIDENT_SIMILARITY, or — when the semantic model is in use, as the knowledge base decides
(FRONTDESK_KB_SEMANTIC) — when the cosine of their sentence embeddings reaches
FRONTDESK_INCIDENT_SEMANTIC_SIMILARITY: "wifi keeps dropping on floor 3" and "third floor wifi dropping
constantly" share few terms but mean the same (handlers/report_vectors.py keeps the window's vectors).
The new report's *cluster* is itself and the similar reports of the last
FRONTDESK_INCIDENT_WINDOW_MINUTES that belong to no incident. When the cluster has
FRONTDESK_INCIDENT_MIN_REPORTS reports from FRONTDESK_INCIDENT_MIN_PEOPLE people, triage gets one alert
(`ProblemAlert`, its card under the topic `problem:<id>`); a later similar report joins that alert and
updates its card in place. A report similar to a dismissed alert's reports joins it silently, so "Not
related" keeps the cluster quiet for as long as it keeps growing within the window.

Before any of that, a report is matched against the reports of the open incidents (no window: an
incident lasts as long as it lasts); a match links the report to the incident and the person is told it
is known instead of being offered a ticket (`handlers/incidents.py` owns incidents themselves).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.orm import Session

from bot.clock import now
from bot.messages import Button, Card, shorten
from bot.redact import hide_secrets
from bot.store.models import Incident, ProblemAlert, ProblemReport, ProblemReportTerm, Ticket
from handlers import audit, tickets
from handlers.context import Context
from handlers.report_vectors import ReportVectors, from_bytes, to_bytes, vectors_of
from kb.lexical import analyze, normalise_query

# Words of every complaint: they tell that something is wrong, never what (their stems, as analysed).
GENERIC_WORDS = """not work working broken problem problems issue issues error errors wrong fail failed
    failing failure help today now again still keep keeps stop stopped anymore fix fixed urgent morning
    afternoon everyone anybody nobody seem seems trying tried try going weird strange suddenly since
    minutes hour hours just really also ok"""
GENERIC_TERMS = frozenset(analyze(GENERIC_WORDS))
MAX_TERMS = 24  # a long message is mostly context; its first distinct terms say what it is about
TERM_LENGTH = 64
CARD_REPORTS = 10  # reports listed on an alert's card (the most recent)
TYPICAL_LENGTH = 120
DETECTION_LOCK = 14_0005  # pg_advisory_xact_lock key: issue 14, item 5


@dataclass(frozen=True)
class Neighbour:
    """A stored report similar to the one being checked."""

    id: int
    person_email: str
    reported_at: datetime
    alert_id: int | None
    incident_id: int | None
    similarity: float


@dataclass(frozen=True)
class Wording:
    """What a report is compared by: its content terms, and its embedding when vectors are in use."""

    terms: list[str]
    vector: np.ndarray | None = None


@dataclass(frozen=True)
class Matcher:
    """When two reports are alike: their terms' cosine reaches `term_bar`, or their vectors' `vector_bar`."""

    term_bar: float
    vectors: ReportVectors | None = None
    vector_bar: float = 1.0


def matcher(ctx: Context) -> Matcher:
    settings = ctx.settings
    vectors = ctx.services.report_vectors
    return Matcher(settings.incident_similarity, vectors, settings.incident_semantic_similarity)


def wording(ctx: Context, text: str) -> Wording:
    vectors = ctx.services.report_vectors
    shown = hide_secrets(text.strip())  # as `record` embeds it: one text, one pass of the model
    return Wording(content_terms(text), vectors.embed(shown) if vectors is not None else None)


def content_terms(text: str) -> list[str]:
    """The distinct terms a report is compared by, in the order written (empty: nothing to compare)."""
    terms = [term[:TERM_LENGTH] for term in analyze(normalise_query(text)) if term not in GENERIC_TERMS]
    return list(dict.fromkeys(terms))[:MAX_TERMS]


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """The cosine of two term sets, 0 … 1 (what the SQL of `similar_reports` computes)."""
    if not a or not b:
        return 0.0
    return len(set(a) & set(b)) / (len(set(a)) * len(set(b))) ** 0.5


def record(
    ctx: Context, text: str, source: str, *, ticket_id: int | None = None, question_id: int | None = None
) -> ProblemReport | None:
    """Store a report and its terms; None when it has no content term to compare ("help!")."""
    terms = content_terms(text)
    if not terms:
        return None
    moment = now()
    vectors = ctx.services.report_vectors
    shown = hide_secrets(text.strip())  # what the knowledge base searched (and embedded) for a question
    report = ProblemReport(
        person_email=ctx.speaker.email,
        source=source,
        text=shown,
        vector=to_bytes(vectors.embed(shown)) if vectors is not None else None,
        term_count=len(terms),
        reported_at=moment,
        ticket_id=ticket_id,
        question_id=question_id,
    )
    ctx.session.add(report)
    ctx.session.flush()
    ctx.session.add_all(
        ProblemReportTerm(report_id=report.id, term=t, reported_at=moment, term_count=len(terms))
        for t in terms
    )
    return report


def terms_of(session: Session, report_ids: Sequence[int]) -> dict[int, list[str]]:
    rows = session.execute(
        select(ProblemReportTerm.report_id, ProblemReportTerm.term).where(
            ProblemReportTerm.report_id.in_(report_ids)
        )
    )
    found: dict[int, list[str]] = {report_id: [] for report_id in report_ids}
    for report_id, term in rows:
        found[report_id].append(term)
    return found


def similar_reports(
    session: Session,
    terms: Sequence[str],
    threshold: float,
    *,
    since: datetime | None,
    exclude: int | None = None,
    where: Sequence[ColumnElement[bool]] = (),
    among: Sequence[int] | None = None,
) -> list[Neighbour]:
    """Reports since `since` (None: any time) meeting `where` (and, when given, with an id `among`)
    whose cosine with `terms` is at least `threshold`, most similar first.

    One query (one round trip): the term index gives each report sharing a term the number it shares,
    and the cosine bar is checked while counting, as shared² ≥ threshold² · |terms| · term_count (no
    square root, on any database; each term row carries its report's term count). `among` narrows the
    term scan itself to a few reports (an incident's), read by primary key.
    """
    if not terms:
        return []
    bar = threshold * threshold * len(terms)
    narrowed = [] if since is None else [ProblemReportTerm.reported_at >= since]
    if among is not None:
        narrowed.append(ProblemReportTerm.report_id.in_(list(among)))
    shared_count = func.count()
    counted = (
        select(ProblemReportTerm.report_id, shared_count.label("shared"), ProblemReportTerm.term_count)
        .where(ProblemReportTerm.term.in_(list(terms)), *narrowed)
        .group_by(ProblemReportTerm.report_id, ProblemReportTerm.term_count)
        .having(shared_count * shared_count >= bar * ProblemReportTerm.term_count)
        .subquery()
    )
    # The same bounds on the reports' side, so the join reads them through an index (the window's, or the
    # ids given), never the whole history.
    bounds = [] if since is None else [ProblemReport.reported_at >= since]
    bounds += [] if among is None else [ProblemReport.id.in_(list(among))]
    bounds += [] if exclude is None else [ProblemReport.id != exclude]
    statement = (
        select(
            ProblemReport.id,
            ProblemReport.person_email,
            ProblemReport.reported_at,
            ProblemReport.alert_id,
            ProblemReport.incident_id,
            counted.c.shared,
            counted.c.term_count,
        )
        .join(counted, counted.c.report_id == ProblemReport.id)
        .where(*bounds, *where)
    )
    session.flush()  # Core below does not autoflush: what this event changed must be seen
    found = [
        Neighbour(
            row.id,
            row.person_email,
            row.reported_at,
            row.alert_id,
            row.incident_id,
            row.shared / (len(terms) * row.term_count) ** 0.5,
        )
        for row in session.connection().execute(statement)  # Core rows: there may be hundreds
    ]
    return sorted(found, key=lambda n: (-n.similarity, -n.id))


def similar_in_window(
    session: Session,
    match: Matcher,
    words: Wording,
    *,
    since: datetime,
    exclude: int | None = None,
    where: Sequence[ColumnElement[bool]] = (),
) -> list[Neighbour]:
    """The window's reports (meeting `where`) alike by terms or by meaning, most similar first."""
    near = {
        n.id: n
        for n in similar_reports(
            session, words.terms, match.term_bar, since=since, exclude=exclude, where=where
        )
    }
    if match.vectors is not None and words.vector is not None:
        scores = match.vectors.similar(session, words.vector, match.vector_bar, since=since, exclude=exclude)
        for n in _neighbours(session, [i for i in scores if i not in near], scores, where):
            near[n.id] = n
    return sorted(near.values(), key=lambda n: (-n.similarity, -n.id))


def _neighbours(
    session: Session, ids: Sequence[int], scores: dict[int, float], where: Sequence[ColumnElement[bool]]
) -> list[Neighbour]:
    """Reports found alike by their vectors, as they are now (their alert, incident), meeting `where`."""
    if not ids:
        return []
    statement = select(
        ProblemReport.id,
        ProblemReport.person_email,
        ProblemReport.reported_at,
        ProblemReport.alert_id,
        ProblemReport.incident_id,
    ).where(ProblemReport.id.in_(list(ids)), *where)
    return [
        Neighbour(row.id, row.person_email, row.reported_at, row.alert_id, row.incident_id, scores[row.id])
        for row in session.execute(statement)
    ]


def matching_incident(
    session: Session, match: Matcher, words: Wording, exclude: int | None = None
) -> Incident | None:
    """The open incident whose reports are most like `words`, if any is like them at all."""
    open_ids = select(Incident.id).where(Incident.status == "open").scalar_subquery()
    # An incident's reports are few (tens, hundreds): their ids first, then their terms by primary key.
    linked = list(session.scalars(select(ProblemReport.id).where(ProblemReport.incident_id.in_(open_ids))))
    if not linked:
        return None
    near = similar_reports(
        session,
        words.terms,
        match.term_bar,
        since=None,
        exclude=exclude,
        where=[ProblemReport.incident_id.in_(open_ids)],
        among=linked,
    )
    best = (near[0].similarity, near[0].id) if near else None
    if match.vectors is not None and words.vector is not None:
        for report_id, vector in vectors_of(session, (i for i in linked if i != exclude)).items():
            score = float(vector @ words.vector)
            if score >= match.vector_bar and (best is None or score > best[0]):
                best = (score, report_id)
    if best is None:
        return None
    report = session.get(ProblemReport, best[1])
    return session.get(Incident, report.incident_id) if report and report.incident_id else None


# --- what the flows call --------------------------------------------------------------------------------


def check_question(ctx: Context, text: str, question_id: int) -> ProblemReport | None:
    """A question nobody could answer is a report. Returns it when it belongs to an open incident (the
    person has then been told it is known); otherwise it went through detection, and None is returned."""
    report = record(ctx, text, "question", question_id=question_id)
    return _known_or_detect(ctx, report)


def check_message(ctx: Context, text: str) -> ProblemReport | None:
    """Someone about to get a ticket: when their problem is an open incident, link and tell them (their
    report is returned: no ticket is opened); otherwise record nothing yet (the ticket will be the report)."""
    words = wording(ctx, text)
    incident = matching_incident(ctx.session, matcher(ctx), words) if words.terms else None
    if incident is None:
        return None
    report = record(ctx, text, "message")
    assert report is not None  # it has terms
    link_report(ctx, report, incident)
    return report


def ticket_opened(
    ctx: Context, ticket_id: int, problem: str, *, question_id: int | None, report_id: int | None
) -> None:
    """A ticket from the conversation: the report it came from (a question, or a known-problem message
    the person insisted on) takes the ticket; otherwise the ticket is a new report."""
    report = _earlier_report(ctx, question_id, report_id)
    if report is not None:
        report.ticket_id = ticket_id
        incident = ctx.session.get(Incident, report.incident_id) if report.incident_id else None
        if incident is not None and incident.status == "open":
            link_ticket(ctx, ticket_id, incident)
        return
    report = record(ctx, problem, "ticket", ticket_id=ticket_id)
    if report is None:
        return
    incident = matching_incident(ctx.session, matcher(ctx), stored_wording(ctx, report), exclude=report.id)
    if incident is not None:  # declared meanwhile: they get their ticket, part of the incident
        report.incident_id = incident.id
        link_ticket(ctx, ticket_id, incident)
        ctx.reply(
            f"Your ticket #{ticket_id} is part of a known problem: {incident.title}. Technicians are on it; "
            "I'll tell you when it's fixed.",
            ticket=ticket_id,
            quoted=(incident.title,),
        )
        return
    detect(ctx, report)


def link_report(ctx: Context, report: ProblemReport, incident: Incident) -> None:
    report.incident_id = incident.id
    audit.record(
        ctx.session,
        actor=ctx.speaker.email,
        action="incident.report_linked",
        target=f"incident:{incident.id}",
        result="linked",
        correlation_id=f"report:{report.id}",
        source=report.source,
    )
    ctx.reply(
        f"This looks like a known problem: {incident.title}. Technicians are on it; I'll tell you when it's "
        "fixed.",
        [Button(f"incident.own_ticket:{report.id}", "I still need a ticket")],
        quoted=(incident.title,),
    )


def link_ticket(ctx: Context, ticket_id: int, incident: Incident) -> None:
    """Make a ticket part of an incident (its card and `show N` name it; resolving resolves it)."""
    ticket = ctx.session.get(Ticket, ticket_id)
    if ticket is None or ticket.incident_id == incident.id:
        return
    ticket.incident_id = incident.id
    tickets.record_event(ctx, ticket, "incident_linked", incident.title, {"incident": incident.id})
    tickets.refresh_card(ctx, ticket)


def stored_wording(ctx: Context, report: ProblemReport) -> Wording:
    """A recorded report's wording, as stored (its vector is the one just embedded: no second pass)."""
    terms = terms_of(ctx.session, [report.id])[report.id]
    return Wording(terms, from_bytes(report.vector) if report.vector else None)


def _earlier_report(ctx: Context, question_id: int | None, report_id: int | None) -> ProblemReport | None:
    if report_id is not None:
        report = ctx.session.get(ProblemReport, report_id)
        if report is not None and report.person_email == ctx.speaker.email:
            return report
    if question_id is not None:
        statement = select(ProblemReport).where(ProblemReport.question_id == question_id)
        return ctx.session.scalars(statement).first()
    return None


def _known_or_detect(ctx: Context, report: ProblemReport | None) -> ProblemReport | None:
    if report is None:
        return None
    incident = matching_incident(ctx.session, matcher(ctx), stored_wording(ctx, report), exclude=report.id)
    if incident is not None:
        link_report(ctx, report, incident)
        return report
    detect(ctx, report)
    return None


# --- detection ----------------------------------------------------------------------------------------


def detect(ctx: Context, report: ProblemReport) -> None:
    """Group `report` with the similar reports of the window; alert, or update the alert, as it says."""
    settings = ctx.settings
    _one_detection_at_a_time(ctx.session)
    near = similar_in_window(
        ctx.session,
        matcher(ctx),
        stored_wording(ctx, report),
        since=report.reported_at - timedelta(minutes=settings.incident_window_minutes),
        exclude=report.id,
        where=[ProblemReport.incident_id.is_(None)],
    )
    alerts = Counter(n.alert_id for n in near if n.alert_id is not None)
    if alerts:
        alert = ctx.session.get(ProblemAlert, alerts.most_common(1)[0][0])
        assert alert is not None
        _join(ctx, alert, report, near)
        return
    people = {n.person_email for n in near} | {report.person_email}
    if len(near) + 1 >= settings.incident_min_reports and len(people) >= settings.incident_min_people:
        alert = ProblemAlert(status="open", created_at=now(), updated_at=now(), decided_by="")
        ctx.session.add(alert)
        ctx.session.flush()
        _join(ctx, alert, report, near, first=True)


def _one_detection_at_a_time(session: Session) -> None:
    """Two processes checking two reports of one burst at once must not both raise an alert: on PostgreSQL a
    transaction-scoped advisory lock makes the second wait for the first to commit, then see its report
    (SQLite transactions already take the database's write lock when they begin)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DETECTION_LOCK})


def _join(
    ctx: Context,
    alert: ProblemAlert,
    report: ProblemReport,
    near: Sequence[Neighbour],
    *,
    first: bool = False,
) -> None:
    """The report, and its neighbours that are in no cluster yet, join `alert`; an open alert's card
    shows them (posted the first time, replaced in place after)."""
    report.alert_id = alert.id
    loose = [n.id for n in near if n.alert_id is None]
    for neighbour in ctx.session.scalars(select(ProblemReport).where(ProblemReport.id.in_(loose))):
        neighbour.alert_id = alert.id
    alert.updated_at = now()
    if alert.status == "open":
        post_alert(ctx, alert, first=first)


def alert_reports(session: Session, alert_id: int) -> list[ProblemReport]:
    statement = select(ProblemReport).where(ProblemReport.alert_id == alert_id).order_by(ProblemReport.id)
    return list(session.scalars(statement))


def typical(session: Session, reports: Sequence[ProblemReport]) -> ProblemReport:
    """The report most like all the others (the highest total similarity; the earliest on a tie)."""
    terms = terms_of(session, [r.id for r in reports])
    return max(
        reports,
        key=lambda r: (sum(similarity(terms[r.id], terms[o.id]) for o in reports if o is not r), -r.id),
    )


def typical_title(session: Session, reports: Sequence[ProblemReport]) -> str:
    return shorten(" ".join(typical(session, reports).text.split()), TYPICAL_LENGTH)


def alert_topic(alert_id: int) -> str:
    """The alert's card in triage; declaring it turns the same message into the incident's card."""
    return f"problem:{alert_id}"


def post_alert(ctx: Context, alert: ProblemAlert, *, first: bool) -> None:
    """The alert's card: posted once, then replaced in place as reports join it."""
    reports = alert_reports(ctx.session, alert.id)
    people = len({r.person_email for r in reports})
    minutes = ctx.settings.incident_window_minutes
    title = typical_title(ctx.session, reports)
    shown = reports[-CARD_REPORTS:]
    more = [("", f"… and {len(reports) - len(shown)} earlier")] if len(reports) > len(shown) else []
    ctx.send(
        "#" + ctx.settings.triage_channel,
        f"Possible widespread problem: {len(reports)} similar reports from {people} people "
        f"(within {minutes} minutes of each other): {title}",
        [
            Button(f"incident.declare:{alert.id}", "Declare incident", "danger"),
            Button(f"incident.dismiss:{alert.id}", "Not related"),
        ],
        card=Card(f"Similar reports: {title}", (*more, *(report_line(r) for r in shown))),
        quoted=(title, *(r.text for r in shown)),
        topic=alert_topic(alert.id),
        update=not first,
    )


def report_line(report: ProblemReport) -> tuple[str, str]:
    """(when and who, what) — one report on a card."""
    where = f" · ticket #{report.ticket_id}" if report.ticket_id else f" · {report.source}"
    return f"{report.reported_at:%H:%M} {report.person_email}{where}", shorten(report.text, 200)
