"""The HTTP front door: one FastAPI app served by uvicorn on FRONTDESK_HTTP_PORT.

`/api/messages` is the Teams SDK's own route (it validates the Bot Framework token and answers 401 itself);
`/healthz` says the process is up, `/readyz` that the database is reachable. When Slack runs in HTTP mode
in the same process, `/slack/events` is served here too: the body goes to bolt untouched (bolt checks its
signature) in a worker thread, as Slack's own server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

from bot.platforms.health import is_ready

log = structlog.get_logger(__name__)
SLACK_EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 1 << 20


def web_app(ready: Callable[[], bool]) -> FastAPI:
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @web.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", media_type="text/plain")

    @web.get("/readyz")
    def readyz() -> Response:
        up = is_ready(ready)
        return Response(
            "ready\n" if up else "database unreachable\n",
            status_code=200 if up else 503,
            media_type="text/plain",
        )

    return web


def serve_slack(web: FastAPI, bolt: Any) -> None:
    """Slack's events (HTTP mode) on the same port: `/slack/events`, handed to the bolt app."""
    from slack_bolt.request import BoltRequest

    @web.post(SLACK_EVENTS_PATH)
    async def slack_events(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return Response("too large\n", status_code=413)
        headers: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in request.headers.items()}
        bolt_request = BoltRequest(body=raw.decode("utf-8", errors="replace"), headers=headers)
        answer = await run_in_threadpool(bolt.dispatch, bolt_request)
        extra = {k: v[0] for k, v in answer.headers.items() if v and k.lower() != "content-length"}
        return Response(answer.body, status_code=answer.status, headers=extra)


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: it re-raises SIGTERM after shutting down, which would end
    the process before the scheduler and the dispatcher stop. `frontdesk run` handles signals itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebServer:
    """uvicorn serving `web`: in a thread (`start`/`stop`, tests and the benchmark) or until stopped."""

    def __init__(self, web: FastAPI, *, host: str = "0.0.0.0", port: int = 3000) -> None:
        config = uvicorn.Config(
            web, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        self.server = _Uvicorn(config)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.run, name="teams-http", daemon=True)
        self._thread.start()
        started = threading.Event()
        while not self.server.started and self._thread.is_alive():
            started.wait(0.01)  # uvicorn binds in its own thread; this waits for the socket, not for time
        if not self.server.started:
            raise RuntimeError("the HTTP server did not start")

    def serve_until(self, stop: threading.Event) -> None:
        """In this thread until `stop` is set (SIGTERM/SIGINT, by the caller's handlers)."""

        async def watch() -> None:
            while not (stop.is_set() or self.server.should_exit):
                await asyncio.sleep(0.2)
            self.server.should_exit = True

        async def main() -> None:
            await asyncio.gather(self.server.serve(), watch())

        asyncio.run(main())
        stop.set()

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
