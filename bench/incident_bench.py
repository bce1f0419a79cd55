"""Widespread problems: the similarity check of a new report against the last hour, at 10,000 reports/hour.

    .venv/bin/python -m bench.incident_bench [--per-hour 10000] [--hours 6] [--checks 300]

The store holds `--hours` hours of reports at `--per-hour` (so the window filter has older rows to skip),
each with 2–6 content terms drawn from a Zipf-like vocabulary of 3,000 terms, written with Core inserts.
The vocabulary is harsher than help-desk text after the generic words are dropped: its commonest term is
in about half of all reports, the next in a quarter, so a new report using them meets thousands of
postings in the hour. What is timed is what every new
report costs: `handlers.problems.similar_reports` over the last 60 minutes plus `matching_incident`
(against an open incident's reports), for `--checks` new reports drawn the same way; median and p99.
Target: p99 ≤ 50 ms on SQLite and on PostgreSQL. Exits 1 when missed (a PostgreSQL that cannot start is
reported as skipped).

It also prints how FRONTDESK_INCIDENT_SIMILARITY was chosen: pairwise precision / recall / F1 of "same
problem" per threshold over the labelled reports of bench/data/problem_reports.yaml.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
import yaml
from sqlalchemy import insert

from bot.bootstrap import build_app
from bot.settings import load_settings
from bot.store.models import Incident, ProblemReport, ProblemReportTerm
from handlers import problems
from tests.servers.postgres import PostgresUnavailable, running_postgres

TARGET_MS = 50.0
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
VOCABULARY = 3000
THRESHOLD = 0.55
LABELLED = Path(__file__).resolve().parent / "data" / "problem_reports.yaml"
_WEIGHTS = [1 / (rank + 1) ** 1.1 for rank in range(VOCABULARY)]


def report_terms(rng: random.Random) -> list[str]:
    return list(dict.fromkeys(f"t{i}" for i in rng.choices(range(VOCABULARY), _WEIGHTS, k=rng.randint(2, 6))))


def generate(app: Any, per_hour: int, hours: int, rng: random.Random) -> None:
    total = per_hour * hours
    step = timedelta(hours=hours) / total
    with app.engine.begin() as connection:
        incident = connection.execute(
            insert(Incident).values(
                status="open",
                title="t1 t2",
                root_cause="",
                resolution="",
                declared_by="tess@example.com",
                declared_at=NOW - timedelta(minutes=20),
                resolved_by="",
            )
        ).inserted_primary_key[0]
        for start in range(0, total, 5000):
            reports, terms = [], []
            for i in range(start, min(start + 5000, total)):
                at = NOW - timedelta(hours=hours) + step * i
                chosen = report_terms(rng)
                linked = incident if i % 500 == 0 and at > NOW - timedelta(minutes=30) else None
                reports.append(
                    {
                        "id": i + 1,
                        "person_email": f"p{i % 3000}@example.com",
                        "source": "question",
                        "text": " ".join(chosen),
                        "term_count": len(chosen),
                        "reported_at": at,
                        "incident_id": linked,
                    }
                )
                terms += [
                    {"report_id": i + 1, "term": t, "reported_at": at, "term_count": len(chosen)}
                    for t in chosen
                ]
            connection.execute(insert(ProblemReport), reports)
            connection.execute(insert(ProblemReportTerm), terms)


def check(app: Any, terms: list[str]) -> float:
    """One new report's similarity check, in ms: the window's similar reports, and the open incidents'."""
    with app.sessions() as session:
        session.connection()  # the event's transaction is open when a report is checked: not timed
        began = time.perf_counter()
        problems.similar_reports(session, terms, THRESHOLD, since=NOW - timedelta(minutes=60))
        problems.matching_incident(session, terms, THRESHOLD)
        return (time.perf_counter() - began) * 1000


def bench(label: str, url: str, per_hour: int, hours: int, checks: int) -> bool:
    settings = load_settings(database_url=url, technician_group="it-support")
    app = build_app(settings, migrate=True)
    rng = random.Random(14)
    started = time.perf_counter()
    generate(app, per_hour, hours, rng)
    seconds = time.perf_counter() - started
    print(f"{label}: {per_hour * hours:,} reports ({hours} h at {per_hour:,}/h) generated in {seconds:.0f} s")
    for _ in range(20):  # warm the caches and the statement cache
        check(app, report_terms(rng))
    timings = sorted(check(app, report_terms(rng)) for _ in range(checks))
    median, p99 = statistics.median(timings), timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    verdict = "ok" if p99 <= TARGET_MS else f"MISSED (target {TARGET_MS:.0f} ms)"
    print(
        f"{label}: similarity check against the last hour: median {median:.1f} ms, p99 {p99:.1f} ms {verdict}"
    )
    app.engine.dispose()
    return p99 <= TARGET_MS


def calibration() -> None:
    """Pairwise "same problem" precision / recall / F1 per threshold over the labelled reports."""
    data = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))
    items = [(group, text) for group, texts in data["groups"].items() for text in texts]
    items += [(f"single-{n}", text) for n, text in enumerate(data["singles"])]
    terms = [problems.content_terms(text) for _, text in items]
    pairs = [
        (items[a][0] == items[b][0], problems.similarity(terms[a], terms[b]))
        for a, b in itertools.combinations(range(len(items)), 2)
    ]
    same = sum(1 for is_same, _ in pairs if is_same)
    print(f"threshold choice: {len(items)} labelled reports, {same} same-problem pairs of {len(pairs)}")
    for threshold in (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65):
        hits = [is_same for is_same, score in pairs if score >= threshold]
        precision = sum(hits) / len(hits) if hits else 0.0
        recall = sum(hits) / same
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        mark = "  <- default" if threshold == THRESHOLD else ""
        print(f"  {threshold:.2f}: precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}{mark}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-hour", type=int, default=10_000)
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--checks", type=int, default=300)
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger().setLevel(logging.WARNING)
    calibration()
    results = []
    with tempfile.TemporaryDirectory(prefix="frontdesk-incident-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'incidents.db'}"
        results.append(bench("sqlite", url, args.per_hour, args.hours, args.checks))
    try:
        with running_postgres() as url:
            results.append(bench("postgresql", url, args.per_hour, args.hours, args.checks))
    except PostgresUnavailable as error:
        print(f"postgresql: skipped ({error})")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
