"""Knowledge-base speed on a 10,000-article KB: index build time, per-query latency, peak memory.

    .venv/bin/python -m bench.kb_speed                       # both rankers, each in its own process
    .venv/bin/python -m bench.kb_speed --scenario lexical    # one scenario, prints a JSON line

The KB is generated deterministically from the shipped sample articles and, when present, the StackFAQ
articles: each generated article is a source article with its own title qualifier (an office, a
platform, a team), reordered example questions, an extra note and its body paragraphs rotated, so that
no two articles are identical. Queries are the sample articles' questions and, when present, the
StackFAQ dev queries, searched one at a time (k=5, the chat handler's call).

Each scenario runs in a fresh process so that its peak memory (ru_maxrss) is its own.

Semantic: embedding 10,000 articles (about 90,000 texts) takes far longer than this benchmark may run on
two cores, so the semantic scenario measures embedding throughput on a 150-article slice, extrapolates
the full build from it, and measures query latency on a full 10,000-article semantic index whose unit
vectors are borrowed from the slice's real embeddings (latency depends on the number of vectors, not on
their values). Everything else on the query path is real: query embedding, BM25 on 10k articles, fusion,
confidence, passage choice.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from kb import semantic as semantic_extra
from kb.articles import Article, load_articles
from kb.search import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "kb" / "articles"
ARTICLES = 10_000
QUERIES = 500
SEMANTIC_SLICE = 150
TARGETS = {"lexical": (20.0, 10.0), "semantic": (50.0, None)}  # p99 ms, build s

QUALIFIERS = [
    "London office", "Berlin office", "New York office", "Singapore office", "warehouse", "retail stores",
    "Windows 11", "macOS", "iPhone", "Android", "Linux workstations", "contractors", "finance team",
    "sales team", "engineering", "front desk", "home workers", "travelling staff", "interns", "executives",
]  # fmt: skip
NOTES = [
    "This applies to devices enrolled after the last refresh.",
    "Ask your site coordinator if the steps differ in your building.",
    "The screenshots on the intranet page show the current version.",
    "If you are on a loan device, tell the service desk before you start.",
    "These steps were checked with the support team last quarter.",
]


def source_articles() -> list[Article]:
    from bench.kb_bench import STACKFAQ, stackfaq_available

    sources = load_articles(SHIPPED)
    if stackfaq_available():
        sources += load_articles(STACKFAQ / "kb")
    return sources


def generate(count: int = ARTICLES, seed: int = 20240) -> list[Article]:
    """`count` distinct articles made from the sources, the same every run."""
    sources = source_articles()
    rng = random.Random(seed)
    generated = []
    for i in range(count):
        source = sources[i % len(sources)]
        qualifier = QUALIFIERS[(i // len(sources)) % len(QUALIFIERS)]
        variant = i // len(sources)
        paragraphs = source.body.split("\n\n")
        turn = rng.randrange(len(paragraphs))
        body = "\n\n".join(
            [*paragraphs[turn:], *paragraphs[:turn], f"Note for {qualifier}: {rng.choice(NOTES)}"]
        )
        questions = list(source.questions)
        rng.shuffle(questions)
        generated.append(
            replace(
                source,
                id=f"{source.id}-v{variant:03d}",
                title=f"{source.title} ({qualifier})",
                body=body,
                questions=tuple(f"{q} ({qualifier})" if j == 0 else q for j, q in enumerate(questions)),
                path=None,
            )
        )
    return generated


def query_texts(count: int = QUERIES) -> list[str]:
    from bench.kb_bench import load_stackfaq, stackfaq_available

    texts = [q for a in load_articles(SHIPPED) for q in a.questions]
    if stackfaq_available():
        texts += [q.text for q in load_stackfaq()[1]]
    random.Random(7).shuffle(texts)
    return (texts * (count // len(texts) + 1))[:count]


def latencies_ms(kb: KnowledgeBase, queries: Sequence[str]) -> dict[str, float]:
    for query in queries[:20]:  # warm-up: first calls pay for lazy set-up
        kb.search(query)
    times = []
    for query in queries:
        started = time.perf_counter()
        kb.search(query, 5)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p99_ms": times[min(len(times) - 1, round(0.99 * len(times)) - 1)],
        "mean_ms": statistics.fmean(times),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_lexical() -> dict[str, float]:
    articles = generate()
    queries = query_texts()
    before = peak_rss_mb()
    started = time.perf_counter()
    kb = KnowledgeBase.build(articles, semantic=False)
    build = time.perf_counter() - started
    figures = {"articles": len(kb), "build_s": build, **latencies_ms(kb, queries)}
    return figures | {"peak_rss_mb": peak_rss_mb(), "rss_before_build_mb": before}


def run_semantic() -> dict[str, float]:
    articles = generate()
    queries = query_texts()
    encoder = semantic_extra.Encoder(store=None)  # no cache: measure real embedding work
    semantic_extra.Encoder._instance = encoder
    sliced = articles[:: len(articles) // SEMANTIC_SLICE][:SEMANTIC_SLICE]
    started = time.perf_counter()
    small = KnowledgeBase.build(sliced, semantic=True)
    slice_seconds = time.perf_counter() - started
    index = small._semantic
    assert index is not None
    slice_texts = len(index.question_vectors) + len(index.passage_vectors)
    started = time.perf_counter()
    KnowledgeBase.build(sliced, semantic=True)  # every text now comes from the in-memory cache
    cached_slice = time.perf_counter() - started

    started = time.perf_counter()
    lexical_only = KnowledgeBase.build(articles, semantic=False)
    lexical_build = time.perf_counter() - started
    full = _with_borrowed_vectors(lexical_only, index)
    total_texts = len(full._semantic.question_vectors) + len(full._semantic.passage_vectors)  # type: ignore[union-attr]
    rate = slice_texts / slice_seconds
    return {
        "articles": len(full),
        "slice_articles": len(sliced),
        "slice_texts": slice_texts,
        "embed_texts_per_s": rate,
        "full_texts": total_texts,
        "build_s_extrapolated": lexical_build + total_texts / rate,
        "cached_rebuild_s_extrapolated": lexical_build + cached_slice * len(articles) / len(sliced),
        **latencies_ms(full, queries),
        "peak_rss_mb": peak_rss_mb(),
    }


def _with_borrowed_vectors(base: KnowledgeBase, source: semantic_extra.SemanticIndex) -> KnowledgeBase:
    """`base` plus a semantic index of the right shape whose vectors are copies of `source`'s."""
    questions = [[a.title, *a.questions] for a in base.articles]
    passage_counts = [len(p) for p in base._passages]
    rng = np.random.default_rng(3)

    def borrowed(counts: Sequence[int], pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        picks = rng.integers(0, len(pool), size=int(sum(counts)))
        return np.ascontiguousarray(pool[picks]), starts

    q_vectors, q_starts = borrowed([len(q) for q in questions], source.question_vectors)
    p_vectors, p_starts = borrowed(passage_counts, source.passage_vectors)
    index = semantic_extra.SemanticIndex(q_vectors, q_starts, p_vectors, p_starts)
    return KnowledgeBase(base.articles, base._lexical, index, base._passages)


def run_scenario(name: str) -> dict[str, float] | None:
    command = [sys.executable, "-m", "bench.kb_speed", "--scenario", name]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"{name}: failed\n{done.stderr[-2000:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(name: str, figures: dict[str, float]) -> None:
    p99_target, build_target = TARGETS[name]
    print(f"articles {int(figures['articles'])}, queries {QUERIES} (one at a time, k=5)")
    print(
        f"query latency  p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms,"
        f" mean {figures['mean_ms']:.1f} ms   (target p99 ≤ {p99_target:.0f} ms)"
    )
    if name == "lexical":
        print(f"index build    {figures['build_s']:.1f} s   (target ≤ {build_target:.0f} s)")
    else:
        rate, sliced, texts = (
            figures["embed_texts_per_s"],
            int(figures["slice_articles"]),
            int(figures["slice_texts"]),
        )
        print(f"embedding      {rate:.0f} texts/s on a {sliced}-article slice ({texts} texts)")
        minutes, total = figures["build_s_extrapolated"] / 60, int(figures["full_texts"])
        cached = figures["cached_rebuild_s_extrapolated"]
        print(
            f"index build    ~{minutes:.0f} min for {total} texts (extrapolated from the slice);"
            f" re-index with every embedding cached ~{cached:.1f} s"
        )
    print(f"peak memory    {figures['peak_rss_mb']:.0f} MB RSS (whole process)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario", choices=["lexical", "semantic"], help="run one scenario in this process"
    )
    args = parser.parse_args(argv)
    if args.scenario:
        figures = run_lexical() if args.scenario == "lexical" else run_semantic()
        print(json.dumps(figures))
        return 0
    print(f"\n== Speed: default (lexical), {ARTICLES} generated articles ==")
    lexical = run_scenario("lexical")
    if lexical:
        report("lexical", lexical)
    print(f"\n== Speed: semantic, {ARTICLES} generated articles ==")
    if not semantic_extra.available():
        print("skipped: the [semantic] extra is not installed (pip install -r requirements-semantic.txt)")
        return 0
    semantic = run_scenario("semantic")
    if semantic:
        report("semantic", semantic)
    return 0


if __name__ == "__main__":
    sys.exit(main())
