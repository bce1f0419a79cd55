"""A clock that starts at a fixed moment and moves only when a test advances it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(frozen_clock: Callable[[Any], None]) -> Callable[..., None]:
    moment = [START]

    def advance(**delta: float) -> None:
        moment[0] += timedelta(**delta)
        frozen_clock(moment[0])

    frozen_clock(START)
    return advance
