"""The console contract with a real directory: with FRONTDESK_DIRECTORY=ldap, reset and unlock run through
`frontdesk chat --json` with piped input, the manager approving via `/as MANAGER_EMAIL`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.test_console import chat
from tests.servers.directory import DirectoryServer


@pytest.fixture(params=["slapd", "samba_ad"])
def server(request: pytest.FixtureRequest) -> DirectoryServer:
    return request.getfixturevalue(request.param)


@pytest.fixture
def ldap_env(server: DirectoryServer, tmp_path: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    environment.update(
        {
            "FRONTDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'ldap-e2e.db'}",
            "FRONTDESK_DIRECTORY": "ldap",
            "FRONTDESK_LDAP_FLAVOR": server.flavor,
            "FRONTDESK_LDAP_URL": server.ldaps_url,
            "FRONTDESK_LDAP_BIND_DN": server.bot_dn,
            "FRONTDESK_LDAP_BIND_PASSWORD": server.bot_password,
            "FRONTDESK_LDAP_BASE_DN": server.base_dn,
            "FRONTDESK_LDAP_CA_FILE": server.ca_file,
            "FRONTDESK_LDAP_TLS_SERVER_NAME": server.valid_names[0] if server.valid_names else "",
            "FRONTDESK_RESET_VERIFICATION": "manager_approval",
            "FRONTDESK_LOG_FORMAT": "json",
            "FRONTDESK_LOG_LEVEL": "DEBUG",
            "FRONTDESK_KB_SEMANTIC": "off",
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        }
    )
    return environment


def test_reset_with_manager_approval_and_unlock_through_the_console(
    server: DirectoryServer, ldap_env: dict[str, str]
) -> None:
    manager = server.create_user(name="Mona Manager")
    employee = server.create_user(name="Eli Employee", manager=manager.dn)
    run = chat(ldap_env, employee.email, "I forgot my password", f"/as {manager.email}", "Approve")
    assert run.code == 0, run.stderr
    delivered = [m for m in run.to(employee.email) if "secret" in m]
    assert len(delivered) == 1
    password = delivered[0]["secret"]
    assert password in delivered[0]["text"] and delivered[0]["delete_after"] == 600
    assert password not in run.stderr  # the JSON log lines on standard error
    assert not server.try_bind(employee.dn, employee.password).ok

    other = server.create_user(name="Lou Locked", manager=manager.dn)
    server.lock_out(other.dn)
    run = chat(ldap_env, other.email, "I'm locked out of my account")
    assert run.code == 0, run.stderr
    assert "unlocked" in run.to(other.email)[-1]["text"]
    assert server.try_bind(other.dn, other.password).ok


def test_unknown_person_in_ldap_is_a_clear_console_error(ldap_env: dict[str, str]) -> None:
    run = chat(ldap_env, "no.such.person@example.org", "hello")
    assert run.code != 0 and "not in the directory" in run.stderr
