"""Intent routing for chat messages: which of frontdesk's intents a free-text message asks for, if any.

``classify_message(text)`` is what the chat core calls; ``IntentClassifier`` is the reusable machinery
(also benchmarked on CLINC150 by bench/intent_bench.py).
"""

from kb.intent.classifier import IntentClassifier, IntentResult
from kb.intent.product import INTENTS, classify_message, classify_messages, load_utterances, product_model

__all__ = [
    "INTENTS",
    "IntentClassifier",
    "IntentResult",
    "classify_message",
    "classify_messages",
    "load_utterances",
    "product_model",
]
