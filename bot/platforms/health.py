"""What `/readyz` answers, for every platform's server: the readiness check's result, or False — with a
warning naming the error — when the check itself fails (a database that is down raises)."""

from __future__ import annotations

from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


def is_ready(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except Exception as error:
        log.warning("readiness_failed", error=type(error).__name__)
        return False
