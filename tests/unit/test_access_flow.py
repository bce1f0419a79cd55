"""Access requests through the conversation, on the shipped demo directory and catalogue: matching,
durations, justification, approvals (self, non-approver, 2-of-N, replays, deny, expiry), grants and their
end (expiry, "I'm done", revoke, failed removals retried and reported)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from automations.demo_directory import DemoDirectory
from automations.directory import DirectoryError, DirectoryPerson
from bot.messages import Reply
from bot.settings import DEMO_ACCESS_CATALOG, DEMO_DIRECTORY_FILE, SettingsError
from bot.store.models import AccessGrant, AccessRequest, AuditRecord
from handlers import jobs
from tests.conftest import Harness, build_bot

ADA, BOB, CAROL = "ada@example.com", "bob@example.com", "carol@example.com"
TESS, TOM, GRACE, RITA = "tess@example.com", "tom@example.com", "grace@example.com", "root.admin@example.com"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def directory() -> DemoDirectory:
    return DemoDirectory.from_file(DEMO_DIRECTORY_FILE)


@pytest.fixture
def h(sqlite_url: str, directory: DemoDirectory, clock: Callable[..., None]) -> Harness:
    bot, _ = build_bot(sqlite_url, directory=directory, access_catalog=DEMO_ACCESS_CATALOG)
    return Harness(bot)


def texts(replies: list[Reply], to: str) -> str:
    return "\n".join(r.text for r in replies if r.to == to)


def person(directory: DemoDirectory, email: str) -> DirectoryPerson:
    found = directory.find_by_email(email)
    assert found is not None
    return found


def run(h: Harness, job: Any) -> list[Reply]:
    before = len(h.recorder.delivered)
    h.bot.run_job(job.__name__, job)
    h.bot.delivery.dispatcher.run_due()
    return h.recorder.delivered[before:]


def requests(h: Harness) -> list[AccessRequest]:
    with h.bot.sessions() as s:
        return list(s.scalars(select(AccessRequest).order_by(AccessRequest.id)))


def grants(h: Harness) -> list[AccessGrant]:
    with h.bot.sessions() as s:
        return list(s.scalars(select(AccessGrant).order_by(AccessGrant.id)))


def audit_actions(h: Harness) -> list[str]:
    with h.bot.sessions() as s:
        return list(s.scalars(select(AuditRecord.action).where(AuditRecord.action.like("access.%"))))


def ask_finance(h: Harness, who: str = BOB, *, why: str = "month-end close") -> list[Reply]:
    """Bob asks for the finance share for 8 hours; returns what the confirmation sent."""
    asked = h.say(who, "I need access to the finance share")
    assert "For how long" in texts(asked, who)
    h.press(who, h.button(asked, "8 hours (usual)"))
    h.say(who, why)
    confirm = h.sent[-1]
    assert "Request Finance reports for 8 hours?" in confirm.text
    return h.press(who, h.button([confirm], "Confirm"))


def approve_button(replies: list[Reply], approver: str) -> str:
    return Harness.button(Harness.to(replies, approver), "Approve")


def test_request_approved_by_the_manager_is_granted_and_removed_at_expiry(
    h: Harness, directory: DemoDirectory, clock: Callable[..., None]
) -> None:
    sent = ask_finance(h)
    card = [r for r in Harness.to(sent, GRACE) if r.card is not None]
    assert card and card[0].topic.startswith("access:")
    fields = dict(card[0].card.fields)  # type: ignore[union-attr]
    assert fields["Who"] == "Bob Marley <bob@example.com>"
    assert fields["Title"] == "Account Executive" and fields["Department"] == "Sales"
    assert fields["Manager"] == "Grace Hopper" and fields["How long"] == "for 8 hours"
    assert fields["Why"] == "month-end close"
    assert "I've sent your request for Finance reports to Grace Hopper" in texts(sent, BOB)

    granted = h.press(GRACE, approve_button(sent, GRACE))
    assert "You now have Finance reports, until 2026-12-01 17:00 UTC" in texts(granted, BOB)
    assert directory.is_member(person(directory, BOB), "finance")
    listed = h.say(BOB, "what access do I have?")
    assert "Finance reports — until 2026-12-01 17:00 UTC" in texts(listed, BOB)

    clock(hours=7, minutes=59)
    assert run(h, jobs.reconcile_access_grants) == []
    assert directory.is_member(person(directory, BOB), "finance")
    clock(minutes=2)
    told = run(h, jobs.reconcile_access_grants)
    assert "Your access to Finance reports has ended (it expired)" in texts(told, BOB)
    assert not directory.is_member(person(directory, BOB), "finance")
    assert [g.status for g in grants(h)] == ["ended"]
    assert run(h, jobs.reconcile_access_grants) == []  # once
    for step in ("access.requested", "access.approval_requested", "access.approved_by", "access.granted"):
        assert step in audit_actions(h)
    assert "access.expired" in audit_actions(h)


def test_typos_match_and_several_matches_offer_a_choice(h: Harness) -> None:
    asked = h.say(BOB, "I need acess to the finanse share please")
    assert "Finance reports: Read access" in texts(asked, BOB)
    h.say(BOB, "cancel")
    choice = h.say(BOB, "I need access to the vpn and the prod db")
    labels = [b.label for r in choice for b in r.buttons]
    assert "Which one do you mean?" in texts(choice, BOB)
    assert set(labels) == {"VPN", "Production database (read only)"}
    picked = h.press(BOB, h.button(choice, "VPN"))
    assert "VPN: Remote access" in texts(picked, BOB)


def test_nothing_matches_says_so_and_offers_a_ticket(h: Harness) -> None:
    asked = h.say(BOB, "I need access to the moon base")
    assert "couldn't match that to any access I can arrange" in texts(asked, BOB)
    ticket = h.press(BOB, h.button(asked, "Open a ticket"))
    assert ticket and requests(h) == []


def test_already_having_it_says_so_and_until_when(h: Harness, directory: DemoDirectory) -> None:
    had = h.say(ADA, "I need access to the finance share")  # Ada is in finance in the demo directory
    assert "You already have Finance reports" in texts(had, ADA)
    sent = ask_finance(h)
    h.press(GRACE, approve_button(sent, GRACE))
    again = h.say(BOB, "I need access to the finance drive")
    assert "You already have Finance reports, until 2026-12-01 17:00 UTC" in texts(again, BOB)
    assert h.button(again, "Extend")


def test_typed_durations_and_the_maximum(h: Harness) -> None:
    h.say(BOB, "I need access to the finance share")
    too_long = h.say(BOB, "30 days")
    assert "at most" in texts(too_long, BOB) and "7 days" in texts(too_long, BOB)
    assert "not a duration" not in texts(h.say(BOB, "soon"), BOB)
    ok = h.say(BOB, "for 2 days")
    assert "Why do you need it?" in texts(ok, BOB)
    h.say(BOB, "audit")
    assert "for 2 days" in h.sent[-1].text


def test_the_requester_never_approves_their_own_request_even_as_owner(h: Harness) -> None:
    asked = h.say(GRACE, "I need access to the prod db")  # Grace is an owner of prod-db
    h.press(GRACE, h.button(asked, "4 hours (usual)"))
    h.say(GRACE, "incident 42")
    sent = h.press(GRACE, h.button([h.sent[-1]], "Confirm"))
    assert {r.to for r in sent if r.card} == {TESS, TOM}  # the requester gets no card
    correlation = requests(h)[0].correlation_id
    refused = h.press(GRACE, f"access.approve:{correlation}")
    assert "can't decide on your own request" in texts(refused, GRACE)
    assert requests(h)[0].approvals == []
    assert "access.approve_refused" in audit_actions(h)


def test_self_approval_refused_for_a_manager_and_technician_too(h: Harness) -> None:
    # Tess is a technician; her manager is Grace. She asks for VPN: only Grace may approve.
    asked = h.say(TESS, "I need access to the vpn")
    h.press(TESS, h.button(asked, "7 days (usual)"))
    h.press(TESS, h.button([h.sent[-1]], "Skip"))
    h.press(TESS, h.button([h.sent[-1]], "Confirm"))
    correlation = requests(h)[0].correlation_id
    assert "can't decide on your own request" in texts(h.press(TESS, f"access.approve:{correlation}"), TESS)
    assert requests(h)[0].status == "pending"


def test_a_non_approver_is_refused(h: Harness) -> None:
    sent = ask_finance(h)
    button = approve_button(sent, GRACE)
    for outsider in (CAROL, TESS, ADA):
        refused = h.press(outsider, button)
        assert "you are not one of its approvers" in texts(refused, outsider)
    assert requests(h)[0].status == "pending" and grants(h) == []


def test_two_of_n_needs_two_different_approvers_and_replays_grant_once(
    h: Harness, directory: DemoDirectory
) -> None:
    asked = h.say(CAROL, "I need access to the production database")
    h.press(CAROL, h.button(asked, "4 hours (usual)"))
    h.say(CAROL, "debugging ticket 7")
    sent = h.press(CAROL, h.button([h.sent[-1]], "Confirm"))
    assert {r.to for r in sent if r.card} == {GRACE, TESS, TOM}
    first = h.press(TESS, approve_button(sent, TESS))
    assert "needs 1 more approval" in texts(first, TESS)
    again = h.press(TESS, approve_button(sent, TESS))
    assert "already approved" in texts(again, TESS)
    assert not directory.is_member(person(directory, CAROL), "prod-db-readers")
    h.press(TOM, approve_button(sent, TOM))
    assert directory.is_member(person(directory, CAROL), "prod-db-readers")
    late = h.press(GRACE, approve_button(sent, GRACE))
    assert "already" in texts(late, GRACE) and "changed nothing" in texts(late, GRACE)
    replay = h.press(TOM, approve_button(sent, TOM))
    assert "changed nothing" in texts(replay, TOM)
    assert len(grants(h)) == 1 and requests(h)[0].approvals == [TESS, TOM]


def test_deny_asks_a_reason_and_tells_the_requester(h: Harness, directory: DemoDirectory) -> None:
    sent = ask_finance(h)
    asked = h.press(GRACE, Harness.button(Harness.to(sent, GRACE), "Deny"))
    assert "Why are you denying it?" in texts(asked, GRACE)
    denied = h.say(GRACE, "Use the shared summary instead")
    assert "Grace Hopper denied your request for Finance reports: Use the shared summary" in texts(
        denied, BOB
    )
    assert requests(h)[0].status == "denied"
    assert any(r.update and r.to == GRACE for r in denied)
    late = h.press(GRACE, approve_button(sent, GRACE))
    assert "already denied" in texts(late, GRACE)
    assert not directory.is_member(person(directory, BOB), "finance")


def test_an_expired_request_cannot_be_approved(h: Harness, clock: Callable[..., None]) -> None:
    sent = ask_finance(h)
    clock(hours=49)  # two thirds of 72 h: one reminder
    reminded = run(h, jobs.expire_access_requests)
    assert "Reminder: bob@example.com is waiting" in texts(reminded, GRACE)
    assert run(h, jobs.expire_access_requests) == []  # one reminder only
    clock(hours=24)
    late = h.press(GRACE, approve_button(sent, GRACE))
    assert "already expired" in texts(late, GRACE)
    assert "expired before it was approved" in texts(late, BOB)
    assert grants(h) == [] and requests(h)[0].status == "expired"
    assert run(h, jobs.expire_access_requests) == []


def test_pending_requests_expire_with_the_requester_told_and_cards_updated(
    h: Harness, clock: Callable[..., None]
) -> None:
    ask_finance(h)
    clock(hours=73)
    told = run(h, jobs.expire_access_requests)
    assert "expired before it was approved" in texts(told, BOB)
    assert any(r.update and r.to == GRACE and r.topic.startswith("access:") for r in told)


def test_a_group_outside_the_catalogue_cannot_be_granted_by_any_input(
    h: Harness, directory: DemoDirectory
) -> None:
    for attempt in ("I need access to domain-admins", "add me to the domain-admins group"):
        replies = h.say(BOB, attempt)
        assert "couldn't match" in texts(replies, BOB)
        h.say(BOB, "cancel")
    for forged in ("access.pick:domain-admins", "access.extend:../domain-admins", "access.approve:x' OR 1=1"):
        h.press(BOB, forged)
    assert "domain-admins" not in person(directory, BOB).groups
    assert requests(h) == [] and grants(h) == []


def test_injection_in_the_request_and_justification_is_quoted_not_obeyed(
    h: Harness, directory: DemoDirectory
) -> None:
    hostile = "<@U123> *approve* \x1b[31m</script> group: domain-admins ```"
    h.say(BOB, f"I need access to the finance share; group=domain-admins {hostile}")
    h.press(BOB, h.button(h.sent, "8 hours (usual)"))
    h.say(BOB, hostile)
    sent = h.press(BOB, h.button([h.sent[-1]], "Confirm"))
    card = next(r for r in sent if r.to == GRACE and r.card)
    why = dict(card.card.fields)["Why"]  # type: ignore[union-attr]
    assert "\x1b" not in why and "\\x1b" in why
    assert any(hostile.split()[0] in part for part in card.quoted)
    assert requests(h)[0].group == "finance"
    h.press(GRACE, approve_button(sent, GRACE))
    assert "domain-admins" not in person(directory, BOB).groups
    with h.bot.sessions() as s:
        details = [str(r.detail) for r in s.scalars(select(AuditRecord))]
    assert not any("script" in d for d in details)  # what was typed stays out of the audit


def test_done_with_ends_a_grant_early_and_revoke_needs_a_technician(
    h: Harness, directory: DemoDirectory
) -> None:
    sent = ask_finance(h)
    h.press(GRACE, approve_button(sent, GRACE))
    done = h.say(BOB, "I'm done with the finance share")
    assert "removing your Finance reports access" in texts(done, BOB)
    assert "has ended (released by the person)" in texts(done, BOB)
    assert not directory.is_member(person(directory, BOB), "finance")

    sent = ask_finance(h, CAROL, why="budget")
    h.press(GRACE, approve_button(sent, GRACE))
    grant_id = grants(h)[-1].id
    refused = h.say(CAROL, f"revoke access {grant_id} no longer needed")
    assert "Only technicians" in texts(refused, CAROL)
    revoked = h.say(TESS, f"revoke access {grant_id} left the project")
    assert "has ended (revoked by Tess Tech: left the project)" in texts(revoked, CAROL)
    assert not directory.is_member(person(directory, CAROL), "finance")


def test_a_membership_added_before_the_grant_is_never_removed(
    h: Harness, directory: DemoDirectory, clock: Callable[..., None]
) -> None:
    sent = ask_finance(h)
    directory.add_member(person(directory, BOB), "finance")  # someone else added Bob meanwhile
    h.press(GRACE, approve_button(sent, GRACE))
    assert grants(h)[0].pre_existing
    clock(hours=9)
    told = run(h, jobs.reconcile_access_grants)
    assert "you keep the membership you had before" in texts(told, BOB)
    assert directory.is_member(person(directory, BOB), "finance")


class FlakyRemovals(DemoDirectory):
    failing = True

    def remove_member(self, person: DirectoryPerson, group: str) -> bool:
        if self.failing:
            raise DirectoryError("remove group member: rc 52 unavailable")
        return super().remove_member(person, group)


def test_failed_removals_are_retried_with_back_off_and_technicians_told(
    sqlite_url: str, clock: Callable[..., None]
) -> None:
    source = DemoDirectory.from_file(DEMO_DIRECTORY_FILE)
    directory = FlakyRemovals(source.people(), dict(source._groups), dict(source._accounts))
    bot, _ = build_bot(sqlite_url, directory=directory, access_catalog=DEMO_ACCESS_CATALOG)
    h = Harness(bot)
    sent = ask_finance(h)
    h.press(GRACE, approve_button(sent, GRACE))
    clock(hours=9)
    run(h, jobs.reconcile_access_grants)
    assert grants(h)[0].removal_attempts == 1
    assert run(h, jobs.reconcile_access_grants) == []  # backing off
    clock(minutes=6)
    run(h, jobs.reconcile_access_grants)
    clock(minutes=16)
    alerted = run(h, jobs.reconcile_access_grants)
    assert grants(h)[0].removal_attempts == 3
    assert any("couldn't remove bob@example.com from finance" in r.text for r in alerted if r.to == TESS)
    directory.failing = False
    clock(hours=2)
    run(h, jobs.reconcile_access_grants)
    assert grants(h)[0].status == "ended"
    assert not directory.is_member(person(directory, BOB), "finance")


def test_my_requests_lists_pending_requests(h: Harness) -> None:
    ask_finance(h)
    listed = h.say(BOB, "my requests")
    assert "Requests waiting:\n• Finance reports — pending" in texts(listed, BOB)


def test_a_catalogue_mistake_stops_the_start_naming_file_entry_and_field(
    sqlite_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "access.yaml"
    bad.write_text(
        "access:\n  - id: finance-reports\n    name: Finance\n    group: finance\n"
        "    approvers: [boss]\n    default_duration: 8h\n    max_duration: 7d\n",
        encoding="utf-8",
    )
    directory = DemoDirectory.from_file(DEMO_DIRECTORY_FILE)
    with pytest.raises(SettingsError) as error:
        build_bot(sqlite_url, directory=directory, access_catalog=bad)
    message = str(error.value)
    assert f"{bad}: access[0] (finance-reports): approvers: unknown approver 'boss'" in message
    bad.write_text(bad.read_text().replace("[boss]", "[manager]").replace("group: finance", "group: nope"))
    with pytest.raises(SettingsError, match=r"access\[0\] \(finance-reports\): group: 'nope'"):
        build_bot(sqlite_url, directory=directory, access_catalog=bad)
    bad.write_text(bad.read_text().replace("group: nope", "group: domain-admins"))
    with pytest.raises(SettingsError, match="protected group and can never be granted"):
        build_bot(sqlite_url, directory=directory, access_catalog=bad)


def test_extend_starts_a_new_request_and_lengthens_the_same_grant(
    h: Harness, directory: DemoDirectory, clock: Callable[..., None]
) -> None:
    sent = ask_finance(h)
    h.press(GRACE, approve_button(sent, GRACE))
    clock(hours=7)
    asked = h.say(BOB, "extend finance reports")
    h.press(BOB, h.button(asked, "1 day"))
    h.say(BOB, "close is late")
    again = h.press(BOB, h.button([h.sent[-1]], "Confirm"))
    assert "I've sent your request" in texts(again, BOB)  # approved the same way
    h.press(GRACE, approve_button(again, GRACE))
    assert len(grants(h)) == 1 and not grants(h)[0].pre_existing
    assert grants(h)[0].expires_at == START + timedelta(hours=7, days=1)
    clock(hours=2)  # past the first end: still a member
    run(h, jobs.reconcile_access_grants)
    assert directory.is_member(person(directory, BOB), "finance")


def test_work_interrupted_by_a_crash_is_resumed_or_handed_to_technicians(
    h: Harness, directory: DemoDirectory, clock: Callable[..., None]
) -> None:
    sent = ask_finance(h)
    sent_carol = ask_finance(h, CAROL, why="budget")
    with h.bot.sessions.begin() as s:  # as a crash would leave them: approved, and claimed but not done
        bob, carol = s.scalars(select(AccessRequest).order_by(AccessRequest.id)).all()
        bob.status, carol.status = "approved", "granting"
    assert sent and sent_carol
    clock(minutes=11)
    told = run(h, jobs.expire_access_requests)
    assert directory.is_member(person(directory, BOB), "finance")  # resumed: nothing had been done
    assert not directory.is_member(person(directory, CAROL), "finance")  # not guessed: a technician checks
    assert any(r.to.startswith("#") and "interrupted" in r.text for r in told)
    assert [r.status for r in requests(h)] == ["granted", "interrupted"]


def test_the_confirm_buttons_label_typed_sends_the_request(h: Harness) -> None:
    h.say(BOB, "I need access to the finance reports")
    h.say(BOB, "4 hours")
    h.say(BOB, "quarterly forecast for the sales team")
    sent = h.say(BOB, "Confirm.")  # what the button says, typed
    assert "I've sent your request for Finance reports" in texts(sent, BOB)
    assert [r.status for r in requests(h)] == ["pending"]


def test_a_yes_typed_by_the_approver_decides_nothing_and_shows_the_buttons(h: Harness) -> None:
    h.say(BOB, "I need access to the finance reports")
    h.say(BOB, "4 hours")
    h.say(BOB, "quarterly forecast for the sales team")
    h.say(BOB, "yes")
    told = h.say(GRACE, "yes")  # she saw the card and answered it by typing
    assert "press Approve or Deny" in texts(told, GRACE) and "OK!" not in texts(told, GRACE)
    assert h.button(told, "Approve Bob Marley: Finance reports")
    assert [r.status for r in requests(h)] == ["pending"]


def test_typed_yes_sends_the_request_and_the_manager_finds_it_under_approvals(h: Harness) -> None:
    h.say(BOB, "I need access to the finance reports")
    h.say(BOB, "4 hours")
    h.say(BOB, "quarterly forecast for the sales team")
    sent = h.say(BOB, "yes")  # typed, not the Confirm button
    assert "I've sent your request for Finance reports" in texts(sent, BOB)
    assert [r.status for r in requests(h)] == ["pending"]
    waiting = h.say(GRACE, "approvals")
    assert "Finance reports for Bob Marley" in texts(waiting, GRACE)
    h.press(GRACE, h.button(waiting, "Approve Bob Marley: Finance reports"))
    assert [r.status for r in requests(h)] != ["pending"]
    assert "There is nothing waiting" in texts(h.say(GRACE, "approvals"), GRACE)
