"""Log lines never carry a secret, not even inside a traceback, and libraries keep quiet."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from bot import logs

SECRET = 'Kx7$"pq\\Zr-42'  # quotes and a backslash: JSON escapes them, the redaction must still match


@pytest.fixture
def registered() -> Iterator[str]:
    logs.register_secret(SECRET)
    yield SECRET
    logs.forget_secret(SECRET)


def fail_with_secret_in_a_local(secret: str) -> None:
    temporary_password = secret  # a local a rich traceback would print
    raise RuntimeError(f"directory refused {temporary_password}")


def log_failure(fmt: str) -> str:
    stream = io.StringIO()
    logs.configure_logging("INFO", fmt, stream=stream)
    try:
        fail_with_secret_in_a_local(SECRET)
    except RuntimeError:
        structlog.get_logger("test").exception("reset_failed")
    return stream.getvalue()


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_tracebacks_carry_neither_locals_nor_secrets(registered: str, fmt: str) -> None:
    text = log_failure(fmt)
    assert "reset_failed" in text and "RuntimeError" in text  # the traceback is there…
    assert "fail_with_secret_in_a_local" in text
    assert "directory refused [redacted]" in text  # …with the secret scrubbed from its message
    assert registered not in text and json.dumps(registered)[1:-1] not in text
    assert "temporary_password =" not in text and "'temporary_password'" not in text  # no locals


def test_json_traceback_is_structured(registered: str) -> None:
    line = json.loads(log_failure("json").splitlines()[0])
    frames = line["exception"][0]["frames"]
    assert line["exception"][0]["exc_type"] == "RuntimeError"
    assert all("locals" not in frame or not frame["locals"] for frame in frames)


def test_model_loading_chatter_is_silenced() -> None:
    stream = io.StringIO()
    logs.configure_logging("INFO", "console", stream=stream)
    logging.getLogger("sentence_transformers.SentenceTransformer").info("Load pretrained SentenceTransformer")
    logging.getLogger("sentence_transformers").warning("model card missing")
    structlog.get_logger("bot").info("event_handled")
    text = stream.getvalue()
    assert "Load pretrained" not in text
    assert "model card missing" in text and "event_handled" in text


def test_a_temporary_password_is_forgotten_by_the_scrubber_after_its_ttl(frozen_clock) -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    logs.register_secret("Tmp-Pass-9x7", ttl_seconds=600)
    assert logs.redact_text("pw Tmp-Pass-9x7") == f"pw {logs.REDACTED}"
    frozen_clock(start + timedelta(seconds=600) + logs.SECRET_MARGIN - timedelta(seconds=1))
    assert logs.redact_text("pw Tmp-Pass-9x7") == f"pw {logs.REDACTED}"  # still on screen somewhere
    frozen_clock(start + timedelta(seconds=600) + logs.SECRET_MARGIN + timedelta(seconds=1))
    assert logs.redact_text("pw Tmp-Pass-9x7") == "pw Tmp-Pass-9x7"
    assert "Tmp-Pass-9x7" not in logs.live_secrets()  # not kept in memory either
