"""The IntentClassifier machinery on a CLINC150 subsample: a lenient floor, so a broken model fails fast.

The full benchmark (bench/intent_bench.py) reports the real figures; here a fixed subsample of 40 intents
keeps the run to seconds. Skipped when the shared data folder (../shared) is absent.
"""

from __future__ import annotations

import random

import pytest

from bench.intent_bench import CLINC, load_clinc
from kb import semantic as semantic_extra
from kb.intent.classifier import IntentClassifier

pytestmark = pytest.mark.skipif(
    not CLINC.exists(), reason=f"CLINC150 not found at {CLINC} (../shared absent)"
)

Rows = list[tuple[str, str]]


def subsample(seed: int = 7) -> dict[str, Rows]:
    data = load_clinc()
    rng = random.Random(seed)
    intents = set(rng.sample(sorted({label for _, label in data["train"]}), 40))

    def pick(rows: Rows, per_intent: int) -> Rows:
        kept: dict[str, Rows] = {}
        for text, label in rows:
            if label in intents and len(kept.setdefault(label, [])) < per_intent:
                kept[label].append((text, label))
        return [row for group in kept.values() for row in group]

    return {
        "train": pick(data["train"], 40),
        "val": pick(data["val"], 10),
        "test": pick(data["test"], 15),
        "oos_train": data["oos_train"],
        "oos_val": data["oos_val"],
        # OOS queries are far from any 40-intent subset too; a slice keeps the run short.
        "oos_test": data["oos_test"][:300],
    }


def figures(classifier: IntentClassifier, data: dict[str, Rows]) -> tuple[float, float]:
    tests = classifier.classify_many([text for text, _ in data["test"]])
    accuracy = sum(r.intent == gold for r, (_, gold) in zip(tests, data["test"], strict=True)) / len(tests)
    oos = classifier.classify_many([text for text, _ in data["oos_test"]])
    return accuracy, sum(r.intent is None for r in oos) / len(oos)


def run(semantic: bool) -> tuple[float, float]:
    data = subsample()
    classifier = IntentClassifier.train(data["train"], [t for t, _ in data["oos_train"]], semantic=semantic)
    classifier.fit_threshold(data["val"], [t for t, _ in data["oos_val"]])
    assert 0.0 < classifier.threshold < 1.0
    return figures(classifier, data)


def test_default_machinery_clears_a_lenient_floor_on_clinc150() -> None:
    accuracy, recall = run(semantic=False)
    assert accuracy >= 0.85
    assert recall >= 0.50


@pytest.mark.semantic
@pytest.mark.skipif(
    not semantic_extra.available(), reason="the [semantic] extra (sentence-transformers) is not installed"
)
def test_semantic_machinery_clears_a_higher_floor_on_clinc150() -> None:
    accuracy, recall = run(semantic=True)
    assert accuracy >= 0.90
    assert recall >= 0.65
