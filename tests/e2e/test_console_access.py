"""An access request end to end through `frontdesk chat --json`: the employee asks, the manager (played
with `/as`) approves, the demo directory membership exists, and `frontdesk access list` shows the grant."""

from __future__ import annotations

import json

from tests.e2e.test_console import chat, cli_output, env  # noqa: F401  (env is a fixture)

BOB, GRACE = "bob@example.com", "grace@example.com"


def test_request_approve_and_list_through_the_console(env: dict[str, str]) -> None:  # noqa: F811
    run = chat(
        env,
        BOB,
        "I need access to the finance share",
        "8 hours (usual)",
        "month-end close",
        "Confirm",
        "/as grace@example.com",
        "Approve",
        "/as bob@example.com",
        "what access do I have?",
    )
    assert run.code == 0, run.stderr
    card = next(m for m in run.to(GRACE) if m.get("card"))
    assert "Approve" in [b["label"] for b in card["buttons"]]
    assert any("You now have Finance reports" in m["text"] for m in run.to(BOB))
    assert "Finance reports — until" in run.to(BOB)[-1]["text"]

    listed = [json.loads(line) for line in cli_output(env, "access", "list", "--json").splitlines()]
    grant = next(item for item in listed if item["kind"] == "grant")
    assert (grant["person"], grant["entry"], grant["group"], grant["status"]) == (
        BOB,
        "finance-reports",
        "finance",
        "active",
    )
    assert grant["pre_existing"] is False and grant["expires_at"]
    assert "grant #1 active bob@example.com finance-reports" in cli_output(env, "access", "list")


def test_the_requester_cannot_approve_as_themselves_in_the_console(env: dict[str, str]) -> None:  # noqa: F811
    run = chat(env, BOB, "I need access to the vpn", "7 days (usual)", "Skip", "Confirm")
    assert run.code == 0, run.stderr
    assert any("I've sent your request for VPN" in m["text"] for m in run.to(BOB))
    listed = [json.loads(line) for line in cli_output(env, "access", "list", "--json").splitlines()]
    correlation = next(item for item in listed if item["kind"] == "request")["correlation_id"]
    run = chat(env, BOB, f"/press access.approve:{correlation}")
    assert "own request" in run.to(BOB)[-1]["text"]
