"""Settings: wrong values name their variable, typos are warned about, the demo directory has roles and
its references are checked."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from bot import logs
from bot.settings import SettingsError, load_settings, unknown_variables


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("FRONTDESK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def problems(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(f"FRONTDESK_{name}", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    return str(raised.value)


def test_ssl_and_starttls_together_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    text = problems(monkeypatch, SMTP_SSL="true", SMTP_STARTTLS="true")
    assert "FRONTDESK_SMTP_SSL and FRONTDESK_SMTP_STARTTLS are both true" in text


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TECHNICIANS", "tess@example.com, tom"), ("MANAGERS", "grace"), ("SMTP_FROM", "helpdesk")],
)
def test_email_settings_must_be_emails(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    text = problems(monkeypatch, **{variable: value})
    assert f"FRONTDESK_{variable}: not an email address" in text


def test_a_display_name_sender_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTDESK_SMTP_FROM", "IT Help Desk <helpdesk@example.com>")
    assert load_settings().smtp_from == "IT Help Desk <helpdesk@example.com>"


def test_missing_ldap_settings_are_reported_alongside_a_wrong_field(monkeypatch: pytest.MonkeyPatch) -> None:
    text = problems(monkeypatch, DIRECTORY="ldap", SMTP_PORT="twenty-five", LDAP_URL="ldaps://dc1:636")
    assert "FRONTDESK_SMTP_PORT" in text
    assert "FRONTDESK_DIRECTORY=ldap needs" in text and "FRONTDESK_LDAP_BIND_DN" in text
    assert "FRONTDESK_LDAP_URL," not in text  # it was given


def test_unknown_variables_are_found_with_a_suggestion(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("FRONTDESK_LDAP_URI=ldaps://dc1\n", encoding="utf-8")
    found = unknown_variables(
        {"FRONTDESK_TECHNICIAN": "tess@example.com", "FRONTDESK_LOG_LEVEL": "INFO"}, env_file
    )
    assert found == [
        "FRONTDESK_LDAP_URI (did you mean FRONTDESK_LDAP_URL?)",
        "FRONTDESK_TECHNICIAN (did you mean FRONTDESK_TECHNICIANS?)",
    ]


def start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **variables: str) -> list[dict[str, str]]:
    """Build the app as `frontdesk chat` does, and return its start-up log lines."""
    from bot.bootstrap import build_app

    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'f.db'}")
    monkeypatch.setenv("FRONTDESK_KB_SEMANTIC", "off")
    for name, value in variables.items():
        monkeypatch.setenv(f"FRONTDESK_{name}", value)
    stream = io.StringIO()
    logs.configure_logging("INFO", "json", stream=stream)
    build_app(load_settings())
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def warnings(lines: list[dict[str, str]], event: str) -> list[dict[str, str]]:
    return [line for line in lines if line["event"] == event and line["level"] == "warning"]


def test_start_up_warns_about_a_typo_but_starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    lines = start(monkeypatch, tmp_path, TECHNICIAN="tess@example.com")
    assert warnings(lines, "unknown_setting")[0]["variable"].startswith("FRONTDESK_TECHNICIAN (did you mean")


def test_the_shipped_demo_directory_has_technicians_and_a_manager(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings()
    assert (settings.technician_group, settings.manager_group) == ("it-support", "it-managers")
    assert warnings(start(monkeypatch, tmp_path), "no_technicians") == []
    monkeypatch.setenv("FRONTDESK_TECHNICIANS", "ada@example.com")
    assert load_settings().technician_group == ""  # configured roles are left alone


def write_directory(tmp_path: Path, people: list[dict[str, object]], groups: list[str]) -> Path:
    path = tmp_path / "people.yaml"
    document = {"people": people, "groups": [{"name": g} for g in groups]}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_start_up_warns_when_nobody_is_a_technician(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_directory(tmp_path, [{"email": "ada@example.com"}], [])
    lines = start(monkeypatch, tmp_path, DEMO_DIRECTORY=str(path))
    assert "'it-support'" in warnings(lines, "no_technicians")[0]["detail"]
    lines = start(monkeypatch, tmp_path, DEMO_DIRECTORY=str(path), DIRECTORY="demo", TECHNICIAN_GROUP="x")
    assert warnings(lines, "no_technicians")


def test_demo_directory_references_are_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bot.bootstrap import build_directory

    people: list[dict[str, object]] = [
        {"email": "ada@example.com", "manager": "nobody@example.com", "groups": ["finance"]},
        {"email": "bob@example.com", "groups": ["sales"]},
        {"email": "ADA@example.com"},
    ]
    path = write_directory(tmp_path, people, ["finance"])
    monkeypatch.setenv("FRONTDESK_DEMO_DIRECTORY", str(path))
    with pytest.raises(SettingsError) as raised:
        build_directory(load_settings())
    text = str(raised.value)
    assert "FRONTDESK_DEMO_DIRECTORY" in text
    assert f"{path}: people[0] (ada@example.com): manager nobody@example.com is not a person" in text
    assert f"{path}: people[1] (bob@example.com): group 'sales' is not declared" in text
    assert f"{path}: people[2] (ada@example.com): the email ada@example.com appears more than once" in text


def test_the_shipped_demo_directory_passes_its_own_checks() -> None:
    from automations.demo_directory import DemoDirectory
    from bot.settings import DEMO_DIRECTORY_FILE

    DemoDirectory.from_file(DEMO_DIRECTORY_FILE)  # raises on any broken reference
