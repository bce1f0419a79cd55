"""A fake Microsoft Entra ID (token endpoint) and Microsoft Graph over HTTPS on 127.0.0.1, for the real
msal and httpx to talk to.

One server per test session (`start_fake_entra()`, the `fake_entra` fixture resets its state per test),
with a certificate from a throwaway trustme CA whose PEM file is `fake.ca_file`. It serves:

- `/{tenant}/v2.0/.well-known/openid-configuration` and `/{tenant}/oauth2/v2.0/token` (client credentials
  with the client secret, or a client assertion signed by a registered certificate); every token request
  is counted and every Graph call must carry a token it issued;
- Graph v1.0: users (by `$filter` on mail/userPrincipalName, by id), manager, transitiveMemberOf (paged
  through `@odata.nextLink`), checkMemberGroups, PATCH passwordProfile, revokeSignInSessions, groups (by
  id, by displayName), transitiveMembers, members `$ref` add and remove, with Graph's answers for
  "already exist" and 404;
- 429 with Retry-After on demand (`throttle`), and any status on demand (`fail`).

Every request is recorded (`calls`) with its parsed JSON body, so tests can check what was sent, and
what was not (no PATCH to a refused account).
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import ssl
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

import pytest

from tests.servers.support import serve_on_loopback

TENANT = "00000000-0000-4000-8000-00000000aaaa"
CLIENT_ID = "11111111-1111-4111-8111-111111111111"
CLIENT_SECRET = "fake-entra-client-secret-Zq8!"
PAGE_SIZE = 2  # transitiveMemberOf pages: small, so paging is always exercised
ALREADY_EXISTS = (
    "One or more added object references already exist for the following modified properties: 'members'."
)


@dataclass
class Call:
    method: str
    path: str  # without /v1.0 and without the query
    query: dict[str, str]
    body: Any = None


@dataclass
class FakeEntra:
    url: str = ""
    ca_file: str = ""
    tenant: str = TENANT
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    token_lifetime: int = 3599  # expires_in of the tokens it issues
    certificates: dict[str, Any] = field(default_factory=dict)  # x5t → public key, for client assertions
    # more app registrations of the tenant (client id → secret): the Teams bot's own, beside frontdesk's
    apps: dict[str, str] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → group with "members": [ids]
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → role with "members": [ids]
    managers: dict[str, str] = field(default_factory=dict)  # user id → manager id
    passwords: dict[str, dict[str, Any]] = field(default_factory=dict)  # user id → last passwordProfile
    revoked: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _tokens: set[str] = field(default_factory=set)
    _throttles: list[list[Any]] = field(default_factory=list)  # [method, path regex, times, retry-after]
    _failures: list[list[Any]] = field(default_factory=list)  # [method, path regex, times, status]
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # --- set-up by tests ----------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            for name in ("users", "groups", "roles", "managers", "passwords", "certificates", "apps"):
                getattr(self, name).clear()
            for name in ("revoked", "calls", "token_requests", "_throttles", "_failures"):
                getattr(self, name).clear()
            self._tokens.clear()
            self.token_lifetime = 3599

    def settings(self, **more: Any) -> dict[str, Any]:
        """frontdesk settings that point the Entra directory at this fake."""
        return {
            "directory": "entra",
            "entra_tenant_id": self.tenant,
            "entra_client_id": self.client_id,
            "entra_client_secret": self.client_secret,
            "entra_authority": self.url,
            "graph_url": self.url,
            "entra_ca_file": self.ca_file,
            **more,
        }

    def add_user(
        self,
        email: str,
        name: str = "",
        *,
        upn: str = "",
        mail: str | None = None,
        manager: str | None = None,
        synced: bool = False,
        guest: bool = False,
        enabled: bool = True,
        other_mails: tuple[str, ...] = (),
        **fields: Any,
    ) -> str:
        user_id = str(uuid.uuid4())
        self.users[user_id] = {
            "id": user_id,
            "displayName": name or email.split("@")[0],
            "mail": email if mail is None else mail,
            "userPrincipalName": upn or email,
            "jobTitle": fields.pop("title", None),
            "department": fields.pop("department", None),
            "officeLocation": fields.pop("office", None),
            "accountEnabled": enabled,
            "onPremisesSyncEnabled": True if synced else None,
            "userType": "Guest" if guest else "Member",
            "otherMails": list(other_mails),
            **fields,
        }
        if manager:
            self.managers[user_id] = manager
        return user_id

    def add_group(self, name: str, *members: str, role_assignable: bool = False) -> str:
        group_id = str(uuid.uuid4())
        self.groups[group_id] = {
            "id": group_id,
            "displayName": name,
            "isAssignableToRole": role_assignable,
            "members": list(members),
        }
        return group_id

    def add_role(self, name: str, *members: str) -> str:
        role_id = str(uuid.uuid4())
        self.roles[role_id] = {"id": role_id, "displayName": name, "members": list(members)}
        return role_id

    def add_app(self, client_id: str, client_secret: str) -> None:
        """Register another app (a client secret) in the tenant, as the Teams bot's registration is."""
        self.apps[client_id] = client_secret

    def add_certificate(self, certificate_pem: bytes) -> None:
        """Register an app certificate, as uploading it to the app registration does."""
        from base64 import urlsafe_b64encode

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        certificate = x509.load_pem_x509_certificate(certificate_pem)
        x5t = urlsafe_b64encode(certificate.fingerprint(hashes.SHA1())).decode().rstrip("=")
        self.certificates[x5t] = certificate.public_key()

    def throttle(self, method: str, path: str, *, times: int = 1, retry_after: str = "1") -> None:
        """Answer the next `times` calls matching (`method`, `path` regex) with 429 and Retry-After."""
        self._throttles.append([method, re.compile(path), times, retry_after])

    def fail(self, method: str, path: str, status: int, *, times: int = 1_000) -> None:
        self._failures.append([method, re.compile(path), times, status])

    # --- what tests read ----------------------------------------------------------------------------

    def of(self, method: str, path: str = "") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and re.search(path, c.path)]

    def writes(self) -> list[Call]:
        """Every call that changes something (checkMemberGroups is a POST that only reads)."""
        with self._lock:
            return [c for c in self.calls if c.method != "GET" and not c.path.endswith("/checkMemberGroups")]

    def member_ids(self, group_id: str) -> list[str]:
        return list(self.groups[group_id]["members"])

    # --- the token endpoint -------------------------------------------------------------------------

    def openid_configuration(self, tenant: str) -> tuple[int, dict[str, Any]]:
        if tenant != self.tenant:
            return 400, {"error": "invalid_tenant", "error_description": f"AADSTS90002: Tenant '{tenant}'"}
        base = f"{self.url}/{tenant}"
        return 200, {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
        }

    def token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
        client_id = form.get("client_id", "")
        if tenant != self.tenant or (client_id != self.client_id and client_id not in self.apps):
            return 400, {"error": "unauthorized_client", "error_description": "AADSTS700016: unknown app"}
        if client_id in self.apps:
            authenticated = form.get("client_secret") == self.apps[client_id]
        else:
            authenticated = self._client_authenticated(form)
        if not authenticated:
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret",
            }
        access_token = f"fake-access-token-{next(self._counter)}-{uuid.uuid4().hex}"
        with self._lock:
            self._tokens.add(access_token)
        return 200, {"token_type": "Bearer", "expires_in": self.token_lifetime, "access_token": access_token}

    def _client_authenticated(self, form: dict[str, str]) -> bool:
        if "client_secret" in form:
            return form["client_secret"] == self.client_secret
        assertion = form.get("client_assertion", "")
        if not assertion:
            return False
        import jwt

        try:
            x5t = str(jwt.get_unverified_header(assertion).get("x5t", "")).rstrip("=")
            key = self.certificates[x5t]
            claims = jwt.decode(
                assertion,
                key,
                algorithms=["RS256", "PS256"],
                audience=f"{self.url}/{self.tenant}/oauth2/v2.0/token",
            )
        except (KeyError, jwt.PyJWTError):
            return False
        return bool(claims.get("iss") == claims.get("sub") == self.client_id)

    # --- Graph --------------------------------------------------------------------------------------

    def graph(self, method: str, raw_path: str, authorization: str, body: Any) -> tuple[int, Any, dict]:
        split = urlsplit(raw_path)
        path = unquote(split.path).removeprefix("/v1.0/")
        query = {key: values[-1] for key, values in parse_qs(split.query).items()}
        with self._lock:
            self.calls.append(Call(method, path, query, body))
            if authorization.removeprefix("Bearer ") not in self._tokens:
                return 401, _error("InvalidAuthenticationToken", "Access token is empty or invalid."), {}
            for rule in self._throttles:
                if rule[2] > 0 and rule[0] == method and rule[1].search(path):
                    rule[2] -= 1
                    return 429, _error("TooManyRequests", "Too many requests"), {"Retry-After": rule[3]}
            for rule in self._failures:
                if rule[2] > 0 and rule[0] == method and rule[1].search(path):
                    rule[2] -= 1
                    return rule[3], _error("ServiceUnavailable", "failing as told"), {}
            return (*self._route(method, path, query, body), {})

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        parts = path.split("/")
        if parts[0] == "users":
            return self._users(method, parts[1:], query, body)
        if parts[0] == "groups":
            return self._groups(method, parts[1:], query, body)
        if parts[0] == "directoryObjects" and len(parts) == 2:
            return self._found(self.users.get(parts[1]))
        return 400, _error("BadRequest", f"no such path {path}")

    def _users(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if not parts:
            return 200, {"value": _matching(self.users.values(), query.get("$filter", ""))}
        user = self.users.get(parts[0])
        if user is None:
            return 404, _error("Request_ResourceNotFound", f"Resource '{parts[0]}' does not exist.")
        rest = parts[1:]
        if not rest and method == "GET":
            return 200, _user_view(user)
        if not rest and method == "PATCH":
            profile = (body or {}).get("passwordProfile")
            if profile is None or not profile.get("password"):
                return 400, _error("Request_BadRequest", "passwordProfile expected")
            self.passwords[user["id"]] = dict(profile)
            return 204, None
        if rest == ["manager"]:
            return self._found(self.users.get(self.managers.get(user["id"], "")), "manager")
        if rest == ["checkMemberGroups"] and method == "POST":
            asked = [str(g) for g in (body or {}).get("groupIds") or []]
            return 200, {
                "value": [g for g in asked if g in self.groups and user["id"] in self._transitive_members(g)]
            }
        if rest == ["revokeSignInSessions"] and method == "POST":
            self.revoked.append(user["id"])
            return 200, {"value": True}
        if rest == ["transitiveMemberOf"]:
            return 200, self._page(
                f"users/{user['id']}/transitiveMemberOf", self._member_of(user["id"]), query
            )
        return 400, _error("BadRequest", f"no such user path {'/'.join(rest)}")

    def _groups(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if not parts:
            return 200, {
                "value": _matching((_group_view(g) for g in self.groups.values()), query.get("$filter", ""))
            }
        group = self.groups.get(parts[0])
        if group is None:
            return 404, _error("Request_ResourceNotFound", f"Resource '{parts[0]}' does not exist.")
        rest = parts[1:]
        if not rest:
            return 200, _group_view(group)
        if rest == ["transitiveMembers", "microsoft.graph.user"]:
            users = [
                _user_view(self.users[u]) for u in self._transitive_members(group["id"]) if u in self.users
            ]
            return 200, {"value": users}
        if rest == ["members", "$ref"] and method == "POST":
            member = str((body or {}).get("@odata.id", "")).rsplit("/", 1)[-1]
            if member not in self.users:
                return 404, _error("Request_ResourceNotFound", f"Resource '{member}' does not exist.")
            if member in group["members"]:
                return 400, _error("Request_BadRequest", ALREADY_EXISTS)
            group["members"].append(member)
            return 204, None
        if len(rest) == 3 and rest[0] == "members" and rest[2] == "$ref" and method == "DELETE":
            if rest[1] not in group["members"]:
                return 404, _error("Request_ResourceNotFound", f"Resource '{rest[1]}' does not exist.")
            group["members"].remove(rest[1])
            return 204, None
        return 400, _error("BadRequest", f"no such group path {'/'.join(rest)}")

    def _member_of(self, user_id: str) -> list[dict[str, Any]]:
        groups = [
            {"@odata.type": "#microsoft.graph.group", **_group_view(g)}
            for g in self.groups.values()
            if user_id in self._transitive_members(g["id"])
        ]
        roles = [
            {"@odata.type": "#microsoft.graph.directoryRole", "id": r["id"], "displayName": r["displayName"]}
            for r in self.roles.values()
            if user_id in r["members"]
        ]
        return groups + roles

    def _transitive_members(self, group_id: str, seen: frozenset[str] = frozenset()) -> set[str]:
        members: set[str] = set()
        for member in self.groups[group_id]["members"]:
            if member in self.groups and member not in seen:
                members |= self._transitive_members(member, seen | {group_id})
            else:
                members.add(member)
        return members

    def _page(self, path: str, items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        start = int(query.get("$skiptoken", "0"))
        page: dict[str, Any] = {"value": items[start : start + PAGE_SIZE]}
        if start + PAGE_SIZE < len(items):
            page["@odata.nextLink"] = f"{self.url}/v1.0/{path}?$skiptoken={start + PAGE_SIZE}"
        return page

    @staticmethod
    def _found(item: dict[str, Any] | None, what: str = "Resource") -> tuple[int, Any]:
        if item is None:
            return 404, _error("Request_ResourceNotFound", f"{what} does not exist.")
        return 200, _user_view(item)


_CLAUSE = re.compile(r"(\w+) eq '((?:[^']|'')*)'")


def _matching(items: Any, odata_filter: str) -> list[dict[str, Any]]:
    """`a eq 'x' or b eq 'y'` (the only filters frontdesk sends); anything else matches nothing."""
    clauses = [(name, value.replace("''", "'")) for name, value in _CLAUSE.findall(odata_filter)]
    rest = _CLAUSE.sub("", odata_filter).replace(" or ", "").strip()
    if not clauses or rest:
        return []
    return [
        item
        for item in items
        if any(str(item.get(name) or "").lower() == value.lower() for name, value in clauses)
    ]


def _user_view(user: dict[str, Any]) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.user", **user}


def _group_view(group: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in group.items() if key != "members"}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _handler_for(fake: FakeEntra) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real services

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, Nagle and delayed ACKs add ~40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def do_PATCH(self) -> None:
            self._answer("PATCH")

        def do_DELETE(self) -> None:
            self._answer("DELETE")

        def _answer(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            headers: dict[str, str] = {}
            path = urlsplit(self.path).path
            if path.startswith("/v1.0/"):
                body = json.loads(raw) if raw else None
                status, answer, headers = fake.graph(
                    method, self.path, self.headers.get("Authorization", ""), body
                )
            elif path.endswith("/v2.0/.well-known/openid-configuration"):
                status, answer = fake.openid_configuration(path.split("/")[1])
            elif path.endswith("/oauth2/v2.0/token") and method == "POST":
                status, answer = fake.token(path.split("/")[1], dict(parse_qsl(raw)))
            else:
                status, answer = 404, _error("NotFound", self.path)
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def start_fake_entra() -> Iterator[FakeEntra]:
    """A running fake on a free port over HTTPS (its CA in `fake.ca_file`); stopped on leaving."""
    import trustme

    authority = trustme.CA()
    with tempfile.TemporaryDirectory(prefix="fake-entra-") as folder:
        ca_file = Path(folder) / "ca.pem"
        authority.cert_pem.write_to_path(str(ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        fake = FakeEntra()
        port, stop = serve_on_loopback(_handler_for(fake), "fake-entra", tls=context)
        fake.url = f"https://127.0.0.1:{port}"
        fake.ca_file = str(ca_file)
        try:
            yield fake
        finally:
            stop()


def issue_app_certificate(fake: FakeEntra, folder: Path) -> Path:
    """A PEM file with an app certificate's private key and certificate, registered with the fake."""
    import trustme

    leaf = trustme.CA().issue_cert("frontdesk-app", key_type=trustme.KeyType.RSA)
    path = folder / "app.pem"
    path.write_bytes(leaf.private_key_and_cert_chain_pem.bytes())
    fake.add_certificate(leaf.cert_chain_pems[0].bytes())
    return path


@pytest.fixture(scope="session")
def _fake_entra_server() -> Iterator[FakeEntra]:
    with start_fake_entra() as fake:
        yield fake


@pytest.fixture
def fake_entra(_fake_entra_server: FakeEntra) -> FakeEntra:
    """The session's fake Entra ID + Graph, emptied for this test."""
    _fake_entra_server.reset()
    return _fake_entra_server


__all__ = ["FakeEntra", "fake_entra", "issue_app_certificate", "start_fake_entra"]
