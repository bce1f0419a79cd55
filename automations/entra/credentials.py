"""The app's credentials in Entra ID and the tokens they buy (msal, client credentials flow).

Minimal on purpose: the Teams bot needs one thing from it, a Bot Framework token. msal's client is built on
the first `token()` call, because its constructor already fetches the authority's metadata. msal caches
the token and renews it shortly before it expires.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class CredentialsError(Exception):
    """No token: the authority refused the app's credentials or could not be reached."""


@dataclass
class AppCredentials:
    tenant_id: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    certificate_file: Path | None = None
    authority: str = "https://login.microsoftonline.com"
    ca_file: Path | None = None
    _client: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def token(self, scope: str) -> str:
        """An access token for `scope` (e.g. `https://api.botframework.com/.default`)."""
        result = self._msal().acquire_token_for_client(scopes=[scope])
        if "access_token" not in result:
            # error and error_description name the problem; they never contain the secret
            raise CredentialsError(f"{result.get('error')}: {result.get('error_description', '')[:200]}")
        return str(result["access_token"])

    def _msal(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def _build(self) -> Any:
        import msal
        import requests

        credential: Any = self.client_secret
        if self.certificate_file is not None:
            credential = {"private_key_pfx_path": str(self.certificate_file)}
        session = requests.Session()
        if self.ca_file is not None:
            session.verify = str(self.ca_file)
            session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override the CA we were given
        return msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=credential,
            authority=f"{self.authority.rstrip('/')}/{self.tenant_id}",
            http_client=session,
            instance_discovery=False,  # the authority is configured: never ask elsewhere about it
        )
