"""The app's own credentials in Entra ID: tokens for Graph (and the Bot Framework) through msal.

`AppCredentials(...).token(scope)` is the OAuth 2.0 client-credentials flow with a client secret or a
certificate. msal keeps the tokens in its in-memory cache and asks the token endpoint again only when the
cached one is close to expiry, so callers simply ask for a token before every request.

The msal application is built on first use, not in the constructor: msal fetches the authority's OpenID
configuration as it is built, and a bot must be able to start (and say what is wrong) while Entra ID is
unreachable. When a CA file is given, msal talks through a requests Session that trusts exactly that file
whatever the environment says: requests lets REQUESTS_CA_BUNDLE override any `verify=` it is given.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import structlog

log = structlog.get_logger(__name__)

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
# msal's own timeout for each call to the authority (seconds); the bot waits no longer for a token.
TOKEN_TIMEOUT_SECONDS = 10.0


class CredentialsError(Exception):
    """No token: the app registration, the secret/certificate or the authority is wrong or unreachable.

    The message names what failed in msal's or Entra's words (an AADSTS code); it never carries the
    client secret or the private key."""


@dataclass
class AppCredentials:
    tenant_id: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    certificate_file: str | Path | None = None
    authority: str = DEFAULT_AUTHORITY
    ca_file: str | Path | None = None
    _app: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.tenant_id or not self.client_id:
            raise CredentialsError("tenant_id and client_id must not be empty")
        if not self.client_secret and not self.certificate_file:
            raise CredentialsError("a client secret or a certificate file is needed")

    @property
    def authority_url(self) -> str:
        return f"{self.authority.rstrip('/')}/{self.tenant_id}"

    def token(self, scope: str) -> str:
        """An access token for `scope` (e.g. `https://graph.microsoft.com/.default`), from msal's cache
        while it is valid."""
        try:
            result = self._application().acquire_token_for_client(scopes=[scope])
        except (requests.RequestException, ValueError, OSError) as error:
            raise CredentialsError(self._scrub(f"no token from {self.authority_url}: {error}")) from None
        if not isinstance(result, dict) or "access_token" not in result:
            detail = (result or {}).get("error_description") or (result or {}).get("error") or "no token"
            raise CredentialsError(self._scrub(f"Entra ID refused the token request: {detail}"))
        return str(result["access_token"])

    def _application(self) -> Any:
        with self._lock:
            if self._app is None:
                self._app = self._build()
            return self._app

    def _build(self) -> Any:
        import msal  # here, not at import time: only an Entra deployment pays for it

        try:
            return msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self._credential(),
                authority=self.authority_url,
                # Instance discovery asks login.microsoftonline.com whether the authority is known:
                # pointless (and failing) for a national cloud's or a test's own authority.
                instance_discovery=self.authority.rstrip("/") == DEFAULT_AUTHORITY,
                http_client=self._http_client(),
            )
        except (requests.RequestException, ValueError, OSError) as error:
            raise CredentialsError(
                self._scrub(f"cannot use the authority {self.authority_url}: {error}")
            ) from None

    def _credential(self) -> str | dict[str, str]:
        if not self.certificate_file:
            return self.client_secret
        return certificate_credential(Path(self.certificate_file))

    def _http_client(self) -> requests.Session:
        return _Session(str(self.ca_file) if self.ca_file else None)

    def _scrub(self, text: str) -> str:
        return text.replace(self.client_secret, "[redacted]") if self.client_secret else text


def certificate_credential(path: Path) -> dict[str, str]:
    """msal's certificate credential from one PEM file holding the private key and its certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        pem = path.read_bytes()
        certificate = x509.load_pem_x509_certificate(pem)
    except (OSError, ValueError) as error:
        raise CredentialsError(f"certificate file {path}: {error}") from None
    if b"PRIVATE KEY-----" not in pem:
        raise CredentialsError(f"certificate file {path}: holds no private key (PEM key + certificate)")
    return {
        "private_key": pem.decode(),
        # What Entra matches against the certificate uploaded to the app registration.
        "thumbprint": certificate.fingerprint(hashes.SHA1()).hex(),
    }


class _Session(requests.Session):
    """msal's HTTP client: a timeout on every request (msal sets none on a client it is given), and the CA
    file, when one is set, trusted whatever the environment says.

    requests replaces a Session's `verify` with REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE from the environment;
    `trust_env = False` would stop that, but also drop HTTPS_PROXY and NO_PROXY, which the deployments
    that need a CA file (behind a TLS-inspecting proxy) depend on. So only `verify` is put back."""

    def __init__(self, ca_file: str | None) -> None:
        super().__init__()
        self._ca_file = ca_file
        if ca_file:
            self.verify = ca_file

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TOKEN_TIMEOUT_SECONDS)
        return super().request(method, url, *args, **kwargs)

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        settings = super().merge_environment_settings(*args, **kwargs)
        if self._ca_file:
            settings["verify"] = self._ca_file
        return settings
