"""House rules the code must keep: chat SDKs stay in bot/platforms; the core imports no platform."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHAT_SDKS = ("slack_bolt", "slack_sdk", "microsoft_agents", "botbuilder")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_handlers_automations_and_kb_never_import_a_chat_sdk() -> None:
    offenders = []
    for package in ("handlers", "automations", "kb"):
        for path in (ROOT / package).rglob("*.py"):
            bad = {m for m in imported_modules(path) if m.split(".")[0] in CHAT_SDKS}
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert offenders == []


def test_only_platform_adapters_import_chat_sdks() -> None:
    offenders = []
    for path in (ROOT / "bot").rglob("*.py"):
        if "platforms" in path.parts:
            continue
        if any(m.split(".")[0] in CHAT_SDKS for m in imported_modules(path)):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_automations_know_nothing_of_chat_or_conversations() -> None:
    offenders = []
    for path in (ROOT / "automations").rglob("*.py"):
        bad = {m for m in imported_modules(path) if m.split(".")[0] in ("handlers", "bot")}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert offenders == []
