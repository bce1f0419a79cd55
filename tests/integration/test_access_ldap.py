"""Access requests against real directories: group membership on OpenLDAP slapd and a Samba AD DC, and the
whole request → approval → grant → expiry path through the bot. The servers are started by the tests."""

from __future__ import annotations

import pytest

from automations.directory import NotFound, NotPermitted
from automations.ldap import LdapDirectory
from tests.servers.directory import DirectoryServer


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
