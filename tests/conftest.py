"""Fixtures shared by the whole suite: a bot on a throwaway database, and the real test servers."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from automations.demo_directory import DemoDirectory
from bot.bootstrap import App, build_app
from bot.clock import set_clock
from bot.engine import Bot
from bot.messages import Inbound, Person, Reply
from bot.settings import load_settings
from handlers.context import Services
from tests import fakes

pytest_plugins = [
    "tests.servers.postgres",
    "tests.servers.smtp",
    "tests.servers.directory",
    "tests.servers.fake_slack",
    "tests.servers.fake_entra",
    "tests.servers.fake_teams",
]

DIRECTORY = {
    "people": [
        {
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "title": "Analyst",
            "department": "Finance",
            "location": "London",
            "manager": "grace@example.com",
            "groups": ["finance"],
            "recovery_email": "ada.home@example.net",
        },
        {
            "email": "bob@example.com",
            "name": "Bob Marley",
            "title": "Sales",
            "department": "Sales",
            "location": "Kingston",
            "manager": "grace@example.com",
            "locked": True,
        },
        {
            "email": "rita@example.com",
            "name": "Rita Root",
            "title": "Admin",
            "department": "IT",
            "manager": "grace@example.com",
            "groups": ["domain-admins"],
            "recovery_email": "rita@example.net",
        },
        {
            "email": "dan@example.com",
            "name": "Dan Gone",
            "title": "Former",
            "department": "Sales",
            "manager": "grace@example.com",
            "disabled": True,
            "recovery_email": "dan@example.net",
        },
        {
            "email": "tess@example.com",
            "name": "Tess Tech",
            "title": "Technician",
            "department": "IT",
            "groups": ["it-support"],
        },
        {
            "email": "tom@example.com",
            "name": "Tom Fixit",
            "title": "Technician",
            "department": "IT",
            "groups": ["it-support"],
        },
        {
            "email": "grace@example.com",
            "name": "Grace Hopper",
            "title": "IT Manager",
            "department": "IT",
            "groups": ["it-managers"],
        },
    ],
    "groups": [
        {"name": "it-support"},
        {"name": "it-managers"},
        {"name": "finance"},
        {"name": "domain-admins", "protected": True},
    ],
}


class Harness:
    """Drive the bot as people would: say things, press buttons, read what each person received.

    What `say` and `press` return is what the event said, checked to have reached the platform through
    the outbox (the recorder); the background dispatcher's work (email) is done before they return.
    """

    def __init__(self, bot: Bot, *, platform_up: bool = True) -> None:
        self.bot = bot
        self.platform_up = platform_up  # False: a test of outages, where "said" need not have arrived
        self.sent: list[Reply] = []
        self.recorder: fakes.RecordingDeliverer = bot.delivery.deliverers["test"]  # type: ignore[assignment]

    def say(
        self, email: str, text: str, *, event_id: str | None = None, thread: int | None = None
    ) -> list[Reply]:
        return self._deliver(
            Inbound(person=Person("test", email, email), text=text, event_id=event_id, thread_ticket=thread)
        )

    def press(self, email: str, button_id: str, *, event_id: str | None = None) -> list[Reply]:
        return self._deliver(
            Inbound(person=Person("test", email, email), action=button_id, event_id=event_id)
        )

    def _deliver(self, inbound: Inbound) -> list[Reply]:
        replies = self.bot.handle(inbound)
        self._wait_delivered(replies)
        self.sent += replies
        return replies

    def _wait_delivered(self, replies: list[Reply]) -> None:
        """Every reply the event produced reached the platform through the outbox (another thread's row to
        the same channel may hold one up for a moment); emails go out as the background dispatcher would."""
        for _ in range(100 if self.platform_up else 1):
            self.bot.delivery.dispatcher.run_due()
            if not self.platform_up:
                return
            missing = [r for r in replies if r not in self.recorder.delivered]
            if not missing:
                return
            time.sleep(0.01)
        raise AssertionError(f"said but never delivered: {[r.text for r in missing]}")

    @staticmethod
    def to(replies: list[Reply], recipient: str) -> list[Reply]:
        return [r for r in replies if r.to == recipient]

    @staticmethod
    def button(replies: list[Reply], label: str) -> str:
        for reply in reversed(replies):
            for button in reply.buttons:
                if button.label.lower() == label.lower():
                    return button.id
        raise AssertionError(f"no button {label!r} in {[[b.label for b in r.buttons] for r in replies]}")


def build_bot(
    database_url: str,
    *,
    knowledge: Any = None,
    classify: Callable[..., Any] | None = None,
    directory: Any = None,
    **settings: Any,
) -> tuple[Bot, Services]:
    app = build_app_for_tests(
        database_url, knowledge=knowledge, classify=classify, directory=directory, **settings
    )
    return app.bot, app.services


def build_app_for_tests(
    database_url: str,
    *,
    knowledge: Any = None,
    classify: Callable[..., Any] | None = None,
    directory: Any = None,
    chat: Sequence[Any] | None = None,
    **settings: Any,
) -> App:
    """The bot as bootstrap wires it, on the test directory, a fake KB and intents, and a recorder."""
    defaults = {"technician_group": "it-support", "manager_group": "it-managers"}
    config = load_settings(database_url=database_url, **{**defaults, **settings})
    kb = knowledge or fakes.FakeKnowledge()
    return build_app(
        config,
        migrate=True,
        chat=[fakes.RecordingDeliverer()] if chat is None else chat,
        directory=directory or DemoDirectory.from_document(DIRECTORY),
        knowledge=lambda _session: kb,
        classify=classify or fakes.classify,
        handler_modules=_test_handler_modules(),
    )


def _test_handler_modules() -> list[Any]:
    """Test modules that declare buttons or flows of their own (`@registry.action("test.…")`)."""
    from handlers.registry import ROUTES

    return [m for name, m in list(sys.modules.items()) if name.startswith("tests.") and hasattr(m, ROUTES)]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'frontdesk.db'}"


@pytest.fixture
def harness(sqlite_url: str) -> Harness:
    bot, _ = build_bot(sqlite_url)
    return Harness(bot)


START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # where the `clock` fixture starts


@pytest.fixture
def clock(frozen_clock: Callable[[Any], None]) -> Callable[..., None]:
    """A clock frozen at START that moves only when the test advances it: `clock(minutes=5)`."""
    moment = [START]

    def advance(**delta: float) -> None:
        moment[0] += timedelta(**delta)
        frozen_clock(moment[0])

    frozen_clock(START)
    return advance


@pytest.fixture
def frozen_clock() -> Iterator[Callable[[Any], None]]:

    current: list[datetime] = []

    def set_to(moment: datetime) -> None:
        current[:] = [moment]
        set_clock(lambda: current[0])

    yield set_to
    set_clock(None)
