"""Fixtures of the knowledge-base tests: a small article folder with its own index cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kb.helpers import article


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two articles in a fresh folder; the index cache lives under the test's own XDG_CACHE_HOME."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    kb_dir = tmp_path / "articles"
    kb_dir.mkdir()
    (kb_dir / "vpn.md").write_text(article("vpn", "Connect to the VPN"), encoding="utf-8")
    (kb_dir / "printer.md").write_text(article("printer", "Clear a printer jam"), encoding="utf-8")
    return kb_dir
