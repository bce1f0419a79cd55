"""FRONTDESK_DIRECTORY=entra: the settings it needs, said clearly; a bot that starts while Entra ID is
unreachable; credentials that never show the secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from automations.directory import DirectoryUnavailable
from automations.entra import AppCredentials, CredentialsError, EntraDirectory
from bot.bootstrap import build_directory
from bot.settings import SettingsError, load_settings
from tests.servers.support import free_port

TENANT = "00000000-0000-4000-8000-00000000aaaa"
CLIENT = "11111111-1111-4111-8111-111111111111"
SECRET = "s3cret-value-never-shown"


def entra(**more: object) -> dict[str, object]:
    return {
        "directory": "entra",
        "entra_tenant_id": TENANT,
        "entra_client_id": CLIENT,
        "entra_client_secret": SECRET,
        **more,
    }


def test_missing_tenant_client_and_credential_are_named() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(directory="entra")
    message = str(raised.value)
    assert "FRONTDESK_DIRECTORY=entra needs FRONTDESK_ENTRA_TENANT_ID, FRONTDESK_ENTRA_CLIENT_ID" in message
    assert "FRONTDESK_ENTRA_CLIENT_SECRET or FRONTDESK_ENTRA_CERTIFICATE_FILE" in message


def test_a_certificate_file_instead_of_a_secret_is_enough(tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    pem.write_text("-----BEGIN PRIVATE KEY-----\n")
    settings = load_settings(**entra(entra_client_secret="", entra_certificate_file=pem))
    assert settings.entra_certificate_file == pem


@pytest.mark.parametrize(
    ("more", "words"),
    [
        ({"entra_authority": "http://127.0.0.1:8080"}, "FRONTDESK_ENTRA_AUTHORITY: expected an https:// URL"),
        ({"graph_url": "graph.microsoft.com"}, "FRONTDESK_GRAPH_URL: expected an https:// URL"),
        ({"entra_ca_file": "/no/such/ca.pem"}, "FRONTDESK_ENTRA_CA_FILE: no such file: /no/such/ca.pem"),
        ({"entra_certificate_file": "/no/app.pem"}, "FRONTDESK_ENTRA_CERTIFICATE_FILE: no such file"),
    ],
)
def test_wrong_values_are_refused_with_the_variable_named(more: dict[str, object], words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        load_settings(**entra(**more))


def test_the_secret_is_in_no_message_or_repr() -> None:
    settings = load_settings(**entra())
    assert SECRET not in repr(settings) and SECRET not in repr(AppCredentials(TENANT, CLIENT, SECRET))


def test_the_bot_starts_while_entra_is_unreachable_and_says_so_on_use() -> None:
    """msal is built on first use: the constructor already calls the authority."""
    dead = f"https://127.0.0.1:{free_port()}"
    directory = build_directory(load_settings(**entra(entra_authority=dead, graph_url=dead)))
    assert isinstance(directory, EntraDirectory)
    with pytest.raises(DirectoryUnavailable) as raised:
        directory.find_by_email("eve@example.com")
    assert SECRET not in raised.value.reason


def test_credentials_need_a_secret_or_a_certificate() -> None:
    with pytest.raises(CredentialsError, match="a client secret or a certificate file"):
        AppCredentials(TENANT, CLIENT)


def test_a_certificate_file_without_a_private_key_is_refused(tmp_path: Path) -> None:
    import trustme

    pem = tmp_path / "cert-only.pem"
    trustme.CA().cert_pem.write_to_path(str(pem))
    with pytest.raises(CredentialsError, match="holds no private key"):
        AppCredentials(TENANT, CLIENT, certificate_file=pem).token("https://graph.microsoft.com/.default")


def test_a_ca_file_that_is_no_certificate_stops_the_start(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(SettingsError, match="FRONTDESK_ENTRA_CA_FILE: not a usable CA file"):
        build_directory(load_settings(**entra(entra_ca_file=garbage)))


def test_msal_trusts_the_ca_file_over_the_environment_and_keeps_its_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/other-bundle.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    ca_file = tmp_path / "proxy-ca.pem"
    session = AppCredentials(TENANT, CLIENT, SECRET, ca_file=ca_file)._http_client()
    merged = session.merge_environment_settings("https://login.microsoftonline.com/x", {}, None, None, None)
    assert merged["verify"] == str(ca_file)
    assert merged["proxies"]["https"] == "http://proxy.corp.example:3128"
