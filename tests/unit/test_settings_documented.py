"""Every setting is documented in .env.example, and .env.example names no setting that doesn't exist."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_exactly_the_settings() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(rf"^#?\s*({ENV_PREFIX}[A-Z0-9_]+)=", text, re.M))
    expected = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert documented == expected
