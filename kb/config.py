"""The knowledge-base settings the command line shares with the running bot, read the same way
(`FRONTDESK_*` environment variables, then a `.env` file in the working directory), so that
`frontdesk kb search` and `frontdesk intent` without a ranker flag answer as the bot would.

Only these fields are read (a wrong value elsewhere in the settings is the bot's start-up to report).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

SEMANTIC_CHOICES = {"auto": None, "on": True, "off": False}


class KbSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FRONTDESK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    kb_dir: Path | None = None
    kb_semantic: Literal["auto", "on", "off"] = "auto"


def configured_semantic() -> bool | None:
    """FRONTDESK_KB_SEMANTIC as the bot reads it: None (auto: on when the model is installed), True, False."""
    try:
        return SEMANTIC_CHOICES[KbSettings().kb_semantic]
    except ValidationError as error:
        raise ValueError(
            f"FRONTDESK_KB_SEMANTIC must be auto, on or off ({error.errors()[0]['msg']})"
        ) from None
