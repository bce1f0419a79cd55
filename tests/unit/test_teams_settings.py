"""`frontdesk run teams` without its settings says which variables are missing, in one message."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main

REQUIRED = (
    "FRONTDESK_TEAMS_APP_ID",
    "FRONTDESK_TEAMS_APP_PASSWORD",
    "FRONTDESK_TEAMS_TENANT_ID",
    "FRONTDESK_TEAMS_TRIAGE_CONVERSATION",
    "FRONTDESK_TEAMS_SERVICE_URL",
)


def test_run_teams_names_every_missing_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in REQUIRED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    result = CliRunner().invoke(main, ["run", "teams"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert all(name in result.output for name in REQUIRED), result.output


def test_slack_and_teams_together_refuse_socket_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    monkeypatch.setenv("FRONTDESK_SLACK_BOT_TOKEN", "xoxb-x")
    monkeypatch.setenv("FRONTDESK_SLACK_APP_TOKEN", "xapp-x")
    monkeypatch.setenv("FRONTDESK_SLACK_TRIAGE_CHANNEL", "C1")
    result = CliRunner().invoke(main, ["run", "slack", "teams"])
    assert result.exit_code != 0 and "FRONTDESK_SLACK_APP_TOKEN" in result.output


def test_console_does_not_combine_with_a_chat_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    result = CliRunner().invoke(main, ["run", "console", "teams"])
    assert result.exit_code == 2 and "slack teams" in result.output
