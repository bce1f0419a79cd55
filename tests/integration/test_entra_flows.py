"""The whole reset, unlock and access flows through the console Harness with FRONTDESK_DIRECTORY=entra,
against the fake Entra ID and Microsoft Graph over HTTPS (tests/servers/fake_entra.py), with the directory
built by bootstrap from the Entra settings."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from automations.entra import EntraDirectory
from bot import logs
from bot.bootstrap import build_app
from bot.messages import Reply
from bot.settings import load_settings
from bot.store.models import AccessGrant, AuditRecord, ResetRequest, Ticket
from handlers import jobs
from handlers.account.records import NO_UNLOCK
from tests import fakes
from tests.conftest import Harness
from tests.servers.fake_entra import FakeEntra
from tests.servers.smtp import Mailbox
from tests.unit.test_account_flows import every_stored_value

EVE, MARIA, TESS, RITA = "eve@example.com", "maria@example.com", "tess@example.com", "rita@example.com"
EVE_RECOVERY = "eve.private@example.net"


@dataclass
class Tenant:
    fake: FakeEntra
    eve: str
    maria: str
    team_share: str
    catalog: Path


@pytest.fixture
def tenant(fake_entra: FakeEntra, tmp_path: Path) -> Tenant:
    maria = fake_entra.add_user(MARIA, "Maria Manager", title="Head of Sales")
    eve = fake_entra.add_user(
        EVE, "Eve Employee", manager=maria, other_mails=(EVE_RECOVERY,), title="Analyst", department="Sales"
    )
    tess = fake_entra.add_user(TESS, "Tess Tech", title="Technician")
    rita = fake_entra.add_user(RITA, "Rita Root", manager=maria)
    fake_entra.add_role("User Administrator", rita)
    fake_entra.add_group("it-support", tess)
    fake_entra.add_group("it-managers", maria)
    team_share = fake_entra.add_group("Team share")
    catalog = tmp_path / "access.yaml"
    catalog.write_text(
        """access:
  - id: team-share
    name: Team share
    aliases: [team drive]
    description: The team's shared folder
    group: "Team share"
    approvers: [manager]
    default_duration: 8h
    max_duration: 7d
    justification: required
""",
        encoding="utf-8",
    )
    return Tenant(fake_entra, eve, maria, team_share, catalog)


def entra_bot(tenant: Tenant, database_url: str, **settings: Any) -> Harness:
    """The bot as bootstrap wires it for FRONTDESK_DIRECTORY=entra, pointed at the fake: as
    tests.conftest.build_app_for_tests does, but with the directory bootstrap builds from the settings."""
    config = load_settings(
        database_url=database_url,
        technician_group="it-support",
        manager_group="it-managers",
        access_catalog=tenant.catalog,
        **tenant.fake.settings(**settings),
    )
    kb = fakes.FakeKnowledge()
    app = build_app(
        config,
        migrate=True,
        chat=[fakes.RecordingDeliverer()],
        knowledge=lambda _session: kb,
        classify=fakes.classify,
    )
    assert isinstance(app.services.directory, EntraDirectory)
    return Harness(app.bot)


def secret_of(replies: list[Reply], who: str) -> str:
    found = [r.secret for r in replies if r.to == who and r.secret]
    assert found, [r.text for r in replies]
    return str(found[0])


def audit_actions(h: Harness) -> list[str]:
    with h.bot.sessions() as s:
        return [a.action for a in s.scalars(select(AuditRecord).order_by(AuditRecord.id))]


# --- password reset -------------------------------------------------------------------------------------


def test_a_reset_approved_by_the_manager_from_graph(tenant: Tenant, sqlite_url: str) -> None:
    h = entra_bot(tenant, sqlite_url, reset_verification="manager_approval")
    asked = h.say(EVE, "I forgot my password")
    approve = h.button(Harness.to(asked, MARIA), "Approve")  # Maria is Eve's manager in Entra ID
    assert tenant.fake.writes() == []  # nothing before the approval
    password = secret_of(h.press(MARIA, approve), EVE)
    assert tenant.fake.passwords[tenant.eve] == {"password": password, "forceChangePasswordNextSignIn": True}
    assert tenant.fake.revoked == [tenant.eve]
    assert audit_actions(h) == ["reset.requested", "reset.approval_requested", "reset.verified", "reset.done"]
    with h.bot.sessions() as s:
        assert s.scalars(select(ResetRequest)).one().account_id == tenant.eve


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure_logging("DEBUG", "json", stream=stream)
    yield stream


def test_an_email_code_reset_keeps_both_secrets_out_of_logs_rows_and_mail(
    tenant: Tenant, sqlite_url: str, smtp_server: Mailbox, json_logs: io.StringIO
) -> None:
    h = entra_bot(
        tenant,
        sqlite_url,
        reset_verification="email_code",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
    )
    h.say(EVE, "I forgot my password")
    message = smtp_server.wait_for(EVE_RECOVERY, 1)[-1]  # the recovery address is Graph's otherMails
    code = re.findall(r"\b(\d{6})\b", message.get_payload())[0]
    password = secret_of(h.say(EVE, code), EVE)
    assert tenant.fake.passwords[tenant.eve]["password"] == password
    assert smtp_server.wait_for(EVE, 1)[-1]["Subject"] == "Your password was reset"
    text = json_logs.getvalue()
    assert "directory_password_reset" in text  # the capture saw the reset
    for secret in (password, tenant.fake.client_secret):
        assert [table for table, value in every_stored_value(h.bot) if secret in str(value)] == []
        assert [m["Subject"] for m in smtp_server.messages if secret in m.as_string()] == []
        assert secret not in text


def test_a_directory_role_holder_is_handed_over_and_untouched(tenant: Tenant, sqlite_url: str) -> None:
    h = entra_bot(tenant, sqlite_url, reset_verification="chat_identity")
    replies = h.say(RITA, "I forgot my password")
    assert "I can't reset the password of this account automatically" in Harness.to(replies, RITA)[-1].text
    assert not any(r.secret for r in replies)
    assert tenant.fake.writes() == []


def test_a_synced_account_is_handed_over_with_reset_in_active_directory(
    tenant: Tenant, sqlite_url: str
) -> None:
    tenant.fake.add_user("sid@example.com", "Sid Synced", synced=True)
    h = entra_bot(tenant, sqlite_url, reset_verification="chat_identity")
    replies = h.say("sid@example.com", "I forgot my password")
    told = Harness.to(replies, "sid@example.com")[-1].text
    assert "I can't reset the password of this account automatically" in told
    assert tenant.fake.writes() == []
    with h.bot.sessions() as s:
        refusal = s.scalars(select(AuditRecord).where(AuditRecord.action == "reset.refused")).one()
    assert "reset in Active Directory" in str(refusal.detail)


def test_unlock_offers_a_reset_or_a_ticket(tenant: Tenant, sqlite_url: str) -> None:
    h = entra_bot(tenant, sqlite_url, unlock_verification="chat_identity")
    replies = h.say(EVE, "I'm locked out of my account")
    assert replies[-1].text == NO_UNLOCK
    assert [b.label for b in replies[-1].buttons] == ["Reset my password", "Open a ticket"]
    ticket = h.press(EVE, h.button(replies, "Open a ticket"))
    assert "I'll open a ticket for a technician" in ticket[-1].text
    assert tenant.fake.writes() == []


def test_the_reset_offered_instead_of_an_unlock_works(tenant: Tenant, sqlite_url: str) -> None:
    h = entra_bot(tenant, sqlite_url, reset_verification="chat_identity")
    offered = h.say(EVE, "please unlock my account")
    password = secret_of(h.press(EVE, h.button(offered, "Reset my password")), EVE)
    assert tenant.fake.passwords[tenant.eve]["password"] == password


# --- access requests ------------------------------------------------------------------------------------


def ask(h: Harness, who: str, what: str, *, why: str = "quarterly audit") -> list[Reply]:
    asked = h.say(who, f"I need access to the {what}")
    h.press(who, Harness.button(asked, next(b.label for r in asked for b in r.buttons if "usual" in b.label)))
    h.say(who, why)
    return h.press(who, Harness.button([h.sent[-1]], "Confirm"))


def run(h: Harness, job: Any) -> None:
    h.bot.run_job(job.__name__, job)
    h.bot.delivery.dispatcher.run_due()


def grants(h: Harness) -> list[AccessGrant]:
    with h.bot.sessions() as session:
        return list(session.scalars(select(AccessGrant).order_by(AccessGrant.id)))


def test_a_grant_adds_the_member_in_entra_and_its_expiry_removes_it(
    tenant: Tenant, sqlite_url: str, clock: Callable[..., None]
) -> None:
    h = entra_bot(tenant, sqlite_url)
    sent = ask(h, EVE, "team drive")
    approve = Harness.button(Harness.to(sent, MARIA), "Approve")
    granted = h.press(MARIA, approve)
    assert "You now have Team share" in " ".join(r.text for r in Harness.to(granted, EVE))
    assert tenant.fake.member_ids(tenant.team_share) == [tenant.eve]
    clock(hours=8, minutes=1)
    run(h, jobs.reconcile_access_grants)
    assert tenant.fake.member_ids(tenant.team_share) == []
    assert [g.status for g in grants(h)] == ["ended"]


def test_a_membership_someone_else_gave_before_the_approval_is_kept(
    tenant: Tenant, sqlite_url: str, clock: Callable[..., None]
) -> None:
    h = entra_bot(tenant, sqlite_url)
    sent = ask(h, EVE, "team share")
    tenant.fake.groups[tenant.team_share]["members"].append(tenant.eve)  # an admin added Eve meanwhile
    h.press(MARIA, Harness.button(Harness.to(sent, MARIA), "Approve"))
    assert grants(h)[0].pre_existing
    clock(days=2)
    run(h, jobs.reconcile_access_grants)
    assert tenant.fake.member_ids(tenant.team_share) == [tenant.eve]


def test_a_reset_whose_revoke_fails_hands_the_password_over_and_opens_a_ticket(
    tenant: Tenant, sqlite_url: str
) -> None:
    tenant.fake.fail("POST", "revokeSignInSessions$", 500)
    h = entra_bot(tenant, sqlite_url, reset_verification="chat_identity")
    replies = h.say(EVE, "I forgot my password")
    password = secret_of(replies, EVE)
    assert tenant.fake.passwords[tenant.eve]["password"] == password  # it changed: the person must have it
    told = " ".join(r.text for r in Harness.to(replies, EVE))
    assert "devices still signed in to your account were not signed out" in told
    assert "I've opened ticket #" in told
    with h.bot.sessions() as s:
        ticket = s.scalars(select(Ticket)).one()
    assert "Please revoke the account's sign-in sessions." in ticket.transcript
