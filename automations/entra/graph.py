"""A small Microsoft Graph client: the handful of v1.0 calls frontdesk makes, over httpx.

What it does for every call: a bearer token from `AppCredentials` (cached by msal), a timeout, waiting out
429 and 503 answers for as long as their `Retry-After` asks (a bounded number of times, through an
injectable `sleep` so tests advance no real clock), following `@odata.nextLink` pages, and typed errors a
caller can act on. Request bodies (a new password) are never logged nor put into an error.

The generated msgraph-sdk is ~390 MB and async-only; these calls need none of it.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import structlog

from automations.directory import DirectoryError, DirectoryUnavailable, NotFound, NotPermitted
from automations.entra.credentials import CredentialsError

log = structlog.get_logger(__name__)

DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
API_VERSION = "v1.0"
THROTTLED = (429, 503)
MAX_ATTEMPTS = 4  # one call and up to three waits
MAX_WAIT_SECONDS = 30.0  # a longer Retry-After fails the call: a person is waiting in the chat
DEFAULT_WAIT_SECONDS = 2.0  # when a throttled answer names no Retry-After
MAX_PAGES = 200  # a runaway nextLink chain stops here


class TokenSource(Protocol):
    def token(self, scope: str) -> str: ...


class GraphError(DirectoryError):
    """Graph answered with an error; `status` is the HTTP status, `code` Graph's error code."""

    def __init__(self, reason: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.code = code


class GraphNotFound(GraphError, NotFound):
    """Graph has no such object (404)."""


class GraphForbidden(GraphError, NotPermitted):
    """Graph refused (401/403): the app lacks a permission or an Entra role for this object."""


class GraphUnavailable(GraphError, DirectoryUnavailable):
    """Graph could not be reached, did not answer in time, or failed (5xx)."""


class GraphThrottled(GraphUnavailable):
    """Graph kept answering 429/503 (or asked for a longer wait than the bot will make a person wait)."""


class GraphClient:
    def __init__(
        self,
        credentials: TokenSource,
        base_url: str = DEFAULT_GRAPH_URL,
        *,
        ca_file: str | Path | None = None,
        timeout: float = 10.0,
        max_attempts: int = MAX_ATTEMPTS,
        max_wait: float = MAX_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.scope = f"{self.base_url}/.default"
        self._credentials = credentials
        self._max_attempts = max(1, max_attempts)
        self._max_wait = max_wait
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=f"{self.base_url}/{API_VERSION}/",
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            # An explicit SSL context: httpx reads SSL_CERT_FILE/SSL_CERT_DIR only for verify=True, so the
            # CA setting wins over the environment while its proxy variables still apply.
            verify=ssl.create_default_context(cafile=str(ca_file)) if ca_file else True,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    # --- the calls -----------------------------------------------------------------------------------

    def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return self._json(self.request("GET", path, params=params))

    def get_all(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a collection, following `@odata.nextLink` page by page."""
        return list(self.iter_all(path, params))

    def iter_all(self, path: str, params: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        page = self.get(path, params)
        for _ in range(MAX_PAGES):
            yield from page.get("value") or []
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return
            page = self._json(self.request("GET", self._same_service(str(next_link))))
        raise GraphError(f"GET {path}: more than {MAX_PAGES} pages", status=200)

    def patch(self, path: str, body: dict[str, Any]) -> None:
        self.request("PATCH", path, json=body)

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._json(self.request("POST", path, json=body if body is not None else {}))

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call, waiting out throttling; raises a GraphError for any answer that is not 2xx."""
        what = f"{method} {_path_only(path)}"
        for attempt in range(1, self._max_attempts + 1):
            started = time.perf_counter()
            response = self._send(method, path, what, **kwargs)
            log.debug(
                "graph_call",
                call=what,
                status=response.status_code,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
            if response.status_code not in THROTTLED:
                break
            wait = retry_after(response)
            if attempt == self._max_attempts or wait > self._max_wait:
                raise GraphThrottled(
                    f"{what}: Microsoft Graph is throttling the bot (HTTP {response.status_code}, "
                    f"retry after {wait:g} s)",
                    status=response.status_code,
                )
            log.info("graph_throttled", call=what, status=response.status_code, wait_seconds=wait)
            self._sleep(wait)
        if response.is_success:
            return response
        raise error_for(response, what)

    # --- helpers -------------------------------------------------------------------------------------

    def _send(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            token = self._credentials.token(self.scope)
        except CredentialsError as error:
            raise GraphUnavailable(f"{what}: {error}") from None
        try:
            return self._http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
        except httpx.TimeoutException:
            raise GraphUnavailable(f"{what}: Microsoft Graph did not answer in time") from None
        except httpx.HTTPError as error:
            raise GraphUnavailable(f"{what}: Microsoft Graph could not be reached ({error})") from None

    def _same_service(self, link: str) -> str:
        """A nextLink must point back at our Graph: the bearer token is never sent anywhere else."""
        ours, theirs = urlsplit(self.base_url), urlsplit(link)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            raise GraphError(f"refused to follow a nextLink to another host ({theirs.netloc})")
        return link

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        if not response.content:
            return {}
        try:
            body = response.json()
        except ValueError:
            raise GraphError(f"Microsoft Graph answered HTTP {response.status_code} with no JSON") from None
        return body if isinstance(body, dict) else {}


def retry_after(response: httpx.Response) -> float:
    """Seconds to wait, from `Retry-After` (seconds or an HTTP date); a default when there is none."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return DEFAULT_WAIT_SECONDS
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_WAIT_SECONDS
    return max(0.0, moment.timestamp() - time.time())


def error_for(response: httpx.Response, what: str) -> GraphError:
    """The typed error for an answer that is not 2xx, with Graph's own code and message."""
    status = response.status_code
    code, message = _graph_error(response)
    detail = f"{what}: HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if status == 404:
        return GraphNotFound(detail, status=status, code=code)
    if status in (401, 403):
        return GraphForbidden(
            f"{detail} (the app may lack a Graph permission or Entra role)", status=status, code=code
        )
    if status >= 500:
        return GraphUnavailable(detail, status=status, code=code)
    return GraphError(detail, status=status, code=code)


def _graph_error(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code") or ""), str(error.get("message") or "")[:300]


def _path_only(path: str) -> str:
    """The path of a call without its query: a $filter holds an email address, kept out of error text."""
    return urlsplit(path).path.removeprefix(f"/{API_VERSION}/")
