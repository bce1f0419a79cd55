"""`frontdesk teams package`: the Teams app package an M365 admin uploads."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli_support import command_settings, friendly_errors


@click.group()
def teams() -> None:
    """Microsoft Teams: the app package."""


@teams.command(name="package")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("frontdesk-teams.zip"),
    show_default=True,
    help="Where to write the zip.",
)
@click.option(
    "--domain",
    "domains",
    multiple=True,
    required=True,
    metavar="HOST",
    help="The public host of the bot's messaging endpoint (repeatable), e.g. helpdesk.example.com.",
)
@click.option(
    "--name", default="frontdesk", show_default=True, help="The app's name in Teams (≤ 30 characters)."
)
@click.option("--developer", default="IT service desk", show_default=True)
@click.option("--website", default="", metavar="URL", help="Default: https://DOMAIN/.")
@click.option("--privacy-url", default="", metavar="URL", help="Default: the website.")
@click.option("--terms-url", default="", metavar="URL", help="Default: the website.")
@click.option(
    "--version",
    "app_version",
    default="1.0.0",
    show_default=True,
    help="Raise it for each upload that replaces an earlier one.",
)
@friendly_errors
def package(
    out: Path,
    domains: tuple[str, ...],
    name: str,
    developer: str,
    website: str,
    privacy_url: str,
    terms_url: str,
    app_version: str,
) -> None:
    """Write the app package (manifest.json and two icons) for FRONTDESK_TEAMS_APP_ID."""
    from bot.platforms.teams.package import AppInfo, write_package

    settings = command_settings()
    if not settings.teams_app_id:
        raise click.ClickException(
            "FRONTDESK_TEAMS_APP_ID: required (the Entra app registration's client id)"
        )
    hosts = tuple(d.removeprefix("https://").split("/", 1)[0] for d in domains)
    info = AppInfo(
        settings.teams_app_id, hosts, name, developer, website, privacy_url, terms_url, app_version
    )
    click.echo(f"wrote {write_package(info, out)}")
