"""The on-disk index cache for a folder of article files (what `frontdesk kb search --kb DIR` uses).

The cache file is keyed by the folder's absolute path, the ranker (lexical, or the semantic model and
the hash of its file) and the engine version; inside, it keeps a manifest of the folder's article files
(name → modification time and size). When the manifest of the folder on disk differs, the folder is
re-read and re-indexed, and the difference is reported as added / changed / removed files. The cache
lives under $XDG_CACHE_HOME/frontdesk (default
~/.cache/frontdesk); a cache that cannot be read or written only costs the rebuild, never an error.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from kb import cache
from kb import semantic as semantic_extra
from kb.articles import article_files, load_articles
from kb.cache import cache_dir
from kb.search import ENGINE_VERSION, KnowledgeBase, semantic_wanted

Manifest = dict[str, tuple[int, int]]  # file name → (mtime in ns, size in bytes)


@dataclass
class IndexReport:
    """What opening a folder did: whether the cache was used, and which files changed since it was made."""

    articles: int
    from_cache: bool
    seconds: float
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    cache_file: Path | None = None


def manifest(folder: Path) -> Manifest:
    entries: Manifest = {}
    for path in article_files(folder):
        stat = path.stat()
        entries[path.name] = (stat.st_mtime_ns, stat.st_size)
    return entries


def cache_file(folder: Path, semantic: bool) -> Path:
    # The semantic ranker's key names its model file (by hash): vectors of two models never meet.
    ranker = semantic_extra.MODEL_ID if semantic else "lexical"
    key = f"{ENGINE_VERSION}\0{folder.resolve()}\0{ranker}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return cache_dir() / f"kb-index-{digest}.pickle"


def open_folder(folder: Path | str, *, semantic: bool | None = None) -> tuple[KnowledgeBase, IndexReport]:
    """The KnowledgeBase of a folder of article files, from the cache when no file changed."""
    started = time.perf_counter()
    folder = Path(folder)
    use_semantic = semantic_wanted(semantic)
    current = manifest(folder)
    path = cache_file(folder, use_semantic)
    cached = _read(path)
    if cached is not None and cached["manifest"] == current:
        kb = cached["kb"]
        return kb, IndexReport(len(kb), True, time.perf_counter() - started, cache_file=path)
    kb = KnowledgeBase.build(load_articles(folder), semantic=use_semantic)
    previous: Manifest = cached["manifest"] if cached is not None else {}
    _write(path, {"engine": ENGINE_VERSION, "manifest": current, "kb": kb})
    return kb, IndexReport(
        articles=len(kb),
        from_cache=False,
        seconds=time.perf_counter() - started,
        added=sorted(set(current) - set(previous)),
        changed=sorted(name for name in set(current) & set(previous) if current[name] != previous[name]),
        removed=sorted(set(previous) - set(current)),
        cache_file=path,
    )


def _read(path: Path) -> dict | None:
    data = cache.load(path)
    if not isinstance(data, dict) or data.get("engine") != ENGINE_VERSION or "kb" not in data:
        return None
    return data


def _write(path: Path, data: dict) -> None:
    cache.store(path, data)
