"""Reports compared by meaning: each report's sentence embedding, and a per-process cache of the window's.

When the semantic model is in use (FRONTDESK_KB_SEMANTIC, as the knowledge base decides), every report
stores its embedding as float16 bytes on `problem_reports.vector` (384 × 2 bytes). Checking a new report
compares its vector with the window's by one matrix-vector product. The window's vectors are kept in
memory per process (`ReportVectors`, one per bot, on the services): each check loads only the rows newer
than the last id it holds and skips those that left the window, so at 10,000 reports/hour a check reads
a handful of rows, never the hour (bench/incident_bench.py). Processes sharing one database each catch up
from the table the same way.

Ids are allocated when a report is flushed but seen by others when it commits, so a report may become
visible after a higher id was already loaded; the last LATE_IDS ids below the highest are re-listed on
every check (ids only, cheap) and any that were missed are loaded then.

The vector of a report is the shared encoder's query vector of its normalised text — what the knowledge
base embeds for an unanswered question (unless its speller corrected a word), so the encoder's query
cache answers and the text is not embedded twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import ProblemReport
from kb.lexical import normalise_query
from kb.semantic import DIMENSIONS

LATE_IDS = 256  # reports flushed but not yet committed when a higher id was loaded (concurrent processes)
STORED = np.float16  # half the bytes of float32; cosines moved by < 0.0001 on the labelled reports


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=STORED).tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=STORED).astype(np.float32)


class ReportVectors:
    """The embedder, and this process's cache of the window's report vectors.

    The vectors live in one float32 buffer grown by doubling (a new report is written in place, never by
    copying the window), and rows that left the window are dropped only once they are half of it.
    """

    def __init__(self, encode_query: Callable[[str], np.ndarray]) -> None:
        self._encode_query = encode_query
        self._lock = threading.Lock()  # a bot's events run on several threads
        self._size = 0
        self._ids = np.zeros(0, dtype=np.int64)
        self._times = np.zeros(0, dtype="datetime64[us]")
        self._matrix = np.zeros((0, DIMENSIONS), dtype=np.float32)
        self._known: set[int] = set()

    def embed(self, text: str) -> np.ndarray:
        """The report's unit vector (float32), from the encoder's query cache when the KB embedded it."""
        return self._encode_query(normalise_query(text))

    def similar(
        self, session: Session, vector: np.ndarray, threshold: float, *, since: datetime, exclude: int | None
    ) -> dict[int, float]:
        """{report id: cosine} of the window's reports (since `since`) whose cosine with `vector` is at
        least `threshold`. What they are now (their alert, incident) is for the caller to read."""
        with self._lock:
            oldest = np.datetime64(_naive(since), "us")
            self._catch_up(session, since, oldest, exclude)
            n = self._size
            if not n:
                return {}
            # einsum, not BLAS: OpenBLAS splits one matrix-vector product across threads, and on a busy
            # machine that turns 0.5 ms into 10 (bench/incident_bench.py).
            scores = np.einsum("ij,j->i", self._matrix[:n], vector.astype(np.float32, copy=False))
            hits = np.flatnonzero((scores >= threshold) & (self._times[:n] >= oldest))
            found = {int(self._ids[i]): float(scores[i]) for i in hits}
            if exclude is not None:
                found.pop(exclude, None)
            return found

    def _catch_up(
        self, session: Session, since: datetime, oldest: np.datetime64, exclude: int | None
    ) -> None:
        """Load the reports this cache has not seen. The one being checked is left out: it is not committed
        yet, and a rolled-back id is given again to the next report on SQLite — a later check loads it."""
        self._forget_before(oldest)
        # Warm, the newest ids by primary key (the window's time index would walk the whole hour); cold,
        # the window by time.
        bound = ProblemReport.id > int(self._ids[: self._size].max()) - LATE_IDS if self._size else None
        listed = session.execute(
            select(ProblemReport.id, ProblemReport.reported_at).where(
                bound if bound is not None else ProblemReport.reported_at >= since,
                ProblemReport.vector.is_not(None),
                ProblemReport.id != (exclude if exclude is not None else -1),
            )
        )
        missing = [
            row.id for row in listed if row.id not in self._known and _naive(row.reported_at) >= _naive(since)
        ]
        if missing:
            self._add(session, missing)

    def _add(self, session: Session, ids: list[int]) -> None:
        statement = select(ProblemReport.id, ProblemReport.reported_at, ProblemReport.vector).where(
            ProblemReport.id.in_(ids)
        )
        rows = list(session.execute(statement))
        if not rows:
            return
        self._reserve(self._size + len(rows))
        for row in rows:
            at = self._size
            self._matrix[at] = from_bytes(row.vector)
            self._ids[at] = row.id
            self._times[at] = np.datetime64(_naive(row.reported_at), "us")
            self._size += 1
            self._known.add(row.id)

    def _reserve(self, wanted: int) -> None:
        capacity = len(self._ids)
        if wanted <= capacity:
            return
        capacity = max(wanted, 2 * capacity, 1024)
        n = self._size
        matrix = np.zeros((capacity, DIMENSIONS), dtype=np.float32)
        matrix[:n] = self._matrix[:n]
        ids = np.zeros(capacity, dtype=np.int64)
        ids[:n] = self._ids[:n]
        times = np.zeros(capacity, dtype="datetime64[us]")
        times[:n] = self._times[:n]
        self._matrix, self._ids, self._times = matrix, ids, times

    def _forget_before(self, oldest: np.datetime64) -> None:
        """Drop the rows that left the window, once they are half the rows held (one copy then)."""
        n = self._size
        keep = self._times[:n] >= oldest
        dropped = n - int(keep.sum())
        if dropped * 2 < n or not dropped:
            return
        self._known.difference_update(int(i) for i in self._ids[:n][~keep])
        kept = int(keep.sum())
        self._matrix[:kept] = self._matrix[:n][keep]
        self._ids[:kept] = self._ids[:n][keep]
        self._times[:kept] = self._times[:n][keep]
        self._size = kept


def vectors_of(session: Session, report_ids: Iterable[int]) -> dict[int, np.ndarray]:
    """The stored vectors of a few reports (an incident's), read by primary key."""
    statement = select(ProblemReport.id, ProblemReport.vector).where(
        ProblemReport.id.in_(list(report_ids)), ProblemReport.vector.is_not(None)
    )
    return {row.id: from_bytes(row.vector) for row in session.execute(statement)}


def _naive(moment: datetime) -> datetime:
    """Compared as naive UTC, whatever the database hands back (aware or naive)."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)
