"""Spelling tolerance against the knowledge base's own vocabulary: "conect to teh vpn" reads as "connect
to the vpn" when the articles say "connect" (and English says "the").

General technique only, nothing tuned to a question set. A query word is corrected only when it is not a
word of the knowledge base (titles, example questions, bodies) nor a common English word (the stop
words), and a known word lies within one edit (insertion, deletion, substitution or a swap of two
neighbouring letters; two edits for words of MIN_TWO_EDITS letters or more). Short words are the most
likely to be real words the articles merely do not use ("dark" is not a typo of "park"), so words shorter
than MIN_LENGTH are corrected only by a swap of neighbouring letters ("teh", "waht", "hwo"). Among
candidates the closest wins, then the most frequent in the knowledge base.

Candidates come from a symmetric-delete index (every known word under itself and each one-letter
deletion), so a look-up costs a few dictionary probes whatever the size of the knowledge base.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

MIN_LENGTH = 6
MIN_TWO_EDITS = 9
_WORD = re.compile(r"[a-z]+")
_TOKEN = re.compile(r"[A-Za-z]+|[^A-Za-z]+")


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Optimal-string-alignment distance (a neighbouring swap counts one), or limit + 1 beyond `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _is_swap(a: str, b: str) -> bool:
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


class Speller:
    """Corrects unknown words of a query to the nearest word of a vocabulary (see the module doc)."""

    def __init__(self, counts: Counter[str], common: Iterable[str] = ()) -> None:
        self.counts = counts
        self.known = set(counts) | set(common)
        for word in common:
            self.counts.setdefault(word, 1)
        self._index: dict[str, list[str]] = {}
        for word in self.known:
            if len(word) < 3:
                continue
            for key in {word, *_deletes(word)}:
                self._index.setdefault(key, []).append(word)
        self._cache: dict[str, str | None] = {}

    @classmethod
    def from_texts(cls, texts: Iterable[str], common: Iterable[str] = ()) -> Speller:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(_WORD.findall(text.lower()))
        return cls(counts, common)

    def correction(self, word: str) -> str | None:
        """The known word meant by `word` (lower case), or None when it is known or nothing is close."""
        if word in self.known or len(word) < 3 or not word.isalpha():
            return None
        if word not in self._cache:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[word] = self._nearest(word)
        return self._cache[word]

    def _nearest(self, word: str) -> str | None:
        limit = 2 if len(word) >= MIN_TWO_EDITS else 1
        candidates: set[str] = set()
        for key in {word, *_deletes(word)}:
            candidates.update(self._index.get(key, ()))
        if limit == 2:  # two edits: deletions of deletions of the query against the same index
            for first in _deletes(word):
                for key in _deletes(first):
                    candidates.update(self._index.get(key, ()))
        scored = []
        for candidate in candidates:
            if len(word) < MIN_LENGTH and not _is_swap(word, candidate):
                continue
            distance = edit_distance(word, candidate, limit)
            if distance <= limit:
                scored.append((distance, -self.counts.get(candidate, 0), candidate))
        return min(scored)[2] if scored else None

    def correct(self, text: str) -> str:
        """`text` with each unknown word replaced by its correction (case and punctuation kept)."""
        out = []
        for piece in _TOKEN.findall(text):
            fixed = self.correction(piece.lower()) if piece[:1].isalpha() else None
            out.append(fixed if fixed is not None else piece)
        return "".join(out)
