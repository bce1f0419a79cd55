"""The digest on schedule and on demand: posted at its time on its days, once per day even from two
processes on one PostgreSQL; a manager asks for it in chat; `frontdesk digest --print` prints it."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.store.models import AuditRecord, OutboxMessage, Ticket
from handlers import digest_report
from tests.conftest import Harness, build_bot

ADA, GRACE, TESS = "ada@example.com", "grace@example.com", "tess@example.com"
TUESDAY = datetime(2026, 12, 1, 8, 29, tzinfo=UTC)


def run(h: Harness) -> list:  # type: ignore[no-untyped-def]
    before = len(h.recorder.delivered)
    h.bot.run_job("post_digest", digest_report.post_digest)
    h.bot.delivery.dispatcher.run_due()
    return h.recorder.delivered[before:]


def test_the_digest_is_posted_at_its_time_once_a_day(sqlite_url: str, frozen_clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bot, _ = build_bot(sqlite_url, digest_chart_dir=tmp_path)
    h = Harness(bot)
    frozen_clock(TUESDAY)
    assert run(h) == []  # 08:29: not yet
    frozen_clock(TUESDAY.replace(minute=31))
    posted = run(h)
    assert sorted(r.to for r in posted) == ["#digest", GRACE]  # the manager group, and the channel
    assert all("Service desk digest — 2026-11-30 (UTC)" in r.text for r in posted)
    assert [b.label for b in posted[0].buttons] == ["Open the queue", "Knowledge gaps"]
    chart = tmp_path / "digest-2026-11-30-2026-11-30.png"
    assert posted[0].attachment == str(chart) and chart.read_bytes()[:4] == b"\x89PNG"
    frozen_clock(TUESDAY.replace(hour=15))
    assert run(h) == []  # once per day
    with bot.sessions() as s:
        assert s.scalar(select(func.count()).where(AuditRecord.action == "digest.posted")) == 1
    frozen_clock(datetime(2026, 12, 2, 8, 30, tzinfo=UTC))
    assert len(run(h)) == 2  # the next day's


def test_no_digest_on_days_off_and_the_time_is_local(sqlite_url: str, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    bot, _ = build_bot(
        sqlite_url, timezone="America/New_York", digest_days="mon-fri", digest_recipients="tess@example.com"
    )
    h = Harness(bot)
    frozen_clock(datetime(2026, 12, 5, 15, 0, tzinfo=UTC))  # Saturday
    assert run(h) == []
    frozen_clock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))  # Tuesday, 04:00 in New York
    assert run(h) == []
    frozen_clock(datetime(2026, 12, 1, 13, 31, tzinfo=UTC))  # 08:31 in New York
    assert sorted(r.to for r in run(h)) == ["#digest", TESS]  # FRONTDESK_DIGEST_RECIPIENTS


def test_two_processes_on_one_postgresql_post_one_digest(fresh_postgres_url: str, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    frozen_clock(TUESDAY.replace(minute=45))
    bots = [build_bot(fresh_postgres_url)[0] for _ in range(2)]
    start = threading.Barrier(len(bots))

    def post(bot) -> None:  # type: ignore[no-untyped-def]
        start.wait()
        bot.run_job("post_digest", digest_report.post_digest)

    threads = [threading.Thread(target=post, args=(bot,)) for bot in bots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with bots[0].sessions() as s:
        rows = s.execute(
            select(OutboxMessage.recipient, func.count())
            .where(OutboxMessage.topic == "digest:2026-11-30")
            .group_by(OutboxMessage.recipient)
        ).all()
    assert sorted(rows) == [("#digest", 1), (GRACE, 1)]


def test_a_manager_asks_how_the_desk_is_doing(sqlite_url: str, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    frozen_clock(TUESDAY)
    bot, _ = build_bot(sqlite_url)
    h = Harness(bot)
    h.say(ADA, "talk to a human")
    h.say(ADA, "The projector shows no picture")
    h.say(ADA, "not urgent")
    week = h.say(GRACE, "how is the desk doing this week?")
    assert "Service desk digest — 2026-11-25 to 2026-12-01 (UTC)" in week[0].text
    assert "Tickets: 1 opened, 0 resolved, 1 unclaimed" in week[0].text
    assert "Service desk digest — 2026-11-30 (UTC)" in h.say(GRACE, "digest")[0].text
    assert "2026-11-24 to 2026-11-30" in h.say(GRACE, "digest 7")[0].text
    queue = h.press(GRACE, h.button(week, "Open the queue"))
    assert "Open tickets: 1" in queue[0].text
    assert "Questions nobody could answer" in h.press(GRACE, h.button(week, "Knowledge gaps"))[0].text
    assert "Service desk digest" not in " ".join(r.text for r in h.say(ADA, "digest"))  # not a manager
    assert "for the service desk" in h.press(ADA, "digest.queue")[0].text
    with bot.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1  # asking opened no ticket


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("digest", ("2026-11-30", 1)),
        ("Digest today", ("2026-12-01", 1)),
        ("how's the desk doing?", ("2026-11-30", 1)),
        ("How is the desk doing this week?", ("2026-12-01", 7)),
        ("digest 30 days", ("2026-11-30", 30)),
        ("digest the printer", None),
        ("what is a digest", None),
    ],
)
def test_the_period_asked_for(text: str, expected: tuple[str, int] | None) -> None:
    span = digest_report.asked_period(text, TUESDAY, "UTC")
    assert (None if span is None else (span.last.isoformat(), span.days)) == expected


def test_the_command_line_prints_the_digest_and_its_json(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import main

    build_bot(sqlite_url)  # the schema
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("FRONTDESK_DIGEST_CHART_DIR", str(tmp_path / "charts"))
    text = CliRunner().invoke(main, ["digest", "--print", "--date", "2026-11-30"], catch_exceptions=False)
    assert text.exit_code == 0, text.output
    assert "Service desk digest — 2026-11-30 (UTC)" in text.output
    chart = tmp_path / "charts" / "digest-2026-11-24-2026-11-30.png"
    week = CliRunner().invoke(main, ["digest", "--print", "--date", "2026-11-30", "--days", "7", "--json"])
    assert week.exit_code == 0, week.output
    report = json.loads(week.output)
    assert report["period"] == {"first": "2026-11-24", "last": "2026-11-30", "days": 7}
    assert report["chart"] == str(chart) and chart.read_bytes()[:4] == b"\x89PNG"
    assert {"requests", "automation", "kb", "tickets", "satisfaction", "trend"} <= report.keys()
    wrong = CliRunner().invoke(main, ["digest", "--print", "--date", "30/11/2026"])
    assert wrong.exit_code != 0 and "YYYY-MM-DD" in wrong.output
