"""Choosing the rejection threshold on validation data.

Inputs are the classifier's raw decisions on validation messages: for in-scope ones whether the predicted
intent was right and its confidence, for out-of-scope ones their confidence (None predictions count as
confidence 0). A message is rejected when its confidence is below the threshold.

Two rules:

* ``accuracy_drop`` (default): the highest threshold that costs at most ``max_drop`` in-scope accuracy
  compared with no threshold. Rejection helps out-of-scope recall monotonically, so this maximises recall
  under an explicit accuracy budget. It is the rule the CLINC150 benchmark uses, with a budget of 1 point:
  wrongly refusing a request the bot could handle is worse than sending a stray message to the knowledge
  base, but a little refusal buys a lot of out-of-scope recall.
* ``balanced``: maximise in-scope accuracy + out-of-scope recall (Larson et al.'s style of tuning). It
  rejects far more in-scope messages; offered for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    accuracy: float  # in-scope accuracy on validation at this threshold
    oos_recall: float  # share of validation out-of-scope messages rejected


def evaluate(
    correct: np.ndarray, scores: np.ndarray, oos_scores: np.ndarray, threshold: float
) -> ThresholdChoice:
    accuracy = float(np.mean(correct & (scores >= threshold))) if len(scores) else 0.0
    recall = float(np.mean(oos_scores < threshold)) if len(oos_scores) else 0.0
    return ThresholdChoice(threshold, accuracy, recall)


def by_accuracy_drop(
    correct: ArrayLike, scores: ArrayLike, oos_scores: ArrayLike, max_drop: float = 0.01
) -> ThresholdChoice:
    ok, s, oos = np.asarray(correct, dtype=bool), np.asarray(scores, float), np.asarray(oos_scores, float)
    correct_scores = np.sort(s[ok])
    allowed = int(np.floor(max_drop * len(s) + 1e-9))  # correct answers we may lose to rejection
    if len(correct_scores) == 0:
        return evaluate(ok, s, oos, 0.0)
    # Thresholding at the (allowed+1)-th lowest correct score rejects at most `allowed` correct answers.
    threshold = float(correct_scores[min(allowed, len(correct_scores) - 1)])
    return evaluate(ok, s, oos, threshold)


def balanced(correct: ArrayLike, scores: ArrayLike, oos_scores: ArrayLike) -> ThresholdChoice:
    ok, s, oos = np.asarray(correct, dtype=bool), np.asarray(scores, float), np.asarray(oos_scores, float)
    candidates = np.unique(np.concatenate([s, oos, [0.0]]))
    best = max((evaluate(ok, s, oos, float(t)) for t in candidates), key=lambda c: c.accuracy + c.oos_recall)
    return best
