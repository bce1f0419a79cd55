"""Everyday messages, held out (bench/data/everyday_holdout.yaml): what a new user's first minutes get.

    .venv/bin/python -m bench.everyday_bench [--show-misses]

Each message goes the way the router sends it: the intent model first (kb.intent.classify_message, with
its guards); a message with no intent goes to the knowledge base (the shipped articles, kb/articles),
which answers or declines. Figures, for the default install (the semantic ranker when its model is
installed) and for the lexical ranker:
- answered right: share of the questions an article answers that get that article;
- false articles: share of all messages given an article that is not the right one (a wrong article, or
  any article for a question no article answers or for a chat reply or request);
- intent accuracy: share of all messages routed to the right intent (questions: no intent);
- false resets: messages sent into the password-reset or unlock flow that did not ask for it.
Targets (issue 11): answered right ≥ 0.70, false articles ≤ 3 %, intent accuracy ≥ 0.90, no false resets.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kb import semantic as semantic_extra
from kb.articles import load_articles
from kb.intent import classify_messages
from kb.search import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent
HOLDOUT = ROOT / "bench" / "data" / "everyday_holdout.yaml"
ARTICLES = ROOT / "kb" / "articles"
TARGETS = {"answered_right": 0.70, "false_articles": 0.03, "intent_accuracy": 0.90, "false_resets": 0}
_FLOWS = {"reset_password", "unlock_account"}


@dataclass(frozen=True)
class Message:
    text: str
    article: str | None  # the article that answers it (None: none does, or it is not a question)
    intent: str | None  # the intent it asks for (None: a question for the knowledge base)


@dataclass
class Figures:
    messages: int
    answered_right: float
    false_articles: float
    intent_accuracy: float
    false_resets: int
    misses: list[str] = field(default_factory=list)

    def meets_targets(self) -> bool:
        return (
            self.answered_right >= TARGETS["answered_right"]
            and self.false_articles <= TARGETS["false_articles"]
            and self.intent_accuracy >= TARGETS["intent_accuracy"]
            and self.false_resets <= TARGETS["false_resets"]
        )


def load_holdout(path: Path = HOLDOUT) -> list[Message]:
    rows = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    return [Message(str(r["text"]), r.get("article"), r.get("intent")) for r in rows]


def evaluate(semantic: bool, messages: Sequence[Message] | None = None) -> Figures:
    messages = list(messages if messages is not None else load_holdout())
    kb = KnowledgeBase.build(load_articles(ARTICLES), semantic=semantic)
    intents = classify_messages([m.text for m in messages], semantic=semantic)
    answerable = right = wrong_articles = right_intents = false_resets = 0
    misses = []
    for message, routed in zip(messages, intents, strict=True):
        intent = routed.intent
        answer = None
        if intent is None:
            hit = kb.search(message.text).answer
            answer = hit.article.id if hit is not None else None
        right_intents += intent == message.intent
        false_resets += intent in _FLOWS and message.intent not in _FLOWS
        if message.article is not None:
            answerable += 1
            right += answer == message.article
        if answer is not None and answer != message.article:
            wrong_articles += 1
        if intent != message.intent or answer != message.article:
            misses.append(
                f"{message.text!r}: expected {message.intent or message.article or 'no article'},"
                f" got {intent or answer or 'no article'}"
            )
    total = len(messages)
    return Figures(
        messages=total,
        answered_right=right / max(1, answerable),
        false_articles=wrong_articles / max(1, total),
        intent_accuracy=right_intents / max(1, total),
        false_resets=false_resets,
        misses=misses,
    )


def report(name: str, figures: Figures, show_misses: bool) -> None:
    verdict = "meets the targets" if figures.meets_targets() else "MISSES a target"
    print(
        f"{name:<34} answered right {figures.answered_right:6.3f}"
        f"   false articles {figures.false_articles:6.1%}   intent accuracy {figures.intent_accuracy:6.3f}"
        f"   false resets {figures.false_resets}   ({verdict})"
    )
    if show_misses:
        for miss in figures.misses:
            print(f"    {miss}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--show-misses", action="store_true", help="list every message routed wrongly")
    args = parser.parse_args(argv)
    messages = load_holdout()
    print(f"\n== Everyday held-out messages ({len(messages)}, {HOLDOUT.relative_to(ROOT)}) ==")
    print("targets: answered right ≥ 0.70, false articles ≤ 3%, intent accuracy ≥ 0.90, no false resets")
    if semantic_extra.available():
        report("default install (ONNX MiniLM + BM25)", evaluate(True, messages), args.show_misses)
    else:
        print("default install: the semantic model is not installed; lexical only")
    report("lexical (BM25, TF-IDF intents)", evaluate(False, messages), args.show_misses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
