"""The on-disk cache for what frontdesk builds from its own data: article indexes, embeddings, the intent
model. It lives in `$XDG_CACHE_HOME/frontdesk` (default `~/.cache/frontdesk`). A cache is only ever an
optimisation: a file that cannot be read is a miss, and a folder that cannot be written is no error.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "frontdesk"


def load(path: Path) -> object | None:
    """What `store` put at `path`, or None when it is absent, corrupt or from an incompatible version."""
    # These are files this user's own runs wrote in their own cache folder.
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception as error:
        log.info("cache: ignoring unreadable %s (%s)", path, error)
        return None


def store(path: Path, value: object) -> None:
    """Write atomically (a reader never sees half a file); failing to write is logged, not raised."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with temporary.open("wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        temporary.replace(path)
    except OSError as error:
        log.info("cache: %s not written (%s); continuing without it", path, error)
