"""The folder index cache: reused when nothing changed, rebuilt on added / changed / deleted files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kb import index
from kb.index import cache_file, open_folder
from tests.kb.helpers import article


def bump_mtime(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def test_cache_lives_under_xdg_cache_home(folder: Path, tmp_path: Path) -> None:
    _, report = open_folder(folder, semantic=False)
    assert report.cache_file is not None and report.cache_file.is_file()
    assert report.cache_file.is_relative_to(tmp_path / "cache" / "frontdesk")


def test_cache_defaults_to_home_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert index.cache_dir() == tmp_path / ".cache" / "frontdesk"


def test_second_open_uses_the_cache(folder: Path) -> None:
    _, first = open_folder(folder, semantic=False)
    assert not first.from_cache and first.added == ["printer.md", "vpn.md"]
    kb, second = open_folder(folder, semantic=False)
    assert second.from_cache and len(kb) == 2


def test_added_changed_and_deleted_files_are_picked_up(folder: Path) -> None:
    open_folder(folder, semantic=False)
    (folder / "wifi.md").write_text(article("wifi", "Join the guest wifi"), encoding="utf-8")
    changed = folder / "printer.md"
    changed.write_text(article("printer", "Printer toner is empty"), encoding="utf-8")
    bump_mtime(changed)
    (folder / "vpn.md").unlink()

    kb, report = open_folder(folder, semantic=False)

    assert not report.from_cache
    assert (report.added, report.changed, report.removed) == (["wifi.md"], ["printer.md"], ["vpn.md"])
    assert sorted(a.id for a in kb.articles) == ["printer", "wifi"]
    assert kb.search("printer toner empty").hits[0].article.title == "Printer toner is empty"
    assert all(h.article.id != "vpn" for h in kb.search("connect to the vpn").hits)


def test_unwritable_cache_is_not_an_error(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    kb, report = open_folder(folder, semantic=False)
    assert len(kb) == 2 and not report.from_cache
    assert kb.search("printer jam").answer is not None


def test_corrupt_cache_is_rebuilt(folder: Path) -> None:
    path = cache_file(folder, False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a pickle")
    kb, report = open_folder(folder, semantic=False)
    assert not report.from_cache and len(kb) == 2
    assert open_folder(folder, semantic=False)[1].from_cache
