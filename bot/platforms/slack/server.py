"""HTTP mode: Slack's events and interactions at `/slack/events`, and the probes a load balancer asks.

`/healthz` answers while the process is up; `/readyz` only when the database is reachable. The request
body goes to bolt untouched: bolt checks its signature (HMAC of `v0:{timestamp}:{body}` with the signing
secret, at most 5 minutes old) and answers 401 when it does not hold.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import structlog
from slack_bolt import App
from slack_bolt.request import BoltRequest

from bot.platforms.health import is_ready

log = structlog.get_logger(__name__)
EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 1 << 20  # Slack's payloads are far smaller; a bigger body is not Slack


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # http.server's default backlog of 5 resets connections when Slack delivers a burst of events;
    # a reset request is retried by Slack only after seconds, so it counts as a late ack.
    request_queue_size = 128


class SlackHttpServer:
    def __init__(self, bolt: App, ready: Callable[[], bool], *, host: str = "0.0.0.0", port: int = 3000):
        self.bolt = bolt
        self.ready = ready
        self.httpd = _Server((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="slack-http", daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _handler_for(server: SlackHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._answer(200, b"ok\n")
            elif self.path == "/readyz":
                ready = is_ready(server.ready)
                self._answer(200 if ready else 503, b"ready\n" if ready else b"database unreachable\n")
            else:
                self._answer(404, b"not found\n")

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != EVENTS_PATH:
                self._answer(404, b"not found\n")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._answer(413, b"too large\n")
                return
            body = self.rfile.read(length).decode("utf-8", errors="replace")
            headers: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in self.headers.items()}
            response = server.bolt.dispatch(BoltRequest(body=body, headers=headers))
            extra = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            self._answer(response.status, response.body.encode("utf-8"), extra)

        def _answer(
            self, status: int, body: bytes, headers: Mapping[str, Sequence[str]] | None = None
        ) -> None:
            self.send_response(status)
            for key, values in (headers or {}).items():
                for value in values:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # structlog logs what matters; http.server's lines would go to stderr unformatted

    return Handler
