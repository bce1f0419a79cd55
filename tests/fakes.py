"""Fakes that behave: a tiny knowledge base and a keyword intent classifier, for core tests."""

from __future__ import annotations

from dataclasses import dataclass, field


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
