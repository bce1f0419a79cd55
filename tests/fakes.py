"""Fakes that behave: a tiny knowledge base, a keyword intent classifier and a platform that records
what reached it, for core tests."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from bot.delivery.port import DeliveryError
from bot.messages import Reply


class RecordingDeliverer:
    """A chat platform that reaches everyone and every channel and keeps what it was given, in order.
    `fail_next` makes the next N deliveries fail (a platform outage); `deleted` are deleted messages."""

    inline = True

    def __init__(self, platform: str = "test", *, inline: bool = True) -> None:
        self.platform = platform
        self.inline = inline
        self.delivered: list[Reply] = []
        self.updated: list[Reply] = []
        self.deleted: list[dict[str, Any]] = []
        self.refs: list[dict[str, Any]] = []
        self.fail_next = 0
        self.attempts = 0
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def route(self, recipient: str, identity: dict[str, Any] | None) -> dict[str, Any]:
        return {"to": recipient}

    def send(self, address: dict[str, Any], payload: Any) -> dict[str, Any]:
        with self._lock:
            self._maybe_fail()
            self.delivered.append(payload)
            ref = {"message": next(self._numbers), "to": address.get("to")}
            self.refs.append(ref)
            return ref

    def update(self, ref: dict[str, Any], payload: Any) -> dict[str, Any]:
        with self._lock:
            self._maybe_fail()
            self.delivered.append(payload)
            self.updated.append(payload)
            return ref

    def delete(self, ref: dict[str, Any]) -> None:
        with self._lock:
            self._maybe_fail()
            self.deleted.append(ref)

    def _maybe_fail(self) -> None:
        self.attempts += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            raise DeliveryError("the platform is down (test)")


@dataclass(frozen=True)
class FakeArticle:
    id: str
    title: str
    body: str
    links: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class FakeHit:
    article: FakeArticle
    score: float
    confidence: float
    passage: str


@dataclass(frozen=True)
class FakeResult:
    query: str
    answer: FakeHit | None
    hits: list[FakeHit] = field(default_factory=list)


ARTICLES = (
    FakeArticle(
        "vpn-setup",
        "Connect to the VPN",
        "Open the VPN app and sign in with your work account.",
        ("https://intranet.example.com/vpn",),
        ("vpn",),
    ),
    FakeArticle(
        "vpn-troubleshoot",
        "VPN keeps disconnecting",
        "Switch the VPN protocol to TCP in settings.",
        (),
        ("vpn",),
    ),
    FakeArticle(
        "printer", "Add a printer", "Go to Settings > Printers and add 'FollowMe'.", (), ("printer",)
    ),
)


class FakeKnowledge:
    """Answers when a keyword of an article appears in the question; articles in order of the list."""

    def __init__(self, articles: tuple[FakeArticle, ...] = ARTICLES) -> None:
        self.articles = articles

    def search(self, query: str, k: int = 5, *, exclude: frozenset[str] = frozenset()) -> FakeResult:
        words = query.lower()
        hits = [
            FakeHit(a, 1.0, 0.9, a.body)
            for a in self.articles
            if a.id not in exclude and any(word in words for word in a.keywords)
        ]
        return FakeResult(query, hits[0] if hits else None, hits[:k])


RULES = (
    ("unlock_account", ("locked out", "unlock")),
    (
        "reset_password",
        ("forgot my password", "reset my password", "new password", "reset the password", "'s password"),
    ),
    ("request_access", ("access to", "add me to")),
    ("talk_to_human", ("human", "person", "agent")),
    ("ticket_status", ("update on my ticket",)),
    ("report_outage", ("is down", "outage")),
    ("smalltalk", ("hello", "thanks", "hi there")),
)


def classify(text: str) -> tuple[str | None, float]:
    lowered = text.lower()
    for intent, phrases in RULES:
        if any(phrase in lowered for phrase in phrases):
            return intent, 0.9
    return None, 0.0
