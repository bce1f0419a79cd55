"""Intent classification with an out-of-scope outcome — the machinery, independent of frontdesk's intents
(the CLINC150 benchmark trains the very same class on 150 intents).

Model: TF-IDF over word 1–2-grams and character 2–5-grams (robust to typos and to "pwd"/"passwd"-style
abbreviations), optionally joined by all-MiniLM-L6-v2 sentence embeddings when the [semantic] extra is
installed, feeding one multinomial logistic regression. Out-of-scope messages are handled twice over:

* an explicit out-of-scope class, trained on negative examples when there are any, and
* a confidence threshold: the confidence is the probability of the best in-scope intent; below the
  threshold the answer is "no intent" (None). ``fit_threshold`` picks it on validation data.

The logistic regression's probabilities are used as they are: multinomial LR is reasonably calibrated, the
threshold is tuned on validation data anyway (which absorbs a monotone miscalibration), and a separate
CalibratedClassifierCV step would multiply training time on CLINC150.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from kb.intent import threshold as threshold_rules

OUT_OF_SCOPE = "<out_of_scope>"  # internal label of the explicit negative class; never returned
Embed = Callable[[list[str]], np.ndarray]

_SMALL = 5000  # training-set size up to which newton-cg is the faster solver
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class IntentResult:
    intent: str | None  # None: out of scope, or not confident enough
    confidence: float  # probability of the best in-scope intent, 0..1
    ranking: list[tuple[str, float]] = field(default_factory=list)  # best in-scope intents first


def normalise(text: str) -> str:
    """Lowercase, squash whitespace, and map every number to 0 so "INC 42" and "INC0012345" look alike."""
    return _SPACES.sub(" ", _DIGITS.sub("0", text.lower())).strip()


class IntentClassifier:
    """Train with ``IntentClassifier.train(examples, out_of_scope)``; then ``classify(text)``."""

    def __init__(
        self,
        *,
        semantic: bool = False,
        threshold: float = 0.0,
        c: float = 10.0,
        embedding_weight: float = 1.0,
        top_k: int = 5,
        embed: Embed | None = None,
    ) -> None:
        self.semantic = semantic
        self.threshold = threshold  # reject (intent None) when confidence < threshold
        self.c = c
        self.embedding_weight = embedding_weight  # scale of the (unit-length) embedding next to TF-IDF
        self.top_k = top_k
        self._embed = embed  # None: the bundled MiniLM model (only used when semantic)
        self._words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
        self._chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
        self._model = LogisticRegression(C=c, max_iter=1000)
        self.intents: list[str] = []

    # -- training -------------------------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        examples: Sequence[tuple[str, str]],
        out_of_scope: Iterable[str] = (),
        *,
        semantic: bool = False,
        threshold: float = 0.0,
        c: float = 10.0,
        embed: Embed | None = None,
    ) -> IntentClassifier:
        """A classifier trained on (text, intent) pairs plus negative (out-of-scope) texts."""
        classifier = cls(semantic=semantic, threshold=threshold, c=c, embed=embed)
        return classifier.fit(examples, out_of_scope)

    def fit(self, examples: Sequence[tuple[str, str]], out_of_scope: Iterable[str] = ()) -> IntentClassifier:
        negatives = list(out_of_scope)
        texts = [text for text, _ in examples] + negatives
        labels = [intent for _, intent in examples] + [OUT_OF_SCOPE] * len(negatives)
        if len({label for label in labels}) < 2:
            raise ValueError("need at least two intents, or one intent and out-of-scope examples")
        features = self._features(texts, fit=True)
        # newton-cg converges in a handful of steps on a product-sized set (0.1 s where lbfgs takes 1.5 s),
        # but its Hessian products crawl on CLINC150-sized data with dense embedding columns: lbfgs there.
        self._model.set_params(solver="newton-cg" if len(texts) <= _SMALL else "lbfgs")
        self._model.fit(features, labels)
        self.intents = sorted({intent for _, intent in examples})
        return self

    def _features(self, texts: Sequence[str], *, fit: bool = False) -> sp.csr_matrix:
        normalised = [normalise(text) for text in texts]
        if fit:
            parts = [self._words.fit_transform(normalised), self._chars.fit_transform(normalised)]
        else:
            parts = [self._words.transform(normalised), self._chars.transform(normalised)]
        if self.semantic:
            parts.append(sp.csr_matrix(self.embedding_weight * self._embeddings(list(texts))))
        return sp.hstack(parts, format="csr")

    def _embeddings(self, texts: list[str]) -> np.ndarray:
        if self._embed is not None:
            return self._embed(texts)
        from kb.intent import embeddings  # deferred: imports torch

        return embeddings.encode(texts)

    # -- inference ------------------------------------------------------------------------------------

    def probabilities(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """The model's labels (including the out-of-scope label) and one probability row per text."""
        labels = [str(label) for label in self._model.classes_]
        if not texts:
            return labels, np.zeros((0, len(labels)))
        return labels, self._model.predict_proba(self._features(texts))

    def classify(self, text: str) -> IntentResult:
        return self.classify_many([text])[0]

    def classify_many(self, texts: Sequence[str], *, threshold: float | None = None) -> list[IntentResult]:
        """Batch classification: one feature pass (and one embedding batch) for all texts. ``threshold``
        overrides the classifier's own for this call."""
        cut = self.threshold if threshold is None else threshold
        results: list[IntentResult | None] = [None] * len(texts)
        live = [i for i, text in enumerate(texts) if text.strip()]
        labels, probabilities = self.probabilities([texts[i] for i in live])
        for row, i in zip(probabilities, live, strict=True):
            results[i] = self._decide(labels, row, cut)
        return [result or IntentResult(None, 0.0, []) for result in results]

    def _decide(self, labels: list[str], row: np.ndarray, threshold: float) -> IntentResult:
        ranking = sorted(
            ((label, float(p)) for label, p in zip(labels, row, strict=True) if label != OUT_OF_SCOPE),
            key=lambda pair: -pair[1],
        )[: self.top_k]
        best, confidence = ranking[0] if ranking else (None, 0.0)
        out_of_scope = float(row[labels.index(OUT_OF_SCOPE)]) if OUT_OF_SCOPE in labels else 0.0
        accepted = best is not None and confidence >= threshold and confidence > out_of_scope
        return IntentResult(best if accepted else None, round(confidence, 4), ranking)

    # -- threshold ------------------------------------------------------------------------------------

    def raw_decisions(self, texts: Sequence[str]) -> tuple[list[str | None], np.ndarray]:
        """Predicted intent and confidence per text with no threshold (None when out-of-scope wins)."""
        results = self.classify_many(texts, threshold=0.0)
        return [r.intent for r in results], np.array([r.confidence if r.intent else 0.0 for r in results])

    def fit_threshold(
        self,
        val_examples: Sequence[tuple[str, str]],
        val_oos: Sequence[str],
        *,
        rule: Literal["accuracy_drop", "balanced"] = "accuracy_drop",
        max_drop: float = 0.01,
    ) -> threshold_rules.ThresholdChoice:
        """Set ``threshold`` from validation data (see kb.intent.threshold for the rules); returns the choice
        with its validation accuracy and out-of-scope recall."""
        predicted, scores = self.raw_decisions([text for text, _ in val_examples])
        correct = np.array([p == gold for p, (_, gold) in zip(predicted, val_examples, strict=True)])
        _, oos_scores = self.raw_decisions(list(val_oos))
        if rule == "balanced":
            choice = threshold_rules.balanced(correct, scores, oos_scores)
        else:
            choice = threshold_rules.by_accuracy_drop(correct, scores, oos_scores, max_drop)
        self.threshold = choice.threshold
        return choice
