"""`frontdesk demo`: seeds, prints the guide, and chats — on a fresh database, and again on the same one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_demo(tmp_path: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env.update({"XDG_CACHE_HOME": str(tmp_path / "cache"), "FRONTDESK_KB_SEMANTIC": "off"})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--database", f"sqlite:///{tmp_path / 'd.db'}"],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def test_demo_seeds_guides_and_answers(tmp_path: Path) -> None:
    first = run_demo(tmp_path, "how do I connect to the vpn?\n/as tess@example.com\nqueue\n")
    assert first.returncode == 0, first.stderr
    assert "frontdesk demo" in first.stderr and "seeded an open ticket" in first.stderr
    assert "Did this solve it?" in first.stdout
    assert "Docking station doesn't detect second monitor" in first.stdout  # the seeded ticket in the queue
    again = run_demo(tmp_path, "")
    assert again.returncode == 0 and "demo data already there" in again.stderr
