"""A fake Slack Web API over real HTTP on 127.0.0.1, for the real slack_sdk and slack-bolt to talk to.

It records every call's method and parameters (JSON or form-encoded, as slack_sdk sends them), keeps the
messages posted so updates and deletions can be checked, knows a few users, and answers 429 with
Retry-After when told to (`rate_limit("chat.postMessage")`). Modals (views.open) and the App Home
(views.publish) are recorded as calls; files_upload_v2's three steps are answered — an upload URL on this
server, the bytes posted to it (`uploads`), the completion sharing them (`shared_files`).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.servers.support import serve_on_loopback

BOT_USER = "UBOT"
TEAM = "T0001"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)  # when it arrived (the benchmark's clock)


@dataclass
class FakeSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: set[str] = field(default_factory=set)  # channels that exist (besides DMs)
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (channel, ts) -> last
    deleted: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    socket_url: str = ""  # what apps.connections.open answers (a FakeSocketMode's ws:// URL)
    uploads: dict[str, bytes] = field(default_factory=dict)  # file id -> the bytes posted to its URL
    shared_files: list[dict[str, Any]] = field(default_factory=list)  # {id, title, channel, thread_ts, data}
    expired_triggers: set[str] = field(default_factory=set)  # views.open answers expired_trigger_id
    _limits: dict[str, int] = field(default_factory=dict)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_user(self, user_id: str, email: str, name: str, *, team: str = TEAM, **flags: Any) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": team,
            "name": email.split("@")[0],
            "real_name": name,
            "profile": {"email": email, "real_name": name},
            **flags,
        }

    def rate_limit(self, method: str, times: int = 1) -> None:
        self._limits[method] = times

    def of(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [c.params for c in self.calls if c.method == method]

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [p for p in self.of("chat.postMessage") if channel is None or p.get("channel") == channel]

    # --- the API ----------------------------------------------------------------------------------------

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(Call(method, params))
            if self._limits.get(method):
                self._limits[method] -= 1
                return 429, {"ok": False, "error": "ratelimited"}
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            if handler is None:
                return 200, {"ok": False, "error": "unknown_method"}
            return 200, handler(params)

    def _auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": BOT_USER, "team_id": TEAM, "bot_id": "B0001", "user": "frontdesk"}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(params.get("user", ""))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        for user in self.users.values():
            if user["profile"]["email"] == params.get("email"):
                return {"ok": True, "user": user}
        return {"ok": False, "error": "users_not_found"}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("users", ""))
        if user not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": "D" + user}}

    def _known(self, channel: str) -> bool:
        return channel in self.channels or (channel.startswith("D") and channel[1:] in self.users)

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        if not self._known(channel):
            return {"ok": False, "error": "channel_not_found"}
        ts = f"1700000000.{next(self._ts):06d}"
        self.messages[(channel, ts)] = params
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text")}}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params.get("channel")), str(params.get("ts")))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        self.messages[key] = params
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params.get("channel")), str(params.get("ts")))
        if self.messages.pop(key, None) is None:
            return {"ok": False, "error": "message_not_found"}
        self.deleted.append(key)
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _apps_connections_open(self, _: dict[str, Any]) -> dict[str, Any]:
        return (
            {"ok": True, "url": self.socket_url} if self.socket_url else {"ok": False, "error": "no_socket"}
        )

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": {"id": "V1"}}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id") or params["trigger_id"] in self.expired_triggers:
            return {"ok": False, "error": "expired_trigger_id"}
        return {"ok": True, "view": {"id": f"VMODAL{next(self._ts)}"}}

    def views(self, method: str = "views.open") -> list[dict[str, Any]]:
        """The views sent with `method`, decoded."""
        return [json.loads(v) if isinstance(v, str) else v for v in (p["view"] for p in self.of(method))]

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ts):06d}"
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.url}upload/{file_id}"}

    def receive_upload(self, file_id: str, data: bytes) -> None:
        with self._lock:
            self.uploads[file_id] = data

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = json.loads(params.get("files") or "[]")
        if not files or any(f.get("id") not in self.uploads for f in files):
            return {"ok": False, "error": "file_not_found"}
        channel = str(params.get("channel_id") or "")
        if channel and not self._known(channel):
            return {"ok": False, "error": "channel_not_found"}
        for f in files:
            self.shared_files.append(
                {**f, "channel": channel, "thread_ts": params.get("thread_ts"), "data": self.uploads[f["id"]]}
            )
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}


def _handler_for(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = urlsplit(self.path)
            if "/upload/" in path.path:  # step 2 of files_upload_v2: the raw bytes
                fake.receive_upload(path.path.rsplit("/", 1)[-1], data)
                self._send(200, {"ok": True})
                return
            raw = data.decode()
            if "json" in (self.headers.get("Content-Type") or ""):
                params = json.loads(raw or "{}")
            else:
                params = dict(parse_qsl(raw))
            params = {**dict(parse_qsl(path.query)), **params}  # slack_sdk sends some arguments in the URL
            status, body = fake.answer(path.path.rsplit("/", 1)[-1], params)
            self._send(status, body)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def start_fake_slack() -> tuple[FakeSlack, Callable[[], None]]:
    """A running fake on a free port, and how to stop it (the benchmark uses it without pytest)."""
    fake = FakeSlack()
    port, stop = serve_on_loopback(_handler_for(fake), "fake-slack")
    fake.url = f"http://127.0.0.1:{port}/api/"

    return fake, stop


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake, stop = start_fake_slack()
    try:
        yield fake
    finally:
        stop()
