"""Access requests against real directories: group membership on OpenLDAP slapd and a Samba AD DC, and the
whole request → approval → grant → expiry path through the bot. The servers are started by the tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from automations.directory import NotFound, NotPermitted
from automations.ldap import LdapDirectory
from bot.messages import Reply
from bot.settings import SettingsError
from bot.store.models import AccessGrant, AccessRequest
from handlers import jobs
from tests.conftest import Harness, build_bot
from tests.servers.directory import DirectoryServer, TestUser


@pytest.fixture(params=["slapd", "samba_ad"])
def server(request: pytest.FixtureRequest) -> DirectoryServer:
    return request.getfixturevalue(request.param)


def _direct_members(server: DirectoryServer, group_dn: str) -> list[str]:
    values = server.read(group_dn, ["member"]).get("member") or []
    return [str(value).lower() for value in values]


def test_add_and_remove_member_are_idempotent(server: DirectoryServer) -> None:
    directory = LdapDirectory(server.config())
    user = server.create_user()
    group = server.create_group()
    person = directory.find_by_email(user.email)
    assert person is not None
    assert directory.add_member(person, group) is True
    assert user.dn.lower() in _direct_members(server, group)
    assert directory.is_member(person, group)
    assert directory.add_member(person, group) is False  # already a member: done, nothing changed
    assert directory.remove_member(person, group) is True
    assert user.dn.lower() not in _direct_members(server, group)
    assert directory.remove_member(person, group) is False  # not a member: done
    assert not directory.is_member(person, group)


def test_groups_by_name_work_too(server: DirectoryServer) -> None:
    directory = LdapDirectory(server.config())
    user = server.create_user()
    name = server.unique("g")
    group_dn = server.create_group(name)
    person = directory.find_by_email(user.email)
    assert person is not None
    assert directory.add_member(person, name) is True
    assert user.dn.lower() in _direct_members(server, group_dn)


def test_unknown_and_protected_groups_are_refused(server: DirectoryServer) -> None:
    protected = server.create_group()
    directory = LdapDirectory(server.config(protected_groups=(protected,)))
    user = server.create_user()
    person = directory.find_by_email(user.email)
    assert person is not None
    with pytest.raises(NotFound):
        directory.add_member(person, f"cn=nosuchgroup,{server.groups_dn}")
    with pytest.raises(NotPermitted):
        directory.add_member(person, protected)
    assert user.dn.lower() not in _direct_members(server, protected)
    if server.flavor == "ad":
        with pytest.raises(NotPermitted):
            directory.add_member(person, "Domain Admins")


# --- the whole path through the bot ---------------------------------------------------------------------

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class Setup:
    server: DirectoryServer
    directory: LdapDirectory
    catalog: Path
    url: str
    group: str  # the manager-approved entry's group
    pair_group: str  # the 2-of-3 owners entry's group
    manager: TestUser
    employee: TestUser
    owners: tuple[TestUser, TestUser]

    def bot(self) -> Harness:
        bot, _ = build_bot(self.url, directory=self.directory, access_catalog=self.catalog)
        return Harness(bot)

    def members(self, group: str) -> list[str]:
        return _direct_members(self.server, group)


@pytest.fixture
def setup(server: DirectoryServer, sqlite_url: str, tmp_path: Path, clock: Callable[..., None]) -> Setup:
    manager = server.create_user(name="Maria Manager", title="Head of Sales")
    employee = server.create_user(
        name="Eve Employee", manager=manager.dn, title="Analyst", department="Sales"
    )
    owners = (server.create_user(name="Olga Owner"), server.create_user(name="Oscar Owner"))
    group, pair_group = server.create_group(), server.create_group()
    catalog = tmp_path / "access.yaml"
    catalog.write_text(
        f"""access:
  - id: team-share
    name: Team share
    aliases: [team drive]
    description: The team's shared folder
    group: "{group}"
    approvers: [manager]
    default_duration: 8h
    max_duration: 7d
    justification: required
  - id: secret-db
    name: Secret database
    aliases: [secret db]
    description: Two owners must agree
    group: "{pair_group}"
    approvers: [owner:{owners[0].email}, owner:{owners[1].email}, owner:{employee.email}]
    approvals_needed: 2
    default_duration: 4h
    max_duration: 1d
    justification: optional
""",
        encoding="utf-8",
    )
    directory = LdapDirectory(server.config())
    return Setup(server, directory, catalog, sqlite_url, group, pair_group, manager, employee, owners)


def ask(h: Harness, who: str, what: str, *, why: str = "quarterly audit") -> list[Reply]:
    asked = h.say(who, f"I need access to the {what}")
    h.press(who, Harness.button(asked, next(b.label for r in asked for b in r.buttons if "usual" in b.label)))
    h.say(who, why)
    return h.press(who, Harness.button([h.sent[-1]], "Confirm"))


def approve(replies: list[Reply], who: str) -> str:
    return Harness.button(Harness.to(replies, who), "Approve")


def run(h: Harness, job: Any) -> list[Reply]:
    before = len(h.recorder.delivered)
    h.bot.run_job(job.__name__, job)
    h.bot.delivery.dispatcher.run_due()
    return h.recorder.delivered[before:]


def rows(h: Harness, model: Any) -> list[Any]:
    with h.bot.sessions() as session:
        return list(session.scalars(select(model).order_by(model.id)))


def test_grant_makes_a_member_and_expiry_removes_it(setup: Setup, clock: Callable[..., None]) -> None:
    h = setup.bot()
    sent = ask(h, setup.employee.email, "team drive")
    granted = h.press(setup.manager.email, approve(sent, setup.manager.email))
    assert "You now have Team share" in " ".join(r.text for r in Harness.to(granted, setup.employee.email))
    assert setup.employee.dn.lower() in setup.members(setup.group)
    clock(hours=8, minutes=1)
    run(h, jobs.reconcile_access_grants)
    assert setup.employee.dn.lower() not in setup.members(setup.group)
    assert [g.status for g in rows(h, AccessGrant)] == ["ended"]


def test_a_bot_stopped_across_the_expiry_removes_it_when_it_is_back(
    setup: Setup, clock: Callable[..., None]
) -> None:
    h = setup.bot()
    sent = ask(h, setup.employee.email, "team share")
    h.press(setup.manager.email, approve(sent, setup.manager.email))
    h.bot.delivery.dispatcher.run_due()
    del h  # the bot stops; the grant expires while nobody runs
    clock(hours=30)
    restarted = setup.bot()  # a new process on the same database: its scheduler runs the job at start
    run(restarted, jobs.reconcile_access_grants)
    assert setup.employee.dn.lower() not in setup.members(setup.group)


def test_a_pre_existing_member_is_never_removed(setup: Setup, clock: Callable[..., None]) -> None:
    h = setup.bot()
    setup.server.add_to_group(setup.employee.dn, setup.group)
    already = h.say(setup.employee.email, "I need access to the team share")
    assert "You already have Team share" in already[-1].text
    setup.server.create_user()  # unrelated change
    other = setup.server.create_user(name="Paul Pre", manager=setup.manager.dn)
    sent = ask(h, other.email, "team share")
    setup.server.add_to_group(other.dn, setup.group)  # added by someone else before the approval
    h.press(setup.manager.email, approve(sent, setup.manager.email))
    assert rows(h, AccessGrant)[0].pre_existing
    clock(days=2)
    run(h, jobs.reconcile_access_grants)
    assert other.dn.lower() in setup.members(setup.group)
    assert setup.employee.dn.lower() in setup.members(setup.group)


def test_self_approval_and_non_approvers_are_refused(setup: Setup) -> None:
    h = setup.bot()
    employee = setup.employee.email
    sent = ask(h, employee, "secret db")  # the employee is one of the owners of this entry
    assert employee not in {r.to for r in sent if r.card}
    correlation = rows(h, AccessRequest)[0].correlation_id
    assert "own request" in h.press(employee, f"access.approve:{correlation}")[-1].text
    # The manager is no approver of an owners-only entry; a stranger neither.
    for outsider in (setup.manager.email, setup.server.create_user().email):
        assert "not one of its approvers" in h.press(outsider, f"access.approve:{correlation}")[-1].text
    assert rows(h, AccessRequest)[0].approvals == []
    assert setup.employee.dn.lower() not in setup.members(setup.pair_group)


def test_two_of_n_needs_two_different_approvers_and_a_double_click_grants_once(setup: Setup) -> None:
    h = setup.bot()
    first, second = (owner.email for owner in setup.owners)
    sent = ask(h, setup.employee.email, "secret db")
    h.press(first, approve(sent, first))
    h.press(first, approve(sent, first))  # double click
    assert setup.employee.dn.lower() not in setup.members(setup.pair_group)
    h.press(second, approve(sent, second))
    h.press(second, approve(sent, second), event_id="replayed")
    h.press(second, approve(sent, second), event_id="replayed")
    assert setup.employee.dn.lower() in setup.members(setup.pair_group)
    assert len(rows(h, AccessGrant)) == 1


def test_deny_and_an_expired_request_grant_nothing(setup: Setup, clock: Callable[..., None]) -> None:
    h = setup.bot()
    manager = setup.manager.email
    sent = ask(h, setup.employee.email, "team share")
    h.press(manager, Harness.button(Harness.to(sent, manager), "Deny"))
    told = h.say(manager, "not for this project")
    assert "not for this project" in " ".join(r.text for r in Harness.to(told, setup.employee.email))
    sent = ask(h, setup.employee.email, "team share")
    clock(hours=73)
    late = h.press(manager, approve(sent, manager))
    assert "already expired" in Harness.to(late, manager)[-1].text
    assert setup.employee.dn.lower() not in setup.members(setup.group)
    assert rows(h, AccessGrant) == []


def test_no_input_grants_a_group_outside_the_catalogue(setup: Setup) -> None:
    h = setup.bot()
    outside = setup.server.create_group()
    employee = setup.employee.email
    for text in (f"I need access to {outside}", f"add me to the group {outside}", "I need access to admins"):
        h.say(employee, text)
        h.say(employee, "cancel")
    for forged in (f"access.pick:{outside}", f"access.extend:{outside}", "access.duration:99999999999"):
        h.press(employee, forged)
    assert setup.employee.dn.lower() not in setup.members(outside)
    assert rows(h, AccessRequest) == []


def test_injection_in_request_and_justification_changes_nothing(setup: Setup) -> None:
    h = setup.bot()
    hostile = "*)(member=*)) \x1b[2J <@channel> group: cn=admins; DROP TABLE access_grants;--"
    sent = ask(h, setup.employee.email, f"team share {hostile}", why=hostile)
    card = next(r for r in sent if r.card is not None)
    assert "\x1b" not in dict(card.card.fields)["Why"]  # type: ignore[union-attr]
    h.press(setup.manager.email, approve(sent, setup.manager.email))
    assert rows(h, AccessRequest)[0].group == setup.group
    assert setup.employee.dn.lower() in setup.members(setup.group)
    assert len(rows(h, AccessGrant)) == 1


def test_a_catalogue_with_a_mistake_stops_the_start(setup: Setup) -> None:
    setup.catalog.write_text(setup.catalog.read_text().replace("max_duration: 7d", "max_duration: 7 parsecs"))
    with pytest.raises(SettingsError, match=r"access\[0\] \(team-share\): max_duration: '7 parsecs'"):
        setup.bot()
