"""Teams and Entra ID together, end to end: activities signed like the Bot Connector signs them, posted over
HTTP to the real Teams SDK app; the core with FRONTDESK_DIRECTORY=entra against the fake Entra ID and
Microsoft Graph over HTTPS (a test CA); replies posted to the fake Bot Connector with the bot's own Bot
Framework token, which msal gets from the fake Entra token endpoint (client credentials, the Teams app's
registration) — nothing injected but the knowledge base and the intent classifier.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from automations.entra import EntraDirectory
from bot import logs
from bot.bootstrap import build_app
from bot.platforms.teams.run import BOT_FRAMEWORK_SCOPE, build_teams
from bot.platforms.teams.server import WebServer
from bot.settings import load_settings
from bot.store.models import AccessGrant
from handlers import jobs
from handlers.account.records import NO_UNLOCK
from tests import fakes
from tests.integration.test_teams import TRIAGE, Teams, button_id, buttons_of, cards_of, shown
from tests.servers.fake_entra import FakeEntra
from tests.servers.fake_teams import APP_ID, FakeTeams
from tests.servers.smtp import Mailbox
from tests.unit.test_account_flows import every_stored_value

TEAMS_APP_PASSWORD = "teams-app-password-Qx7!"
ADA, GRACE, TESS, TOM, RITA = "29:ada", "29:grace", "29:tess", "29:tom", "29:rita"
GUEST, STRANGER = "29:guest", "29:stranger"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CATALOG = """access:
  - id: team-share
    name: Team share
    aliases: [team drive]
    description: The team's shared folder
    group: "Team share"
    approvers: [manager]
    default_duration: 8h
    max_duration: 7d
    justification: required
"""


@dataclass
class Office:
    """The tenant in Entra ID (ids of its users and the team share) and Teams, with the bot serving it."""

    teams: Teams
    entra: FakeEntra
    ids: dict[str, str]  # 29:… → Entra object id
    team_share: str

    @property
    def connector(self) -> FakeTeams:
        return self.teams.fake


def people(entra: FakeEntra, connector: FakeTeams) -> tuple[dict[str, str], str, dict[str, dict[str, Any]]]:
    """The same people in Entra ID and in Teams' rosters (one tenant, Entra's)."""
    grace = entra.add_user("grace@example.com", "Grace Hopper", title="IT Manager")
    ids = {
        GRACE: grace,
        ADA: entra.add_user(
            "ada@example.com", "Ada Lovelace", manager=grace, other_mails=("ada.home@example.net",)
        ),
        TESS: entra.add_user("tess@example.com", "Tess Tech", title="Technician"),
        TOM: entra.add_user("tom@example.com", "Tom Fixit", title="Technician"),
        RITA: entra.add_user("rita@example.com", "Rita Root", manager=grace),
    }
    entra.add_role("User Administrator", ids[RITA])
    entra.add_group("it-support", ids[TESS], ids[TOM])
    entra.add_group("it-managers", grace)
    team_share = entra.add_group("Team share")
    tenant = entra.tenant
    accounts = {
        user: connector.add_user(
            user, f"{user[3:]}@example.com", entra.users[ids[user]]["displayName"], tenant=tenant
        )
        for user in ids
    }
    # a guest invited into the tenant, and someone of another tenant whose mail is one of ours
    accounts[GUEST] = connector.add_user(
        GUEST, "gus@partner.example", "Gus Guest", tenant=tenant, role="guest"
    )
    accounts[STRANGER] = connector.add_user(
        STRANGER, "ada@example.com", "Ada Elsewhere", tenant="99999999-other", upn="ada@other.example"
    )
    return ids, team_share, accounts


@pytest.fixture
def office(fake_teams: FakeTeams, fake_entra: FakeEntra, sqlite_url: str, tmp_path: Path) -> Iterator[Office]:
    yield from running_office(fake_teams, fake_entra, sqlite_url, tmp_path)


def running_office(
    connector: FakeTeams, entra: FakeEntra, url: str, folder: Path, **settings: Any
) -> Iterator[Office]:
    ids, team_share, accounts = people(entra, connector)
    entra.add_app(APP_ID, TEAMS_APP_PASSWORD)  # the Teams bot's app registration, in the same tenant
    catalog = folder / "access.yaml"
    catalog.write_text(CATALOG, encoding="utf-8")
    config = load_settings(
        database_url=url,
        technician_group="it-support",
        manager_group="it-managers",
        access_catalog=catalog,
        teams_app_id=APP_ID,
        teams_app_password=TEAMS_APP_PASSWORD,
        teams_tenant_id=entra.tenant,
        teams_triage_conversation=TRIAGE,
        teams_service_url=connector.url,
        teams_openid_metadata_url=connector.openid_metadata_url,
        **entra.settings(**{"reset_verification": "chat_identity", **settings}),
    )
    kb = fakes.FakeKnowledge()
    bot = build_teams(
        config,
        build=lambda chat: build_app(
            config, migrate=True, chat=chat, knowledge=lambda _s: kb, classify=fakes.classify
        ),
        process_before_response=True,
    )
    assert isinstance(bot.app.services.directory, EntraDirectory)
    server = WebServer(bot.adapter.web, host="127.0.0.1", port=0)
    server.start()
    try:
        teams = Teams(connector, bot, server)
        teams.accounts.update(accounts)
        yield Office(teams, entra, ids, team_share)
    finally:
        server.stop()
        bot.adapter.close()
        bot.app.engine.dispose()


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure_logging("DEBUG", "json", stream=stream)
    yield stream


def press(office: Office, user: str, label: str, message: dict[str, Any] | None = None) -> dict[str, Any]:
    """`user` presses `label` on `message` (default: the last in their chat); returns the invoke's answer."""
    teams = office.teams
    message = message or teams.last_dm(user)
    status, answer = teams.execute(user, message, button_id(message, label))
    assert status == 200, answer
    return answer or {}


def dm_texts(office: Office, user: str) -> list[str]:
    return [shown(p) for p in office.connector.posted(office.connector.personal(user))]


# ---------------------------------------------------------------- (a) a password reset


def test_an_employee_in_teams_resets_their_password_in_entra(
    office: Office, frozen_clock: Any, json_logs: io.StringIO
) -> None:
    frozen_clock(START)
    teams, entra = office.teams, office.entra
    assert teams.dm(ADA, "I forgot my password") == 200
    secret = teams.last_dm(ADA)
    assert "Your temporary password is" in shown(secret) and "deleted in" in shown(secret)
    password = entra.passwords[office.ids[ADA]]["password"]
    assert password in shown(secret)
    assert entra.passwords[office.ids[ADA]] == {"password": password, "forceChangePasswordNextSignIn": True}
    assert entra.revoked == [office.ids[ADA]]
    # the temporary password went to Ada's personal chat only
    holders = {p["_conversation"] for p in office.connector.posted() if password in shown(p)}
    assert holders == {office.connector.personal(ADA)}
    # the bot's Bot Framework token came from Entra ID through msal, for the Teams app
    asked = [r for r in entra.token_requests if r.get("client_id") == APP_ID]
    assert len(asked) == 1 and asked[0]["scope"] == BOT_FRAMEWORK_SCOPE  # then msal's cache
    assert office.connector.of("POST", "/activities")[-1].authorization.startswith(
        "Bearer fake-access-token-"
    )

    frozen_clock(START + timedelta(seconds=599))
    teams.bot.app.delivery.dispatcher.run_due()
    assert office.connector.deleted == []
    frozen_clock(START + timedelta(seconds=601))
    teams.bot.app.delivery.dispatcher.run_due()
    assert office.connector.deleted == [(office.connector.personal(ADA), secret["id"])]
    assert office.connector.of("DELETE", secret["id"])

    for hidden in (password, entra.client_secret, TEAMS_APP_PASSWORD):
        assert [table for table, value in every_stored_value(teams.bot.app.bot) if hidden in str(value)] == []
        assert hidden not in json_logs.getvalue()
    assert "directory_password_reset" in json_logs.getvalue()


def test_a_verification_code_typed_in_teams_is_in_no_log_line(
    fake_teams: FakeTeams,
    fake_entra: FakeEntra,
    sqlite_url: str,
    tmp_path: Path,
    smtp_server: Mailbox,
    json_logs: io.StringIO,
) -> None:
    """At DEBUG too: the Teams SDK logs every activity it receives whole, typed text included."""
    mail = {"smtp_host": smtp_server.host, "smtp_port": smtp_server.port}
    for office in running_office(
        fake_teams, fake_entra, sqlite_url, tmp_path, reset_verification="email_code", **mail
    ):
        office.teams.dm(ADA, "I forgot my password")
        code = re.findall(r"\b(\d{6})\b", smtp_server.wait_for("ada.home@example.net", 1)[-1].get_payload())[
            0
        ]
        office.teams.dm(ADA, code)
        assert "Your temporary password is" in shown(office.teams.last_dm(ADA))
        assert "graph_call" in json_logs.getvalue()  # the capture saw the DEBUG lines
        assert code not in json_logs.getvalue()


def test_a_reset_approved_by_the_manager_from_graph_on_a_card_in_their_teams_chat(
    fake_teams: FakeTeams, fake_entra: FakeEntra, sqlite_url: str, tmp_path: Path
) -> None:
    for office in running_office(
        fake_teams, fake_entra, sqlite_url, tmp_path, reset_verification="manager_approval"
    ):
        teams = office.teams
        teams.dm(GRACE, "hello")  # Grace has the app: the bot can reach her
        teams.dm(ADA, "I forgot my password")
        card = teams.last_dm(GRACE)
        assert "Ada Lovelace" in shown(card)
        assert office.entra.writes() == []  # nothing before the approval
        press(office, GRACE, "Approve", card)
        assert "Your temporary password is" in shown(teams.last_dm(ADA))
        assert office.entra.passwords[office.ids[ADA]]["forceChangePasswordNextSignIn"] is True
        assert office.entra.revoked == [office.ids[ADA]]


# ---------------------------------------------------------------- (b) unlock


def test_unlock_is_not_possible_in_entra_and_offers_a_reset_or_a_ticket(office: Office) -> None:
    teams = office.teams
    teams.dm(ADA, "I'm locked out of my account")
    offer = teams.last_dm(ADA)
    assert NO_UNLOCK.split(".")[0] in shown(offer)
    assert {b["title"] for b in buttons_of(offer)} == {"Reset my password", "Open a ticket"}
    assert office.entra.writes() == []
    press(office, ADA, "Reset my password", offer)
    assert "Your temporary password is" in shown(teams.last_dm(ADA))
    assert office.entra.revoked == [office.ids[ADA]]


# ---------------------------------------------------------------- (c) an access request


def test_an_access_request_approved_by_the_manager_from_graph_and_its_expiry(
    office: Office, frozen_clock: Any
) -> None:
    frozen_clock(START)
    teams = office.teams
    teams.dm(GRACE, "hello")
    teams.dm(ADA, "I need access to the team drive")
    press(office, ADA, "8 hours (usual)")
    teams.dm(ADA, "quarterly audit")
    press(office, ADA, "Confirm")
    card = teams.last_dm(GRACE)  # Grace is Ada's manager in Entra ID
    assert "Ada Lovelace" in shown(card) and any(e["type"] == "FactSet" for e in cards_of(card)[0]["body"])
    teams.dm(GRACE, "ok")  # typed, not pressed: a decision is never inferred
    assert "press Approve or Deny" in shown(teams.last_dm(GRACE))
    assert office.entra.member_ids(office.team_share) == []
    answer = press(office, GRACE, "Approve", card)
    assert "You chose: **Approve**" in str(answer)
    assert office.entra.member_ids(office.team_share) == [office.ids[ADA]]
    assert any("You now have Team share" in text for text in dm_texts(office, ADA))

    frozen_clock(START + timedelta(hours=8, minutes=1))
    teams.bot.app.bot.run_job("reconcile_access_grants", jobs.reconcile_access_grants)
    teams.bot.app.delivery.dispatcher.run_due()
    assert office.entra.member_ids(office.team_share) == []
    with teams.bot.app.sessions() as session:
        assert [g.status for g in session.scalars(select(AccessGrant))] == ["ended"]


# ---------------------------------------------------------------- (d) a ticket in the triage channel


def open_ticket(office: Office, user: str, text: str = "my monitor flickers") -> tuple[int, dict[str, Any]]:
    teams = office.teams
    teams.dm(user, text)
    press(office, user, "Open a ticket")
    press(office, user, "Not urgent")
    card = teams.last_to(TRIAGE)
    number = int(shown(card).split("Ticket #", 1)[1].split('"')[0].split()[0].rstrip(":"))
    return number, card


def test_a_ticket_is_claimed_in_the_triage_channel_and_the_thread_reaches_the_employee(
    office: Office,
) -> None:
    teams = office.teams
    number, card = open_ticket(office, ADA)
    assert "Ada Lovelace" in shown(card)
    press(office, TESS, "Claim", card)
    updates = [u for u in office.connector.updated(TRIAGE) if u["id"] == card["id"]]
    assert updates and "Tess Tech" in shown(updates[-1])
    assert "Claim" not in {b["title"] for b in buttons_of(updates[-1])}
    teams.in_thread(TESS, card, "Does it flicker on battery too?")
    assert f"about ticket #{number}: Does it flicker on battery too?" in shown(teams.last_dm(ADA))
    teams.dm(ADA, "yes, on battery as well")
    in_thread = [p for p in office.connector.posted(TRIAGE) if p["replyTo"] == card["id"]]
    assert in_thread and "yes, on battery as well" in shown(in_thread[-1])


# ---------------------------------------------------------------- (e) guests and other tenants


@pytest.mark.parametrize("user", [GUEST, STRANGER])
def test_a_guest_or_another_tenants_user_is_refused_a_reset_and_can_open_a_ticket(
    office: Office, user: str
) -> None:
    teams = office.teams
    teams.dm(user, "I forgot my password")
    refusal = shown(teams.last_dm(user))
    assert "guest and external accounts" in refusal and "temporary password is" not in refusal
    assert office.entra.writes() == []
    number, card = open_ticket(office, user)
    assert f"Ticket #{number}" in shown(card)


# ---------------------------------------------------------------- (f) a privileged account


def test_a_directory_role_holder_is_refused_untouched_and_handed_to_a_technician(office: Office) -> None:
    teams = office.teams
    teams.dm(RITA, "I forgot my password")
    told = shown(teams.last_dm(RITA))
    assert "I can't reset the password of this account automatically" in told
    assert "temporary password is" not in told
    assert office.entra.writes() == []
    card = teams.last_to(TRIAGE)
    assert "Rita Root" in shown(card)


# ---------------------------------------------------------------- played as people play it


def test_a_card_pressed_twice_in_the_personal_chat_acts_once(office: Office) -> None:
    """A double click, or a client still showing the old card: two invokes, two activity ids, one card."""
    teams = office.teams
    teams.dm(ADA, "I'm locked out of my account")
    offer = teams.last_dm(ADA)
    press(office, ADA, "Reset my password", offer)
    press(office, ADA, "Reset my password", offer)
    assert teams.submit(ADA, offer, button_id(offer, "Open a ticket")) == 200  # the same card, Action.Submit
    assert [c.method for c in office.entra.writes()] == ["PATCH", "POST"]  # one reset, one revoke
    assert sum("Your temporary password is" in text for text in dm_texts(office, ADA)) == 1
    assert office.connector.posted(TRIAGE) == []


def test_a_bare_claim_or_resolve_in_the_cards_thread_acts_on_its_ticket(office: Office) -> None:
    """In the thread the ticket goes without saying: "claim" and "resolve" there are never sent to Ada."""
    teams = office.teams
    number, card = open_ticket(office, ADA)
    teams.in_thread(TESS, card, "claim")
    assert f"Ticket #{number} is yours." in shown(teams.last_dm(TESS))
    assert "Tess Tech is now working on your ticket" in shown(teams.last_dm(ADA))
    teams.in_thread(TESS, card, "Resolve")
    assert "as the resolution of ticket" in shown(teams.last_dm(TESS))
    teams.in_thread(TESS, card, "Replaced the cable.")
    assert "resolved" in shown(teams.last_dm(ADA)) and "Replaced the cable." in shown(teams.last_dm(ADA))
    assert not any("about ticket" in text for text in dm_texts(office, ADA))  # no word relayed as a reply


def test_a_technician_who_mentions_the_bot_in_the_triage_channel_is_answered_in_their_chat(
    office: Office,
) -> None:
    teams = office.teams
    number, _card = open_ticket(office, ADA)
    posted = len(office.connector.posted(TRIAGE))
    assert teams.mention(TESS, TRIAGE, "queue") == 200
    assert f"#{number}" in shown(teams.last_dm(TESS))
    assert teams.mention(TESS, TRIAGE, "who is on call today", entity=False) == 200  # not for the bot
    assert len(office.connector.posted(TRIAGE)) == posted  # nothing said in the channel itself
    assert len(office.connector.posted(office.connector.personal(TESS))) == 1


def test_a_temporary_password_the_connector_refused_is_reported_not_retried(office: Office) -> None:
    """The password changed in Entra but its message failed: Ada is told to ask again, a technician gets a
    ticket, and the password is in no activity that Teams accepted (nor stored to retry)."""
    teams = office.teams
    teams.dm(ADA, "hello")
    office.connector.fail_next(503)
    teams.dm(ADA, "I forgot my password")
    password = office.entra.passwords[office.ids[ADA]]["password"]
    assert "couldn't deliver the temporary password" in shown(teams.last_dm(ADA))
    assert "could not be delivered" in shown(teams.last_to(TRIAGE))
    assert not any(password in shown(p) for p in office.connector.posted())
    assert [t for t, v in every_stored_value(teams.bot.app.bot) if password in str(v)] == []
