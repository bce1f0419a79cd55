"""The Teams app package: a zip of `manifest.json` and two icons, to sideload or upload to the org's app
catalogue (Teams admin center → Teams apps → Manage apps → Upload).

The manifest declares the bot (its id is the Entra app registration's client id) in personal chats and
teams, the commands people see in the compose box, and one resource-specific permission,
ChannelMessage.Read.Group, so technicians can answer in a ticket card's thread without @mentioning the bot
(the bot still answers other channel posts only when mentioned). Icons are drawn here (Pillow): a 192×192
colour icon and a 32×32 white-on-transparent outline, as Teams requires.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

MANIFEST_VERSION = "1.22"
SCHEMA = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
ACCENT = "#2E5AAC"
COLOR_ICON, OUTLINE_ICON = "color.png", "outline.png"
# What the compose box offers; each is a sentence the core already understands.
PERSONAL_COMMANDS = (
    ("reset my password", "Reset your password (you confirm it is you)"),
    ("I'm locked out", "Unlock your account"),
    ("new ticket", "Open a ticket for the service desk"),
    ("my tickets", "See your open tickets"),
    ("help", "What the help desk bot can do"),
)
TEAM_COMMANDS = (("help", "What the help desk bot can do"),)


@dataclass(frozen=True)
class AppInfo:
    app_id: str  # FRONTDESK_TEAMS_APP_ID
    domains: tuple[str, ...]  # the host(s) the bot is reached at (its messaging endpoint)
    name: str = "frontdesk"
    developer: str = "IT service desk"
    website_url: str = ""
    privacy_url: str = ""
    terms_url: str = ""
    version: str = "1.0.0"


def manifest(info: AppInfo) -> dict[str, Any]:
    home = f"https://{info.domains[0]}/" if info.domains else "https://example.invalid/"
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": info.version,
        "id": info.app_id,
        "developer": {
            "name": info.developer,
            "websiteUrl": info.website_url or home,
            "privacyUrl": info.privacy_url or info.website_url or home,
            "termsOfUseUrl": info.terms_url or info.website_url or home,
        },
        "name": {"short": info.name[:30], "full": f"{info.name}: the IT help desk"[:100]},
        "description": {
            "short": "Password resets, unlocks, access and tickets, in chat."[:80],
            "full": (
                "Ask the IT help desk in a personal chat: answers from the knowledge base, password resets "
                "and unlocks after checking it is you, access requests approved by your manager, and "
                "tickets the technicians pick up in their triage channel."
            ),
        },
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": ACCENT,
        "bots": [
            {
                "botId": info.app_id,
                "scopes": ["personal", "team"],
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [
                    {"scopes": ["personal"], "commands": _commands(PERSONAL_COMMANDS)},
                    {"scopes": ["team"], "commands": _commands(TEAM_COMMANDS)},
                ],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": list(info.domains),
        "webApplicationInfo": {"id": info.app_id, "resource": f"api://botid-{info.app_id}"},
        "authorization": {
            "permissions": {
                "resourceSpecific": [{"name": "ChannelMessage.Read.Group", "type": "Application"}]
            }
        },
    }


def write_package(info: AppInfo, out: Path) -> Path:
    """The zip at `out` (manifest.json and the icons at its root, as Teams expects)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest(info), indent=2, ensure_ascii=False))
        package.writestr(COLOR_ICON, _png(color_icon()))
        package.writestr(OUTLINE_ICON, _png(outline_icon()))
    return out


def color_icon() -> Image.Image:
    """192×192, full colour: a white speech bubble with a question mark's dot on the accent colour."""
    image = Image.new("RGBA", (192, 192), ACCENT)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((36, 44, 156, 130), radius=22, fill="white")
    draw.polygon([(62, 126), (62, 156), (92, 128)], fill="white")
    draw.ellipse((86, 76, 106, 96), fill=ACCENT)
    return image


def outline_icon() -> Image.Image:
    """32×32, white on transparent only (Teams tints it)."""
    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((4, 6, 27, 21), radius=4, outline="white", width=2)
    draw.polygon([(9, 20), (9, 27), (15, 21)], fill="white")
    return image


def _commands(commands: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"title": title[:32], "description": description[:128]} for title, description in commands]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
