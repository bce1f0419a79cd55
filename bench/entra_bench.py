"""Bot-side password reset time against the fake Entra ID and Microsoft Graph (HTTPS on 127.0.0.1).

    .venv/bin/python -m bench.entra_bench [-n 200] [--bot 50]

Starts the fake exactly as the tests do (tests/servers/fake_entra.py) and times N resets of one user
through the real msal and httpx, each the whole directory side of the bot's reset flow:
find_by_email (user, groups, manager) → account_status → reset_password (the same checks again, then
PATCH passwordProfile and POST revokeSignInSessions). Every Graph call is attributed to a part —
lookup (user and manager reads), groups (transitiveMemberOf pages), patch, revoke — and the time spent
getting tokens from msal is counted apart, with its cache hit rate. The first reset (msal built, OpenID
discovery, the one token POST, TLS) is reported separately. Then `--bot` resets through the whole bot
(console harness, chat_identity verification: database, outbox, audit) on SQLite.

The fake answers in well under a millisecond, so the figures are the bot's own cost plus loopback TLS.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from automations.entra import AppCredentials, EntraDirectory, GraphClient
from tests.servers.fake_entra import FakeEntra, start_fake_entra

PASSWORD = "Bench-Pass-4u!Kx9z"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=200, help="timed directory-side resets (default 200)")
    parser.add_argument("--bot", type=int, default=50, help="timed resets through the whole bot (default 50)")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with start_fake_entra() as fake:
        bench_directory(fake, args.n)
        if args.bot:
            fake.reset()
            bench_bot(fake, args.bot)
    return 0


class Timed:
    """Wraps the token source and the Graph client's `request` to add up where a reset spends its time."""

    def __init__(self, credentials: AppCredentials, graph: GraphClient) -> None:
        self.parts: dict[str, float] = defaultdict(float)
        self.token_calls = 0
        token, request = credentials.token, graph.request

        def timed_token(scope: str) -> str:
            started = time.perf_counter()
            try:
                return token(scope)
            finally:
                self.token_calls += 1
                self.parts["token"] += time.perf_counter() - started

        def timed_request(method: str, path: str, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return request(method, path, **kwargs)
            finally:
                self.parts[_part(method, path)] += time.perf_counter() - started

        credentials.token = timed_token  # type: ignore[method-assign]
        graph.request = timed_request  # type: ignore[method-assign]

    def take(self) -> dict[str, float]:
        parts, self.parts = dict(self.parts), defaultdict(float)
        return parts


def _part(method: str, path: str) -> str:
    if method == "PATCH":
        return "patch"
    if path.endswith("revokeSignInSessions"):
        return "revoke"
    if "transitiveMemberOf" in path:
        return "groups"
    return "lookup"


def bench_directory(fake: FakeEntra, n: int) -> None:
    manager = fake.add_user("maria@example.com", "Maria Manager")
    eve = fake.add_user("eve@example.com", "Eve Employee", manager=manager)
    for name in ("Finance", "Sales", "All staff"):  # two pages of transitiveMemberOf, as real users have
        fake.add_group(name, eve)
    credentials = AppCredentials(
        fake.tenant, fake.client_id, fake.client_secret, authority=fake.url, ca_file=fake.ca_file
    )
    graph = GraphClient(credentials, fake.url, ca_file=fake.ca_file)
    directory = EntraDirectory(graph, protected_groups=("Executives",))
    timed = Timed(credentials, graph)

    first = _reset(directory)
    first_parts = timed.take()
    totals: list[float] = []
    parts: dict[str, list[float]] = defaultdict(list)
    for _ in range(n):
        totals.append(_reset(directory))
        for name, seconds in timed.take().items():
            parts[name].append(seconds)
    assert fake.passwords[eve]["forceChangePasswordNextSignIn"] is True
    assert len(fake.revoked) == n + 1
    token_posts = len(fake.token_requests)
    hits = 1 - token_posts / max(timed.token_calls, 1)
    print(
        f"entra reset (directory side): median {_ms(statistics.median(totals))} "
        f"p99 {_ms(p99(totals))} (n={n}); "
        f"first reset incl. msal build, discovery, token and TLS {_ms(first)} "
        f"(token {_ms(first_parts.get('token', 0))})"
    )
    # Graph parts include the token lookup made before each call; "token" is that lookup on its own.
    split = ", ".join(
        f"{name} {_ms(statistics.median(parts[name]))}"
        for name in ("lookup", "groups", "patch", "revoke", "token")
        if parts[name]
    )
    print(f"entra reset median split per reset: {split}")
    print(
        f"entra token cache: {timed.token_calls} token lookups, {token_posts} token request(s) to Entra ID, "
        f"hit rate {hits:.2%}; {len(fake.calls) / (n + 1):.1f} Graph calls per reset"
    )


def _reset(directory: EntraDirectory) -> float:
    started = time.perf_counter()
    person = directory.find_by_email("eve@example.com")
    assert person is not None
    status = directory.account_status(person)
    assert status.exists and not status.protected
    directory.reset_password(person, PASSWORD)
    return time.perf_counter() - started


def bench_bot(fake: FakeEntra, n: int) -> None:
    """Whole resets through the bot: the chat message in, the temporary password delivered."""
    from bot.bootstrap import build_app
    from bot.settings import load_settings
    from tests import fakes
    from tests.conftest import Harness

    fake.add_group("it-support", fake.add_user("tess@example.com", "Tess Tech"))
    people = [fake.add_user(f"user{i}@example.com", f"User {i}") for i in range(n + 1)]
    with tempfile.TemporaryDirectory(prefix="entra-bench-") as folder:
        settings = load_settings(
            database_url=f"sqlite:///{Path(folder) / 'bench.db'}",
            technician_group="it-support",
            reset_verification="chat_identity",
            **fake.settings(),
        )
        kb = fakes.FakeKnowledge()
        app = build_app(
            settings,
            migrate=True,
            chat=[fakes.RecordingDeliverer()],
            knowledge=lambda _session: kb,
            classify=fakes.classify,
        )
        harness = Harness(app.bot)
        say: Callable[[str], list[Any]] = lambda email: harness.say(email, "I forgot my password")  # noqa: E731
        say("user0@example.com")  # warm-up: msal, TLS, caches
        timings = []
        for i in range(1, n + 1):
            started = time.perf_counter()
            replies = say(f"user{i}@example.com")
            timings.append(time.perf_counter() - started)
            assert any(r.secret for r in replies), [r.text for r in replies]
        assert len(fake.passwords) == len(people)
    print(
        "entra reset (whole bot, chat message to delivered password): "
        f"median {_ms(statistics.median(timings))} "
        f"p99 {_ms(p99(timings))} (n={n})"
    )


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
