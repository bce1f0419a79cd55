"""frontdesk's directory backend for Microsoft Entra ID: msal for the app's tokens, Microsoft Graph over
a small httpx client of ours.

from automations.entra import directory_from_settings
directory = directory_from_settings(settings)   # FRONTDESK_DIRECTORY=entra
"""

from __future__ import annotations

from typing import Any

from automations.entra.credentials import AppCredentials, CredentialsError
from automations.entra.directory import EntraDirectory
from automations.entra.graph import GraphClient, GraphError

__all__ = [
    "AppCredentials",
    "CredentialsError",
    "EntraDirectory",
    "GraphClient",
    "GraphError",
    "credentials_from_settings",
    "directory_from_settings",
]


def credentials_from_settings(settings: Any) -> AppCredentials:
    """The app's credentials from frontdesk's `Settings` (FRONTDESK_ENTRA_* variables).

    Typed as Any so the automations layer does not import the bot's settings module."""
    return AppCredentials(
        tenant_id=settings.entra_tenant_id,
        client_id=settings.entra_client_id,
        client_secret=settings.entra_client_secret.get_secret_value(),
        certificate_file=settings.entra_certificate_file,
        authority=settings.entra_authority,
        ca_file=settings.entra_ca_file,
    )


def directory_from_settings(settings: Any) -> EntraDirectory:
    graph = GraphClient(
        credentials_from_settings(settings),
        settings.graph_url,
        ca_file=settings.entra_ca_file,
        timeout=settings.entra_timeout_seconds,
    )
    return EntraDirectory(graph, protected_groups=tuple(settings.protected_groups))
