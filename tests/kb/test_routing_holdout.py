"""Routing on held-out messages (tests/kb/routing_holdout.yaml): at least 95% right, with either model.

The messages were written for this check and are not training utterances (checked here), so the figure
says how the router does on wording it has never seen."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kb import semantic as semantic_extra
from kb.intent import INTENTS, classify_messages, load_utterances
from kb.intent.classifier import normalise

HOLDOUT = Path(__file__).with_name("routing_holdout.yaml")
REQUIRED = 0.95


def holdout() -> list[tuple[str, str | None]]:
    return [(m["text"], m["intent"]) for m in yaml.safe_load(HOLDOUT.read_text(encoding="utf-8"))["messages"]]


def test_the_holdout_is_unseen_and_covers_every_intent() -> None:
    examples, negatives = load_utterances()
    known = {normalise(text) for text, _ in examples} | {normalise(text) for text in negatives}
    messages = holdout()
    assert len(messages) >= 60
    assert [text for text, _ in messages if normalise(text) in known] == []
    assert {intent for _, intent in messages} == {*INTENTS, None}


@pytest.mark.parametrize(
    "semantic",
    [
        False,
        pytest.param(
            True,
            marks=[
                pytest.mark.semantic,
                pytest.mark.skipif(
                    not semantic_extra.available(), reason="the [semantic] extra is not installed"
                ),
            ],
        ),
    ],
)
def test_holdout_routing_accuracy(semantic: bool) -> None:
    messages = holdout()
    results = classify_messages([text for text, _ in messages], semantic=semantic)
    wrong = [
        (text, want, got.intent)
        for (text, want), got in zip(messages, results, strict=True)
        if got.intent != want
    ]
    assert 1 - len(wrong) / len(messages) >= REQUIRED, wrong
