"""``frontdesk intent``: route messages to intents from the command line.

    frontdesk intent "I forgot my password"
    printf 'hi\\nis outlook down?\\n' | frontdesk intent --json

Without --semantic/--lexical it uses the model the running bot uses on this install (FRONTDESK_KB_SEMANTIC).

Runnable alone too: ``python -m kb.intent.cli``.
"""

from __future__ import annotations

import json
import sys

import click

from kb import semantic as semantic_extra
from kb.cli import ranker_choice
from kb.intent.classifier import IntentResult
from kb.intent.product import classify_messages


@click.command(name="intent")
@click.argument("text", required=False)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per message: text, intent, confidence."
)
@click.option(
    "--semantic/--lexical",
    "semantic",
    default=None,
    help="Force the model with (or without) MiniLM sentence embeddings. Default: the bot's own choice "
    "(FRONTDESK_KB_SEMANTIC, auto: with embeddings when the model is installed).",
)
def intent(text: str | None, as_json: bool, semantic: bool | None) -> None:
    """Classify TEXT, or each line of standard input, into one of frontdesk's intents (null: none)."""
    semantic = ranker_choice(semantic)
    if semantic and not semantic_extra.available():
        missing = ", ".join(semantic_extra.missing_packages())
        raise click.UsageError(f"the semantic model is not installed (missing: {missing})")
    messages = [text] if text is not None else [line.rstrip("\r\n") for line in sys.stdin]
    # Blank lines still get an answer (null), so output lines match input lines one for one.
    for message, result in zip(messages, classify_messages(messages, semantic=semantic), strict=True):
        click.echo(_as_json(message, result) if as_json else _readable(message, result))


def _as_json(message: str, result: IntentResult) -> str:
    return json.dumps(
        {"text": message, "intent": result.intent, "confidence": round(result.confidence, 4)},
        ensure_ascii=False,
    )


def _readable(message: str, result: IntentResult) -> str:
    name = result.intent or "— (knowledge base)"
    alternatives = ", ".join(f"{label} {p:.2f}" for label, p in result.ranking[:3])
    return f"{name:<24} {result.confidence:5.2f}  {message}\n{'':<31}ranking: {alternatives}"


if __name__ == "__main__":
    intent()
