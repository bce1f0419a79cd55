"""Bad input gets a clear answer and loses nothing: retries, stale buttons, huge messages, restarts,
crashes, and a database that is not there."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from bot.messages import Inbound, Person
from bot.store.models import Ticket, TicketEvent
from handlers import registry
from tests.conftest import Harness, build_bot

ADA, TESS = "ada@example.com", "tess@example.com"


def count(h: Harness, model: type) -> int:
    with h.bot.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_retried_delivery_acts_once(harness: Harness) -> None:
    harness.say(ADA, "talk to a human")
    harness.say(ADA, "keyboard is dead")
    first = harness.say(ADA, "urgent", event_id="evt-1")
    again = harness.say(ADA, "urgent", event_id="evt-1")
    assert first and again == []
    assert count(harness, Ticket) == 1


def test_retried_claim_acts_once(harness: Harness) -> None:
    harness.say(ADA, "talk to a human")
    harness.say(ADA, "keyboard is dead")
    harness.say(ADA, "urgent")
    harness.press(TESS, "ticket.claim:1", event_id="action-7")
    assert harness.press(TESS, "ticket.claim:1", event_id="action-7") == []
    with harness.bot.sessions() as s:
        claims = s.scalars(select(TicketEvent).where(TicketEvent.kind == "claimed")).all()
    assert len(claims) == 1


def test_unknown_button_is_explained(harness: Harness) -> None:
    replies = harness.press(ADA, "self.destruct:now")
    assert "don't know that button" in replies[0].text


def test_stale_flow_button_is_ignored_with_a_reason(harness: Harness) -> None:
    replies = harness.press(ADA, "new_ticket.urgency:urgent")
    assert replies[0].text == registry.STALE
    assert count(harness, Ticket) == 0


def test_someone_elses_question_button_does_nothing(harness: Harness) -> None:
    replies = harness.say(ADA, "how do I use the vpn")
    solved = harness.button(replies, "That solved it")
    assert "can't find that question" in harness.press("bob@example.com", solved)[0].text


def test_huge_message_is_refused_clearly(harness: Harness) -> None:
    replies = harness.say(ADA, "x" * 100_000)
    assert "too long" in replies[0].text and "100,000" in replies[0].text
    assert count(harness, Ticket) == 0


def test_empty_and_blank_messages_are_ignored(harness: Harness) -> None:
    assert harness.say(ADA, "") == [] and harness.say(ADA, "   \n ") == []


def test_unknown_person_is_still_served(harness: Harness) -> None:
    replies = harness.say("stranger@elsewhere.org", "talk to a human")
    assert "what's the problem" in replies[0].text.lower()


def test_restart_mid_conversation_resumes_the_flow(sqlite_url: str) -> None:
    first_bot, _ = build_bot(sqlite_url)
    Harness(first_bot).say(ADA, "talk to a human")
    Harness(first_bot).say(ADA, "my screen is cracked")
    restarted, _ = build_bot(sqlite_url)  # a new process: nothing in memory
    done = Harness(restarted).say(ADA, "urgent")
    assert "I've opened ticket #1" in Harness.to(done, ADA)[0].text
    with restarted.sessions() as s:
        assert s.get(Ticket, 1).problem == "my screen is cracked"


def test_a_crashing_handler_opens_a_ticket_instead_of_losing_the_request(sqlite_url: str) -> None:
    def broken_classifier(text: str) -> tuple[str | None, float]:
        raise RuntimeError("model file corrupt")

    bot, _ = build_bot(sqlite_url, classify=broken_classifier)
    replies = Harness(bot).say(ADA, "my laptop will not boot")
    mine = next(r for r in replies if r.to == ADA)
    assert "went wrong on my side" in mine.text and mine.ticket == 1
    assert any(r.to == "#triage" for r in replies)
    with bot.sessions() as s:
        assert s.get(Ticket, 1).problem == "my laptop will not boot"


def test_database_down_says_so_and_changes_nothing(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    bot, _ = build_bot(url)
    bot.sessions.kw["bind"].dispose()
    (tmp_path / "db.sqlite").unlink()
    (tmp_path / "db.sqlite").mkdir()  # the path is now a folder: SQLite cannot open it
    replies = bot.handle(Inbound(person=Person("test", ADA, ADA), text="talk to a human"))
    assert "can't reach my database" in replies[0].text and "nothing was changed" in replies[0].text


def test_read_only_database_is_a_clear_error_at_start(tmp_path, monkeypatch, capsys) -> None:
    from click.testing import CliRunner

    from bot.cli import main

    path = tmp_path / "ro.db"
    build_bot(f"sqlite:///{path}")
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///file:{path}?mode=ro&uri=true")
    result = CliRunner().invoke(main, ["chat", "--as", "ada@example.com"], input="talk to a human\n")
    assert result.exit_code == 1
    assert "read-only" in result.output and "frontdesk needs to write" in result.output


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("FRONTDESK_SMTP_PORT", "twenty-five", "FRONTDESK_SMTP_PORT"),
        ("FRONTDESK_DIRECTORY", "carrier-pigeon", "FRONTDESK_DIRECTORY"),
        ("FRONTDESK_RESET_VERIFICATION", "vibes", "FRONTDESK_RESET_VERIFICATION"),
        ("FRONTDESK_DEMO_DIRECTORY", "/nowhere/people.yaml", "FRONTDESK_DEMO_DIRECTORY"),
    ],
)
def test_wrong_settings_name_the_variable(monkeypatch, variable: str, value: str, expected: str) -> None:
    from click.testing import CliRunner

    from bot.cli import main

    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(main, ["tickets", "list"])
    assert result.exit_code == 1 and expected in result.output and "Traceback" not in result.output


def test_ldap_without_its_settings_names_what_is_missing(monkeypatch) -> None:
    from bot.settings import SettingsError, load_settings

    monkeypatch.setenv("FRONTDESK_DIRECTORY", "ldap")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "FRONTDESK_LDAP_URL" in str(raised.value) and "FRONTDESK_LDAP_BIND_PASSWORD" in str(raised.value)


def test_secrets_are_redacted_from_log_lines() -> None:
    from bot import logs

    stream = io.StringIO()
    logs.configure_logging("DEBUG", "json", stream=stream)
    logs.register_secret("Tr0ub4dor&3-xyz")
    import logging

    import structlog

    structlog.get_logger("t").info("reset_done", password="hunter2-hunter2", note="temp is Tr0ub4dor&3-xyz")
    logging.getLogger("ldap3").warning("EXTENDED request with Tr0ub4dor&3-xyz")
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert "Tr0ub4dor&3-xyz" not in text and "hunter2-hunter2" not in text
    assert lines[0]["password"] == "[redacted]" and "[redacted]" in lines[0]["note"]
    logs.forget_secret("Tr0ub4dor&3-xyz")


# --- deferred effects and flow-end hooks (bot/engine.py) ------------------------------------------------

EFFECT_LOG: list[str] = []


@registry.action("test.defer")
def _defer(ctx, argument: str) -> None:
    """A test-only button: records a ticket now, and defers `argument` (ok | fail_before | fail_after)."""
    from handlers import tickets

    ticket = tickets.open_ticket(ctx, problem="deferred work", urgent=False)
    ctx.reply(f"queued #{ticket.id}")

    def effect(fresh) -> None:
        committed = fresh.session.get(Ticket, ticket.id) is not None  # the event's commit is visible
        EFFECT_LOG.append(f"ran committed={committed}")
        if argument == "fail_before":
            raise RuntimeError("broke before acting")
        EFFECT_LOG.append("acted outside")
        fresh.outbox.happened(action="test.acted", target=fresh.speaker.email, result="success")
        fresh.reply("done outside")
        if argument == "fail_after":
            raise RuntimeError("broke after acting")

    ctx.after_commit(effect)


@registry.flow("test.flow")
def _in_test_flow(ctx, text: str) -> None:
    ctx.reply("still in the test flow")


@registry.action("test.enter")
def _enter_test_flow(ctx, argument: str) -> None:
    ctx.state.start("test.flow", "one", token=argument)
    ctx.reply("in")


@registry.on_end("test.flow")
def _left_test_flow(ctx, data: dict) -> None:
    EFFECT_LOG.append(f"left {data.get('token')}")


@pytest.fixture
def effect_log() -> list[str]:
    EFFECT_LOG.clear()
    return EFFECT_LOG


def test_effects_run_after_the_commit_and_their_replies_follow(harness: Harness, effect_log) -> None:
    replies = harness.press(ADA, "test.defer:ok")
    assert [r.text for r in Harness.to(replies, ADA)] == ["queued #1", "done outside"]
    assert effect_log == ["ran committed=True", "acted outside"]


def test_an_effect_failing_before_acting_says_so_and_keeps_the_event(harness: Harness, effect_log) -> None:
    replies = harness.press(ADA, "test.defer:fail_before", event_id="evt-f")
    mine = [r.text for r in Harness.to(replies, ADA)]
    assert mine[0] == "queued #1" and "went wrong on my side before I could finish" in mine[1]
    assert count(harness, Ticket) == 1  # the event's own work stays committed
    assert harness.press(ADA, "test.defer:fail_before", event_id="evt-f") == []  # and is not redone


def test_an_effect_failing_after_acting_still_delivers_and_logs_the_audit(
    harness: Harness, effect_log
) -> None:
    from bot import logs

    stream = io.StringIO()
    logs.configure_logging("INFO", "json", stream=stream)
    replies = harness.press(ADA, "test.defer:fail_after")
    assert [r.text for r in Harness.to(replies, ADA)] == ["queued #1", "done outside"]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    fallback = [line for line in lines if line["event"] == "audit_not_recorded"]
    assert fallback and fallback[0]["level"] == "error" and "test.acted" in str(fallback[0]["audit"])


@pytest.mark.parametrize("leave", ["cancel", "another flow", "timeout"])
def test_leaving_a_flow_in_any_way_runs_its_end_hook(
    sqlite_url: str, effect_log, leave: str, frozen_clock
) -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    h = Harness(build_bot(sqlite_url, conversation_timeout_minutes=5)[0])
    h.press(ADA, "test.enter:first")
    assert h.say(ADA, "anything")[0].text == "still in the test flow"
    assert effect_log == []
    if leave == "cancel":
        h.say(ADA, "cancel")
    elif leave == "another flow":
        h.press(ADA, "test.enter:second")
    else:
        frozen_clock(start + timedelta(minutes=6))
        h.say(ADA, "hello")
    assert effect_log == ["left first"]
