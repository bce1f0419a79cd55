"""A fake Bot Connector and Bot Framework OpenID metadata over real HTTP on 127.0.0.1, for the real Teams
SDK (inbound token validation) and our Teams deliverer (outbound REST) to talk to.

- `GET /v1/.well-known/openidconfiguration` and `/v1/.well-known/keys`: the metadata and a JWKS holding the
  public half of a test RSA key; `mint()` signs Bot Framework tokens with it (or with another key, or with
  wrong claims, to see them refused).
- `POST /v3/conversations/{id}/activities[/{replyToId}]`, `PUT`/`DELETE …/activities/{activityId}`: recorded,
  each posted activity gets an id; `POST /v3/conversations` opens a 1:1 conversation;
  `GET /v3/conversations/{id}/members/{userId}`: the roster entry of a known user (email, UPN, tenant, role).
- Every Bot Connector call must carry `Authorization: Bearer …`; `fail_next(status)` answers the next one
  with an error (429 carries Retry-After: 0).

One server per test session (`teams_server`); `fake_teams` hands each test a clean one.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.servers.support import serve_on_loopback

APP_ID = "00000000-0000-0000-0000-0000000000b0"
TENANT = "11111111-1111-1111-1111-111111111111"
ISSUER = "https://api.botframework.com"
KID = "test-key"
# The bot's own token as the tests hand it to the SDK: JWT-shaped (the SDK decodes it), never checked here.
BOT_TOKEN = jwt.encode(
    {"aud": "https://api.botframework.com", "exp": 4102444800}, "k" * 32, algorithm="HS256"
)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any]
    authorization: str
    at: float = field(default_factory=time.monotonic)  # when it arrived (the benchmark's clock)


@dataclass
class FakeTeams:
    key: rsa.RSAPrivateKey = field(default_factory=new_key)
    url: str = ""  # the service URL, with Teams' trailing slash
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # 29:… id -> roster entry
    calls: list[Call] = field(default_factory=list)
    # (conversation, activity id) -> the activity as last posted or updated
    activities: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    # conversation -> when each activity posted to it arrived (the benchmark reads this, not `calls`)
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    _failures: list[int] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def openid_metadata_url(self) -> str:
        return self.url + "v1/.well-known/openidconfiguration"

    def reset(self) -> None:
        with self._lock:
            self.users.clear()
            self.calls.clear()
            self.activities.clear()
            self.deleted.clear()
            self.arrivals.clear()
            self._failures.clear()

    def add_user(
        self, user_id: str, email: str, name: str, *, tenant: str = TENANT, role: str = "user", upn: str = ""
    ) -> dict[str, Any]:
        """A person Teams knows: `user_id` is their Bot Framework id (29:…); returns their `from` account."""
        entry = {
            "id": user_id,
            "name": name,
            "aadObjectId": "aad-" + user_id.removeprefix("29:"),
            "email": email,
            "userPrincipalName": upn or email,
            "tenantId": tenant,
            "userRole": role,
        }
        self.users[user_id] = entry
        return {"id": user_id, "name": name, "aadObjectId": entry["aadObjectId"]}

    def fail_next(self, status: int, times: int = 1) -> None:
        self._failures.extend([status] * times)

    # --- tokens -----------------------------------------------------------------------------------------

    def mint(
        self,
        service_url: str | None = None,
        *,
        audience: str = APP_ID,
        issuer: str = ISSUER,
        expires_in: int = 3600,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        """A Bot Framework token as the Bot Connector signs it (RS256, `kid` naming our JWKS key)."""
        moment = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "iat": moment - 10,
            "nbf": moment - 10,
            "exp": moment + expires_in,
            "serviceurl": self.url if service_url is None else service_url,
        }
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": KID})

    # --- what reached the fake --------------------------------------------------------------------------

    def of(self, method: str, pattern: str = "") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]

    def arrived(self, conversation: str) -> list[float]:
        with self._lock:
            return list(self.arrivals.get(conversation, ()))

    def posted(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """Activities posted, oldest first, each with its `conversation`, `id` and `replyTo` (a thread);
        only those accepted: a call answered with an error posted nothing (and got no id)."""
        return [
            call.body
            for call in self.of("POST", r"/activities")
            if "id" in call.body and conversation in (None, call.body.get("_conversation"))
        ]

    def updated(self, conversation: str | None = None) -> list[dict[str, Any]]:
        return [
            c.body
            for c in self.of("PUT", r"/activities/")
            if conversation in (None, c.body.get("_conversation"))
        ]

    # --- the API ----------------------------------------------------------------------------------------

    def answer(self, method: str, path: str, body: dict[str, Any], authorization: str) -> tuple[int, Any]:
        with self._lock:
            return self._answer(method, path, body, authorization)

    def _answer(self, method: str, path: str, body: dict[str, Any], authorization: str) -> tuple[int, Any]:
        if method == "GET" and path.endswith("/openidconfiguration"):
            keys = self.url + "v1/.well-known/keys"
            return 200, {
                "issuer": ISSUER,
                "jwks_uri": keys,
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        if method == "GET" and path.endswith("/keys"):
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
            return 200, {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}
        match = re.fullmatch(
            r"/v3/conversations(?:/([^/]+)(?:/(activities|members)(?:/([^/]+))?(?:/([^/]+))?)?)?", path
        )
        if match is None:
            return 404, {"error": {"code": "NotFound", "message": path}}
        conversation, kind, item, _extra = (unquote(g) if g else g for g in match.groups())
        call = Call(method, path, {**body, "_conversation": conversation or ""}, authorization)
        self.calls.append(call)
        if not authorization.startswith("Bearer "):
            return 401, {"error": {"code": "Unauthorized"}}
        if self._failures:
            status = self._failures.pop(0)
            return status, {"error": {"code": "Failed", "message": f"told to fail with {status}"}}
        if conversation is None and method == "POST":
            return self._create_conversation(body)
        if kind == "members" and method == "GET" and item:
            member = self.users.get(item)
            return (200, member) if member else (404, {"error": {"code": "MemberNotFound"}})
        if kind == "activities" and method == "POST":
            activity_id = f"act-{next(self._ids)}"
            call.body.update({"id": activity_id, "replyTo": item or ""})
            self.activities[(conversation or "", activity_id)] = call.body
            self.arrivals.setdefault(conversation or "", []).append(call.at)
            return 201, {"id": activity_id}
        if kind == "activities" and method in ("PUT", "DELETE") and item:
            key = (conversation or "", item)
            if key not in self.activities:
                return 404, {"error": {"code": "ActivityNotFoundInConversation"}}
            if method == "DELETE":
                del self.activities[key]
                self.deleted.append(key)
                return 200, {}
            call.body["id"] = item
            self.activities[key] = call.body
            return 200, {"id": item}
        return 405, {"error": {"code": "MethodNotAllowed"}}

    def _create_conversation(self, body: dict[str, Any]) -> tuple[int, Any]:
        members = body.get("members") or []
        user = str(members[0].get("id", "")) if members else ""
        if user not in self.users or not (
            body.get("tenantId") or (body.get("channelData") or {}).get("tenant")
        ):
            return 400, {"error": {"code": "BadArgument", "message": "unknown member or no tenant"}}
        return 201, {"id": "a:personal-" + user.removeprefix("29:")}

    def personal(self, user_id: str) -> str:
        """The 1:1 conversation id the fake gives `user_id` (the same one Teams keeps for the pair)."""
        return "a:personal-" + user_id.removeprefix("29:")


def _handler_for(fake: FakeTeams) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the Bot Connector does
        disable_nagle_algorithm = True  # else headers and body wait out the peer's delayed ACK (40 ms)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            body = json.loads(raw) if raw.strip() else {}
            path = self.path.split("?", 1)[0]
            status, answer = fake.answer(self.command, path, body, self.headers.get("Authorization") or "")
            data = json.dumps(answer).encode()
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def start_fake_teams() -> tuple[FakeTeams, Callable[[], None]]:
    """A running fake on a free port, and how to stop it (the benchmark uses it without pytest)."""
    fake = FakeTeams()
    port, stop = serve_on_loopback(_handler_for(fake), "fake-teams", backlog=128)
    fake.url = f"http://127.0.0.1:{port}/"

    return fake, stop


@pytest.fixture(scope="session")
def teams_server() -> Iterator[FakeTeams]:
    fake, stop = start_fake_teams()
    try:
        yield fake
    finally:
        stop()


@pytest.fixture
def fake_teams(teams_server: FakeTeams) -> FakeTeams:
    teams_server.reset()
    return teams_server


@dataclass
class FakeLogin:
    """A fake Entra ID token endpoint over HTTPS (a trustme CA): what msal's client credentials flow asks.
    Records each token request's form, so a test can see the scope and that msal caches the token."""

    authority: str = ""  # https://127.0.0.1:P (the tenant follows in the path)
    ca_file: str = ""
    token_requests: list[dict[str, str]] = field(default_factory=list)


def start_fake_login(directory: str) -> tuple[FakeLogin, Callable[[], None]]:
    import ssl
    from urllib.parse import parse_qsl

    import trustme

    ca = trustme.CA()
    ca_file = f"{directory}/fake-login-ca.pem"
    ca.cert_pem.write_to_path(ca_file)
    login = FakeLogin(ca_file=ca_file)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            tenant = self.path.strip("/").split("/", 1)[0]
            base = f"{login.authority}/{tenant}"
            self._json(
                {
                    "issuer": f"{base}/v2.0",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                }
            )

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            login.token_requests.append(dict(parse_qsl(raw)))
            self._json({"token_type": "Bearer", "expires_in": 3600, "access_token": BOT_TOKEN})

        def _json(self, answer: dict[str, Any]) -> None:
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    port, stop = serve_on_loopback(Handler, "fake-login", tls=context)
    login.authority = f"https://127.0.0.1:{port}"

    return login, stop


@pytest.fixture
def fake_login(tmp_path: Any) -> Iterator[FakeLogin]:
    login, stop = start_fake_login(str(tmp_path))
    try:
        yield login
    finally:
        stop()
