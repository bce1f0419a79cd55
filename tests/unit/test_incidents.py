"""Widespread problems end to end, with a controlled clock, on SQLite and PostgreSQL: a burst of similar
reports raises one alert (later ones update it), too few people or unrelated reports raise none, old
reports don't count; a declared incident tells new reporters it is known instead of opening tickets, and
resolving it tells each linked person exactly once. With the semantic model, reports in other words for
the same problem cluster too (and near misses do not), across processes sharing the database."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from bot.clock import now
from bot.knowledge import KnowledgeService
from bot.messages import Reply
from bot.settings import load_settings
from bot.store.models import AuditRecord, Incident, KbArticle, ProblemAlert, ProblemReport, Ticket
from handlers import digest, digest_report
from handlers.problems import content_terms, similarity
from handlers.report_vectors import ReportVectors, to_bytes
from kb import semantic
from kb.index import open_folder
from kb.lexical import normalise_query
from tests.conftest import Harness, build_bot

ADA, BOB, GRACE, SAM, LEE = (f"{n}@example.com" for n in ("ada", "bob", "grace", "sam", "lee"))
TESS = "tess@example.com"
TRIAGE = "#triage"
OUTLOOK = (
    "Outlook won't open, it crashes on start",
    "outlook crashes when I open it",
    "My Outlook keeps crashing",
    "outlook crashed again",
    "Outlook crashes on startup",
    "outlook is crashing for me too",
    "outlook crash every time",
)


WIFI = (
    "the wifi on the 3rd floor keeps dropping",
    "wifi keeps dropping on floor 3",
    "wi-fi on the third floor is dropping all the time",
    "third floor wifi dropping constantly",
    "wifi dropping on 3rd floor, cant stay connected",
)
FIVE_FROM_FOUR = (ADA, BOB, GRACE, SAM, ADA)
needs_model = pytest.mark.skipif(
    not semantic.available(), reason="the semantic model is not installed (requirements-model.txt)"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    return sqlite_url if request.param == "sqlite" else str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture
def h(url: str, clock: Callable[..., None]) -> Harness:
    return Harness(build_bot(url)[0])


def alerts_posted(h: Harness) -> list[Reply]:
    """Alerts that reached triage as new messages (an update replaces; it is not a new alert)."""
    return [
        r
        for r in h.recorder.delivered
        if r.to == TRIAGE and r.topic.startswith("problem:") and r not in h.recorder.updated
    ]


def count(h: Harness, model: type, *conditions: object) -> int:
    with h.bot.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)  # type: ignore[arg-type]


def burst(h: Harness, clock: Callable[..., None], people: tuple[str, ...], texts: tuple[str, ...]) -> None:
    for who, text in zip(people, texts, strict=True):
        h.say(who, text)
        clock(minutes=2)


FIVE_FROM_THREE = (ADA, BOB, GRACE, ADA, BOB)


def declared(h: Harness, clock: Callable[..., None]) -> int:
    burst(h, clock, FIVE_FROM_THREE, OUTLOOK[:5])
    h.press(TESS, h.button(alerts_posted(h), "Declare incident"))
    with h.bot.sessions() as s:
        return int(s.scalar(select(Incident.id)) or 0)


def test_content_terms_leave_out_what_every_complaint_says() -> None:
    assert content_terms("My Outlook is not working, it keeps crashing!") == ["outlook", "crash"]
    assert content_terms("it's not working, help") == []
    assert similarity(["outlook", "crash"], ["outlook", "crash", "startup"]) == pytest.approx(2 / 6**0.5)


def test_five_similar_reports_from_three_people_raise_one_alert_and_a_sixth_updates_it(
    h: Harness, clock: Callable[..., None]
) -> None:
    burst(h, clock, FIVE_FROM_THREE[:4], OUTLOOK[:4])
    assert alerts_posted(h) == []  # four is not five
    burst(h, clock, FIVE_FROM_THREE[4:], OUTLOOK[4:5])
    [alert] = alerts_posted(h)
    assert "5 similar reports from 3 people" in alert.text
    assert [b.label for b in alert.buttons] == ["Declare incident", "Not related"]
    assert alert.card is not None
    who = [label for label, _ in alert.card.fields]
    assert sum(ADA in label for label in who) == 2 and sum(GRACE in label for label in who) == 1
    assert any("crashed again" in value for _, value in alert.card.fields)  # what, as they said it
    assert any(label.startswith("09:") for label in who)  # when
    h.say(SAM, OUTLOOK[5])
    assert len(alerts_posted(h)) == 1  # no second alert
    [update] = [r for r in h.recorder.updated if r.topic == alert.topic]
    assert "6 similar reports from 4 people" in update.text
    assert count(h, ProblemAlert) == 1


def test_five_similar_reports_from_two_people_raise_none(h: Harness, clock: Callable[..., None]) -> None:
    burst(h, clock, (ADA, BOB, ADA, BOB, ADA), OUTLOOK[:5])
    assert alerts_posted(h) == [] and count(h, ProblemAlert) == 0
    assert count(h, ProblemReport) == 5  # recorded all the same


def test_unrelated_reports_raise_none(h: Harness, clock: Callable[..., None]) -> None:
    burst(
        h,
        clock,
        (ADA, BOB, GRACE, SAM, LEE, ADA),
        (
            "how do I add a signature in outlook",
            "my laptop battery drains fast",
            "excel is slow with big files",
            "outlook crashes when I open it",
            "the projector in room 4 shows no picture",
            "how do I share my calendar in outlook",
        ),
    )
    assert alerts_posted(h) == []


def test_reports_outside_the_window_do_not_count(h: Harness, clock: Callable[..., None]) -> None:
    burst(h, clock, (ADA, BOB), OUTLOOK[:2])
    clock(minutes=31)  # those two are now older than the 30-minute window
    burst(h, clock, (GRACE, SAM, LEE), OUTLOOK[2:5])
    assert alerts_posted(h) == []
    h.say(ADA, OUTLOOK[5])  # now four in the window: still not five
    assert alerts_posted(h) == []
    h.say(BOB, OUTLOOK[6])
    assert len(alerts_posted(h)) == 1


def test_not_related_keeps_the_cluster_quiet_for_the_window(h: Harness, clock: Callable[..., None]) -> None:
    burst(h, clock, FIVE_FROM_THREE, OUTLOOK[:5])
    dismiss = h.button(alerts_posted(h), "Not related")
    assert "technician" in h.press(ADA, dismiss)[0].text.lower()  # only technicians decide
    assert count(h, ProblemAlert, ProblemAlert.status == "open") == 1
    h.press(TESS, dismiss)
    updates_before = len(h.recorder.updated)
    burst(h, clock, (SAM, LEE), OUTLOOK[5:7])
    assert len(alerts_posted(h)) == 1 and len(h.recorder.updated) == updates_before  # silent
    assert count(h, AuditRecord, AuditRecord.action == "incident.dismiss") == 1


def test_a_new_reporter_of_a_declared_incident_is_told_and_linked_and_gets_no_ticket(
    h: Harness, clock: Callable[..., None]
) -> None:
    incident_id = declared(h, clock)
    assert incident_id and count(h, AuditRecord, AuditRecord.action == "incident.declare") == 1
    with h.bot.sessions() as s:
        title = s.get(Incident, incident_id).title  # type: ignore[union-attr]
    assert "crash" in title.lower()
    tickets_before = count(h, Ticket)
    replies = Harness.to(h.say(SAM, "outlook crashes all the time"), SAM)
    assert f"This looks like a known problem: {title}" in replies[0].text
    assert "I'll tell you when it's fixed" in replies[0].text
    assert [b.label for b in replies[0].buttons] == ["I still need a ticket"]
    # "talk to a human" about the same problem: told the same, no ticket either
    h.say(LEE, "talk to a human")
    assert "known problem" in Harness.to(h.say(LEE, "outlook keeps crashing on me"), LEE)[0].text
    assert count(h, Ticket) == tickets_before
    with h.bot.sessions() as s:
        reporters = select(ProblemReport.person_email).where(ProblemReport.incident_id == incident_id)
        linked = set(s.scalars(reporters))
    assert {SAM, LEE} <= linked
    # Sam insists: a ticket of their own, part of the incident, whose card names it
    h.press(SAM, h.button(replies, "I still need a ticket"))
    h.say(SAM, "not urgent")
    assert count(h, Ticket) == tickets_before + 1
    with h.bot.sessions() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.requester_email == SAM)).one()
        assert ticket.incident_id == incident_id
        ticket_id = ticket.id
    card = Harness.to(h.say(TESS, f"show {ticket_id}"), TESS)[0].card
    assert card is not None and (f"#{incident_id} (open): {title}") in dict(card.fields)["Incident"]


def test_resolving_tells_each_linked_person_exactly_once(h: Harness, clock: Callable[..., None]) -> None:
    incident_id = declared(h, clock)
    h.say(SAM, OUTLOOK[5])  # linked as a new reporter
    listing = Harness.to(h.say(TESS, "incidents"), TESS)[0]
    assert listing.text.startswith("Open incidents: 1\n") and "4 people" in listing.text
    h.say(TESS, f"incident {incident_id} cause A bad add-in update was pushed overnight")
    resolve = f"incident.resolve:{incident_id}"
    h.press(TESS, resolve)
    h.say(TESS, "Rolled the add-in back; restart Outlook")
    h.press(TESS, resolve)  # pressed twice
    h.say(TESS, f"incident {incident_id} resolve Rolled back again")  # and typed once more
    fixed = [r for r in h.recorder.delivered if r.text.startswith("Fixed:")]
    assert sorted(r.to for r in fixed) == sorted([ADA, BOB, GRACE, SAM])
    assert all("Rolled the add-in back" in r.text for r in fixed)
    with h.bot.sessions() as s:
        incident = s.get(Incident, incident_id)
        assert incident is not None and incident.status == "resolved"
        assert incident.root_cause == "A bad add-in update was pushed overnight"
    assert count(h, AuditRecord, AuditRecord.action == "incident.resolve") == 1
    assert "already resolved" in Harness.to(h.sent, TESS)[-1].text
    assert "Recently resolved:" in Harness.to(h.say(TESS, "incidents"), TESS)[0].text


def test_only_technicians_declare_or_resolve(h: Harness, clock: Callable[..., None]) -> None:
    burst(h, clock, FIVE_FROM_THREE, OUTLOOK[:5])
    declare = h.button(alerts_posted(h), "Declare incident")
    assert "technician" in h.press(GRACE, declare)[0].text.lower()
    assert count(h, Incident) == 0
    h.press(TESS, declare)
    assert "already declared" in h.press(TESS, declare)[0].text  # the first press won
    assert "technician command" in h.say(ADA, "incident 1 resolve it's fine")[0].text
    assert count(h, Incident, Incident.status == "open") == 1


def test_the_digest_lists_the_incidents_open_at_the_end_of_the_day(h: Harness) -> None:
    def at(day: int, hour: int) -> datetime:
        return datetime(2026, 11, day, hour, tzinfo=UTC)

    seeded = [  # (title, declared, resolved)
        ("Outlook crashes on start", at(29, 9), None),  # open at the end of the 30th
        ("VPN down", at(30, 10), at(30, 15)),  # declared and resolved on the 30th: not open
        ("Wifi on floor 3", at(28, 8), datetime(2026, 12, 1, 9, tzinfo=UTC)),  # resolved the day after
        ("Printers offline", datetime(2026, 12, 1, 7, tzinfo=UTC), None),  # declared the day after
    ]
    with h.bot.sessions.begin() as s:
        for title, declared_at, resolved_at in seeded:
            s.add(
                Incident(
                    status="resolved" if resolved_at else "open",
                    title=title,
                    declared_by=TESS,
                    declared_at=declared_at,
                    resolved_at=resolved_at,
                )
            )
    with h.bot.sessions() as s:
        numbers = digest.figures(s, h.bot.services.settings, digest.period(date(2026, 11, 30), 1, "UTC"))
    assert numbers["incidents"] == {
        "open": 2,
        "titles": [{"id": 3, "title": "Wifi on floor 3"}, {"id": 1, "title": "Outlook crashes on start"}],
        "declared": 1,
        "resolved": 1,
    }
    assert (
        "Open incidents: 2 (1 declared, 1 resolved in the period): #3 Wifi on floor 3; "
        "#1 Outlook crashes on start" in digest_report.render(numbers)
    )


def test_publish_as_known_issue_makes_an_article_the_knowledge_base_finds(
    sqlite_url: str, tmp_path: Path, clock: Callable[..., None]
) -> None:
    h = Harness(build_bot(sqlite_url)[0])
    incident_id = declared(h, clock)
    publish = f"incident.publish:{incident_id}"
    assert "Resolve incident" in h.press(TESS, publish)[0].text  # nothing to say how it was fixed yet
    h.say(TESS, f"incident {incident_id} cause A bad add-in update")
    h.say(TESS, f"incident {incident_id} resolve Rolled the add-in back; then restart Outlook")
    draft = h.press(TESS, publish)[0]
    assert draft.text == f"Draft known issue from incident #{incident_id}:" and draft.card is not None
    body = dict(draft.card.fields)["Body"]
    assert "**Cause:** A bad add-in update" in body and "2. Restart Outlook." in body
    assert "Published" in h.press(TESS, "publish.confirm")[0].text
    with h.bot.sessions() as s:
        incident = s.get(Incident, incident_id)
        assert incident is not None and incident.article_id
        article = s.get(KbArticle, incident.article_id)
        assert article is not None and article.tags == ["known-issue"] and article.source_ticket_id is None
    assert "already published" in h.press(TESS, publish)[0].text
    folder = tmp_path / "articles"
    folder.mkdir()
    vpn = "---\ntitle: Connect to the VPN\n---\nOpen the VPN app.\n"
    (folder / "vpn.md").write_text(vpn, encoding="utf-8")
    service = KnowledgeService(folder, semantic=False, recheck_seconds=0)
    with h.bot.sessions() as s:
        found = service.for_session(s).search("outlook keeps crashing when it starts")
    assert found.answer is not None and found.answer.article.id == incident.article_id
    assert count(h, AuditRecord, AuditRecord.action == "incident.publish_draft") == 1


def test_technicians_link_and_unlink_tickets_and_resolving_resolves_them(
    h: Harness, clock: Callable[..., None]
) -> None:
    for line in ("talk to a human", "my keyboard is dead", "not urgent"):
        h.say(ADA, line)  # ticket #1, about something else at first sight
    incident_id = declared(h, clock)
    told = Harness.to(h.say(TESS, f"incident {incident_id} link 1"), ADA)
    assert "Your ticket #1 is part of a known problem" in told[0].text
    card = Harness.to(h.say(TESS, "show 1"), TESS)[0].card
    assert card is not None and dict(card.fields)["Incident"].startswith(f"#{incident_id} (open)")
    h.say(TESS, f"incident {incident_id} unlink 1")
    card = Harness.to(h.say(TESS, "show 1"), TESS)[0].card
    assert card is not None and "Incident" not in dict(card.fields)
    h.say(TESS, f"incident {incident_id} link 1")
    h.say(TESS, f"incident {incident_id} resolve Rolled the add-in back")
    with h.bot.sessions() as s:
        ticket = s.get(Ticket, 1)
        assert ticket is not None and ticket.status == "resolved"
        assert ticket.resolution == f"Fixed with incident #{incident_id}: Rolled the add-in back"
    to_ada = [r for r in h.recorder.delivered if r.to == ADA and r.text.startswith("Fixed:")]
    assert len(to_ada) == 1  # a reporter and a requester, told once
    assert "Your ticket #1 is resolved with it" in to_ada[0].text
    assert "5 great" in [b.label for b in to_ada[0].buttons]
    actions = ("incident.link", "incident.unlink")
    assert count(h, AuditRecord, AuditRecord.action.in_(actions)) == 3


def test_a_resolution_prompt_left_too_long_tells_nobody(h: Harness, clock: Callable[..., None]) -> None:
    incident_id = declared(h, clock)
    h.press(TESS, f"incident.resolve:{incident_id}")
    clock(minutes=11)
    assert "expired" in h.say(TESS, "Rolled the add-in back")[0].text
    assert not [r for r in h.recorder.delivered if r.text.startswith("Fixed:")]
    assert count(h, Incident, Incident.status == "open") == 1


def test_an_incident_command_in_a_pending_ticket_reply_is_a_command(
    h: Harness, clock: Callable[..., None]
) -> None:
    for line in ("talk to a human", "my keyboard is dead", "not urgent"):
        h.say(ADA, line)
    incident_id = declared(h, clock)
    h.press(TESS, "ticket.reply:1")
    h.say(TESS, f"incident {incident_id} cause A bad add-in update")
    assert not [r for r in h.recorder.delivered if r.to == ADA and "add-in" in r.text]
    with h.bot.sessions() as s:
        assert s.get(Incident, incident_id).root_cause == "A bad add-in update"  # type: ignore[union-attr]


def test_reports_checked_at_once_in_several_processes_raise_one_alert(h: Harness) -> None:
    """Four reports from three people wait for a fifth; four people send it at the same moment (threads
    with their own database connections, as processes would have): one alert, the others join it."""
    burst(h, lambda **_: None, (ADA, BOB, GRACE, ADA), OUTLOOK[:4])
    senders = (BOB, SAM, LEE, GRACE)
    barrier = threading.Barrier(len(senders))

    def report(email: str, text: str) -> None:
        barrier.wait()
        Harness(h.bot).say(email, text)

    fifths = OUTLOOK[4:] + OUTLOOK[:1]
    threads = [threading.Thread(target=report, args=pair) for pair in zip(senders, fifths, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert count(h, ProblemAlert) == 1
    assert count(h, ProblemReport, ProblemReport.alert_id.is_not(None)) == 8


def test_a_ticket_asked_for_before_the_incident_was_declared_joins_it(
    h: Harness, clock: Callable[..., None]
) -> None:
    h.say(LEE, "talk to a human")
    h.say(LEE, "outlook crashes constantly")  # no incident yet: asked how urgent
    incident_id = declared(h, clock)
    replies = Harness.to(h.say(LEE, "not urgent"), LEE)
    with h.bot.sessions() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.requester_email == LEE)).one()
        assert ticket.incident_id == incident_id
    assert any(f"Your ticket #{ticket.id} is part of a known problem" in r.text for r in replies)


# --- similar by meaning (the semantic model) -----------------------------------------------------------


@needs_model
def test_the_same_problem_in_other_words_raises_one_alert(h: Harness, clock: Callable[..., None]) -> None:
    assert h.bot.services.report_vectors is not None  # the default install compares by meaning too
    burst(h, clock, FIVE_FROM_FOUR, WIFI)
    [alert] = alerts_posted(h)
    assert "5 similar reports from 4 people" in alert.text
    assert count(h, ProblemReport, ProblemReport.alert_id.is_not(None)) == 5


@needs_model
def test_an_outlook_crash_burst_is_not_joined_by_signature_questions(
    h: Harness, clock: Callable[..., None]
) -> None:
    burst(h, clock, FIVE_FROM_THREE, OUTLOOK[:5])
    [alert] = alerts_posted(h)
    signatures = ("can't add a signature in outlook", "how do I add a signature in outlook")
    burst(h, clock, (SAM, LEE), signatures)
    assert len(alerts_posted(h)) == 1 and not [r for r in h.recorder.updated if r.topic == alert.topic]
    assert count(h, ProblemReport, ProblemReport.alert_id.is_not(None)) == 5
    h.say(SAM, "outlook keeps crashing on startup")  # the same problem still joins
    [update] = [r for r in h.recorder.updated if r.topic == alert.topic]
    assert "6 similar reports from 4 people" in update.text


@needs_model
def test_a_new_wording_of_a_declared_incident_is_told_it_is_known(
    h: Harness, clock: Callable[..., None]
) -> None:
    burst(h, clock, FIVE_FROM_FOUR, WIFI)
    h.press(TESS, h.button(alerts_posted(h), "Declare incident"))
    replies = Harness.to(h.say(LEE, "3rd floor wireless keeps disconnecting me"), LEE)
    assert "This looks like a known problem" in replies[0].text


@needs_model
def test_a_second_process_sees_the_reports_the_first_recorded(url: str, clock: Callable[..., None]) -> None:
    first, second = Harness(build_bot(url)[0]), Harness(build_bot(url)[0])
    assert first.bot.services.report_vectors is not second.bot.services.report_vectors  # one cache each
    second.say(LEE, "the printer on the 2nd floor is out of toner")  # its cache is warm, then left behind
    burst(first, clock, FIVE_FROM_FOUR[:4], WIFI[:4])
    second.say(ADA, WIFI[4])
    [alert] = alerts_posted(second)
    assert "5 similar reports from 4 people" in alert.text
    first.say(LEE, "wifi on floor three dropping for me too")  # and the first catches up with the second
    [update] = [r for r in first.recorder.updated if r.topic == alert.topic]
    assert "6 similar reports from 5 people" in update.text


@pytest.fixture
def lexical(url: str, clock: Callable[..., None]) -> Harness:
    return Harness(build_bot(url, kb_semantic="off")[0])


def test_a_lexical_only_bot_detects_by_terms_as_before(lexical: Harness, clock: Callable[..., None]) -> None:
    assert lexical.bot.services.report_vectors is None
    burst(lexical, clock, FIVE_FROM_THREE, OUTLOOK[:5])
    [alert] = alerts_posted(lexical)
    assert "5 similar reports from 3 people" in alert.text
    assert count(lexical, ProblemReport, ProblemReport.vector.is_not(None)) == 0  # no model, no vectors
    clock(minutes=31)
    burst(lexical, clock, FIVE_FROM_FOUR, WIFI)
    assert len(alerts_posted(lexical)) == 1  # the wordings share too few terms: what the model adds


@needs_model
def test_the_semantic_bar_separates_same_problems_from_near_misses() -> None:
    """The examples the default (FRONTDESK_INCIDENT_SEMANTIC_SIMILARITY) was chosen with."""
    bar = load_settings(database_url="sqlite://").incident_semantic_similarity
    vectors = ReportVectors(semantic.Encoder.shared().encode_query)

    def cosine(a: str, b: str) -> float:
        return float(vectors.embed(a) @ vectors.embed(b))

    assert cosine("outlook crashes when I open it", "outlook keeps crashing on startup") >= bar
    assert cosine("the internet is down in the london office", "no network in London office") >= bar
    assert cosine("outlook crashes when I open it", "can't add a signature in outlook") < bar
    assert cosine(WIFI[0], "the printer on the 2nd floor is out of toner") < bar


def test_the_window_cache_loads_late_commits_and_forgets_old_reports(sqlite_url: str) -> None:
    """A report committed after a higher id was loaded (another process's) is still found, a rolled-back
    report being checked is not remembered under the id SQLite gives again; one that left
    the window is dropped."""
    bot, _ = build_bot(sqlite_url, kb_semantic="off")
    probe = np.zeros(semantic.DIMENSIONS, dtype=np.float32)
    probe[0] = 1.0
    vectors = ReportVectors(lambda _text: probe)

    def add(report_id: int, minutes_ago: float) -> None:
        with bot.sessions.begin() as s:
            s.add(
                ProblemReport(
                    id=report_id,
                    person_email=ADA,
                    source="question",
                    text="x",
                    term_count=1,
                    reported_at=now() - timedelta(minutes=minutes_ago),
                    vector=to_bytes(probe),
                )
            )

    def found(window_minutes: float) -> set[int]:
        with bot.sessions() as s:
            since = now() - timedelta(minutes=window_minutes)
            return set(vectors.similar(s, probe, 0.9, since=since, exclude=None))

    add(10, 20)
    assert found(30) == {10}
    add(7, 5)  # a lower id, visible only now
    assert found(30) == {7, 10}
    assert found(10) == {7}  # 10 left the window
    other = np.roll(probe, 1)  # what the rolled-back report said: unlike the probe
    with bot.sessions() as s:  # the report being checked, rolled back: its id is not taken as seen
        s.add(
            ProblemReport(
                id=11,
                person_email=ADA,
                source="question",
                text="x",
                term_count=1,
                reported_at=now(),
                vector=to_bytes(other),
            )
        )
        s.flush()
        assert vectors.similar(s, probe, 0.9, since=now() - timedelta(minutes=10), exclude=11) == {7: 1.0}
        s.rollback()
    add(11, 1)  # SQLite gives the id again; this report is like the probe
    assert found(10) == {7, 11}


@needs_model
def test_an_unanswered_question_is_embedded_once_for_search_and_detection(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The knowledge base's query vector is the report's: the model runs once for both."""
    folder = tmp_path / "articles"
    folder.mkdir()
    article = "---\nid: vpn\ntitle: Connect to the VPN\n---\nOpen the VPN app.\n"
    (folder / "vpn.md").write_text(article, encoding="utf-8")
    knowledge, _ = open_folder(folder, semantic=True)
    model = semantic.Encoder.shared()._model
    embedded: list[str] = []
    encode = model.encode

    def counting(texts: list[str], *args: object, **kwargs: object) -> np.ndarray:
        embedded.extend(texts)
        return encode(texts, *args, **kwargs)

    monkeypatch.setattr(model, "encode", counting)
    bot, _ = build_bot(sqlite_url, knowledge=knowledge)
    question = "the printer on floor 7 prints blank pages since noon"
    Harness(bot).say(ADA, question)
    assert count(Harness(bot), ProblemReport, ProblemReport.vector.is_not(None)) == 1
    assert embedded == [normalise_query(question)]  # searched, recorded and checked: one pass
