"""`frontdesk teams package`: a zip Teams accepts — manifest.json with the bot, its scopes and commands,
valid domains, and the two icons at the sizes Teams requires."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from bot.cli import main

APP_ID = "00000000-0000-0000-0000-0000000000b0"


def _package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> zipfile.ZipFile:
    monkeypatch.setenv("FRONTDESK_TEAMS_APP_ID", APP_ID)
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    out = tmp_path / "app" / "frontdesk.zip"
    result = CliRunner().invoke(main, ["teams", "package", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    return zipfile.ZipFile(out)


def test_the_package_holds_a_valid_manifest_and_two_icons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _package(tmp_path, monkeypatch, "--domain", "helpdesk.example.com")
    assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
    manifest = json.loads(package.read("manifest.json"))
    version = manifest["manifestVersion"]
    assert (
        re.fullmatch(r"1\.\d+", version) and f"/v{version}/MicrosoftTeams.schema.json" in manifest["$schema"]
    )
    assert manifest["id"] == APP_ID and re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80
    assert all(
        manifest["developer"][k].startswith("https://") for k in ("websiteUrl", "privacyUrl", "termsOfUseUrl")
    )
    assert re.fullmatch(r"#[0-9A-Fa-f]{6}", manifest["accentColor"])
    (bot,) = manifest["bots"]
    assert bot["botId"] == APP_ID and bot["scopes"] == ["personal", "team"]
    personal = next(c for c in bot["commandLists"] if c["scopes"] == ["personal"])
    assert "reset my password" in {c["title"] for c in personal["commands"]}
    for commands in bot["commandLists"]:
        assert all(len(c["title"]) <= 32 and len(c["description"]) <= 128 for c in commands["commands"])
    assert manifest["validDomains"] == ["helpdesk.example.com"]
    assert manifest["webApplicationInfo"]["id"] == APP_ID
    rsc = manifest["authorization"]["permissions"]["resourceSpecific"]
    assert {"name": "ChannelMessage.Read.Group", "type": "Application"} in rsc
    color = Image.open(io.BytesIO(package.read(manifest["icons"]["color"])))
    outline = Image.open(io.BytesIO(package.read(manifest["icons"]["outline"])))
    assert (color.format, color.size) == ("PNG", (192, 192))
    assert (outline.format, outline.size, outline.mode) == ("PNG", (32, 32), "RGBA")
    # the outline is white on transparent only
    raw = outline.tobytes()
    pixels = [tuple(raw[i : i + 4]) for i in range(0, len(raw), 4)]
    assert {(r, g, b) for r, g, b, a in pixels if a} == {(255, 255, 255)}
    assert any(a == 0 for *_rgb, a in pixels)


def test_a_url_given_as_the_domain_becomes_its_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = _package(tmp_path, monkeypatch, "--domain", "https://bot.example.com/api/messages")
    assert json.loads(package.read("manifest.json"))["validDomains"] == ["bot.example.com"]


def test_without_an_app_id_it_says_which_variable_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FRONTDESK_TEAMS_APP_ID", raising=False)
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    result = CliRunner().invoke(
        main, ["teams", "package", "--out", str(tmp_path / "x.zip"), "--domain", "a.b"]
    )
    assert result.exit_code != 0 and "FRONTDESK_TEAMS_APP_ID" in result.output
