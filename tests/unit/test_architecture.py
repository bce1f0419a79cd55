"""House rules the code must keep: chat SDKs stay in bot/platforms; the core imports no platform."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHAT_SDKS = ("slack_bolt", "slack_sdk", "microsoft_teams", "microsoft_agents", "botbuilder")


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


# One-way layering: platforms → engine (bot.engine, bot.bootstrap, bot.delivery, bot.scheduling) → handlers
# → messages / store / automations / kb. Nothing below imports what is above it.
ABOVE_HANDLERS = (
    "bot.engine",
    "bot.bootstrap",
    "bot.platforms",
    "bot.delivery",
    "bot.scheduling",
    "bot.cli",
    "bot.cli_support",
    "bot.cli_delivery",
    "bot.knowledge",
)
BELOW_HANDLERS = ("bot/messages.py", "bot/store", "bot/insights.py", "bot/redact.py", "bot/textsafety.py")


def _imports_any(path: Path, prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in imported_modules(path) if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_handlers_never_import_the_engine_platforms_or_delivery() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {bad}"
        for path in (ROOT / "handlers").rglob("*.py")
        if (bad := _imports_any(path, ABOVE_HANDLERS))
    ]
    assert offenders == []


def test_what_handlers_build_on_never_imports_handlers_or_the_engine() -> None:
    paths = [ROOT / "kb", ROOT / "automations", *(ROOT / p for p in BELOW_HANDLERS)]
    files = [f for p in paths for f in (p.rglob("*.py") if p.is_dir() else [p]) if f.exists()]
    offenders = [
        f"{path.relative_to(ROOT)}: {bad}"
        for path in files
        if (bad := _imports_any(path, ("handlers", *ABOVE_HANDLERS)))
    ]
    assert files and offenders == []


def test_delivery_and_scheduling_know_no_handler_but_the_jobs() -> None:
    """The outbox and its dispatcher deliver whatever they are given; only the scheduler names the jobs."""
    offenders = [
        f"{path.relative_to(ROOT)}: {bad}"
        for path in (ROOT / "bot" / "delivery").rglob("*.py")
        if (bad := _imports_any(path, ("handlers", "bot.engine", "bot.bootstrap", "bot.platforms")))
    ]
    assert offenders == []
