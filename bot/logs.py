"""structlog set-up: JSON lines off a terminal, readable lines on one, secrets redacted everywhere.

Log lines go to standard error so that `frontdesk chat --json` keeps standard output for the bot's
messages. Standard-library loggers (bolt, ldap3, msal, apscheduler, alembic) are routed through the same
processors, so their lines are redacted too. ldap3's own logger stays at WARNING: its protocol debug
lines contain new passwords.

Tracebacks never show frame locals (a local may hold a temporary password), and the fully rendered line
is scrubbed of registered secrets once more as the very last step: a traceback is rendered after the
per-key redaction has run, so that pass alone cannot see what an exception message contains.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from bot.clock import now
from bot.redact import hide_typed_secrets

REDACTED = "[redacted]"
_SENSITIVE_KEY = re.compile(r"pass(word)?|secret|token|code|credential|authorization|api_?key", re.I)
# A delivered secret is scrubbed this much longer than it is shown: a retried delivery or a slow log
# line may still carry it just after the platform deleted the message.
SECRET_MARGIN = timedelta(minutes=5)
_live_secrets: dict[str, datetime | None] = {}  # secret → when to forget it (None: until forgotten)
_lock = threading.Lock()


def register_secret(value: str, *, ttl_seconds: float | None = None) -> None:
    """Redact `value` from every later log line, wherever it appears (kept in memory only) — for
    `ttl_seconds` plus SECRET_MARGIN when given (a temporary password that is no longer shown), so the
    scrubber does not keep every password the bot ever handed out."""
    if value and len(value) >= 4:
        until = now() + timedelta(seconds=ttl_seconds) + SECRET_MARGIN if ttl_seconds is not None else None
        with _lock:
            _live_secrets[value] = until


def forget_secret(value: str) -> None:
    with _lock:
        _live_secrets.pop(value, None)


def live_secrets() -> list[str]:
    """The secrets scrubbed now; expired ones are forgotten here."""
    moment = now()
    with _lock:
        for secret, until in list(_live_secrets.items()):
            if until is not None and moment > until:
                del _live_secrets[secret]
        return list(_live_secrets)


def redact_text(text: str) -> str:
    """Scrub every registered secret from `text`, also as JSON escapes it (a `"` or `\\` in a password)."""
    secrets = live_secrets()
    for secret in secrets:
        for form in {secret, json.dumps(secret)[1:-1]}:
            text = text.replace(form, REDACTED)
    return text


def redact_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: blank sensitive keys, and scrub registered secrets and typed ones ("my password
    is …", e.g. in an email subject) from every string value."""
    for key, value in list(event_dict.items()):
        if _SENSITIVE_KEY.search(key) and key not in ("event", "code_sent", "status_code"):
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = redact_text(hide_typed_secrets(value))
        elif value is not None and not isinstance(value, int | float | bool):
            event_dict[key] = redact_text(hide_typed_secrets(str(value)))
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: Any = None) -> None:
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(
            colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = _RedactingFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([_DICT_TRACEBACKS] if as_json else []),
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in _NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


# Libraries whose INFO lines are noise for a help desk (sentence_transformers announces every model load
# in the middle of the console chat); ldap3 because its debug lines carry passwords.
_NOISY_LOGGERS = (
    "ldap3",
    "urllib3",
    "apscheduler",
    "alembic",
    "sqlalchemy.engine",
    "msal",
    "httpx",  # a line per Graph call; ours (graph_call) says the same at DEBUG
    "httpcore",  # its debug lines carry raw headers
    "microsoft_teams",  # the Teams SDK logs each activity whole at DEBUG: what people type, codes included
    "sentence_transformers",
    "transformers",
    "huggingface_hub",
    "filelock",
)
# JSON tracebacks as structured frames, without locals: a frame's locals may hold a password.
_DICT_TRACEBACKS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


class _RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """The last word on every line: scrub registered secrets from the rendered text, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def bind(**values: Any) -> None:
    """Bind person / conversation / ticket ids to every log line of the current event."""
    structlog.contextvars.bind_contextvars(**values)


def clear() -> None:
    structlog.contextvars.clear_contextvars()
