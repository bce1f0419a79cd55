"""The Graph client's own rules: how long to wait, which errors mean what, where a token may go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from automations.directory import DirectoryUnavailable, NotFound, NotPermitted
from automations.entra.graph import (
    DEFAULT_WAIT_SECONDS,
    GraphClient,
    GraphError,
    GraphForbidden,
    GraphNotFound,
    GraphUnavailable,
    error_for,
    retry_after,
)


class NoTokens:
    def token(self, scope: str) -> str:
        raise AssertionError("no call expected")


def answer(status: int, body: object = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("header", "seconds"), [("7", 7.0), ("0", 0.0), ("-3", 0.0), ("soon", DEFAULT_WAIT_SECONDS)]
)
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert retry_after(answer(429, **{"Retry-After": header})) == seconds


def test_retry_after_as_an_http_date_and_missing() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after(answer(503, **{"Retry-After": later})) <= 30
    assert retry_after(answer(503)) == DEFAULT_WAIT_SECONDS


@pytest.mark.parametrize(
    ("status", "kind", "family"),
    [
        (404, GraphNotFound, NotFound),
        (403, GraphForbidden, NotPermitted),
        (401, GraphForbidden, NotPermitted),
        (500, GraphUnavailable, DirectoryUnavailable),
        (400, GraphError, GraphError),
    ],
)
def test_errors_are_typed_with_graphs_code(status: int, kind: type, family: type) -> None:
    body = {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}}
    error = error_for(answer(status, body), "PATCH users/x")
    assert type(error) is kind and isinstance(error, family)
    assert error.status == status and error.code == "Authorization_RequestDenied"
    assert error.reason.startswith(f"PATCH users/x: HTTP {status} Authorization_RequestDenied")


def test_a_next_link_to_another_host_is_never_followed() -> None:
    client = GraphClient(NoTokens(), "https://graph.microsoft.com")
    try:
        assert client._same_service("https://graph.microsoft.com/v1.0/users?$skiptoken=2")
        with pytest.raises(GraphError, match="another host"):
            client._same_service("https://evil.example/v1.0/users?$skiptoken=2")
    finally:
        client.close()
