"""The console contract with Entra ID: with FRONTDESK_DIRECTORY=entra pointed at the fake Entra ID and Graph
(HTTPS, its own CA), reset and unlock run through `frontdesk chat --json` with piped input, the manager
from Graph approving via `/as MANAGER_EMAIL` — in a process of its own, with the machine's CA bundle
variables left as they are (the CA setting must win over them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.test_console import chat
from tests.servers.fake_entra import FakeEntra


@pytest.fixture
def entra_env(fake_entra: FakeEntra, tmp_path: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    environment.update(
        {f"FRONTDESK_{name.upper()}": str(value) for name, value in fake_entra.settings().items()}
    )
    environment.update(
        {
            "FRONTDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'entra-e2e.db'}",
            "FRONTDESK_RESET_VERIFICATION": "manager_approval",
            "FRONTDESK_LOG_FORMAT": "json",
            "FRONTDESK_LOG_LEVEL": "DEBUG",
            "FRONTDESK_KB_SEMANTIC": "off",
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        }
    )
    return environment


def test_reset_with_manager_approval_and_unlock_through_the_console(
    fake_entra: FakeEntra, entra_env: dict[str, str]
) -> None:
    mona = fake_entra.add_user("mona@example.com", "Mona Manager")
    eli = fake_entra.add_user("eli@example.com", "Eli Employee", manager=mona)
    run = chat(entra_env, "eli@example.com", "I forgot my password", "/as mona@example.com", "Approve")
    assert run.code == 0, run.stderr
    delivered = [m for m in run.to("eli@example.com") if "secret" in m]
    assert len(delivered) == 1
    password = delivered[0]["secret"]
    assert fake_entra.passwords[eli] == {"password": password, "forceChangePasswordNextSignIn": True}
    assert fake_entra.revoked == [eli]
    assert password not in run.stderr and fake_entra.client_secret not in run.stderr  # the JSON log lines

    run = chat(entra_env, "eli@example.com", "I'm locked out of my account")
    assert run.code == 0, run.stderr
    offered = run.to("eli@example.com")[-1]
    assert "Microsoft Entra ID gives me no way to" in offered["text"]
    assert fake_entra.revoked == [eli]  # nothing more was written


def test_unknown_person_in_entra_is_a_clear_console_error(entra_env: dict[str, str]) -> None:
    run = chat(entra_env, "no.such.person@example.org", "hello")
    assert run.code != 0 and "not in the directory (Entra ID tenant" in run.stderr
