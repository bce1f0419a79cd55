"""What every `frontdesk` command shares: settings with logging configured, and one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from bot.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings
from bot.store import db

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(command: F) -> F:
    """Settings and database problems end the command with one clear line, not a traceback."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SettingsError as error:
            raise click.ClickException(str(error)) from None
        except db.DatabaseError as error:
            raise click.ClickException(str(error)) from None

    return run  # type: ignore[return-value]


def command_settings(**overrides: Any) -> Settings:
    settings = load_settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    return settings
