"""End to end through `frontdesk chat --json` with piped input, as a person (or a script) would use it:
the real command, the real knowledge base and intent model, the shipped demo directory, SQLite."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADA, TESS, TOM = "ada@example.com", "tess@example.com", "tom@example.com"


@dataclass
class Run:
    code: int
    messages: list[dict]
    stdout: str
    stderr: str

    def to(self, who: str) -> list[dict]:
        return [m for m in self.messages if m["to"] == who]


def frontdesk(*args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: int = 120) -> Run:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )
    messages = [
        json.loads(line) for line in result.stdout.splitlines() if line.startswith("{") and line.endswith("}")
    ]
    return Run(result.returncode, messages, result.stdout, result.stderr)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    environment.update(
        {
            "FRONTDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
            "FRONTDESK_TECHNICIAN_GROUP": "it-support",
            "FRONTDESK_LOG_FORMAT": "json",
            "FRONTDESK_KB_SEMANTIC": "off",
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        }
    )
    return environment


def cli_output(env: dict[str, str], *args: str) -> str:
    run = frontdesk(*args, env=env)
    assert run.code == 0, run.stderr
    return run.stdout


def chat(env: dict[str, str], speaker: str, *lines: str) -> Run:
    return frontdesk("chat", "--as", speaker, "--json", stdin="\n".join(lines) + "\n", env=env)


def test_question_to_ticket_claim_relay_resolve_rate(env: dict[str, str]) -> None:
    run = chat(
        env,
        ADA,
        "Can I bring my dog to the office on Fridays?",
        "Open a ticket",
        "Urgent",
        "/as tess@example.com",
        "queue",
    )
    assert run.code == 0, run.stderr
    offer = run.to(ADA)[0]
    assert {"to", "text", "buttons", "ticket"} <= offer.keys()
    assert "Open a ticket" in [b["label"] for b in offer["buttons"]]
    opened = [m for m in run.to(ADA) if m["ticket"]][-1]
    ticket = opened["ticket"]
    assert f"ticket #{ticket}" in opened["text"]
    queue = run.to(TESS)[-1]
    assert queue["text"].splitlines()[1].startswith(f"🔴 #{ticket} Can I bring my dog")

    run = chat(
        env,
        TESS,
        f"claim {ticket}",
        "/as tom@example.com",
        f"claim {ticket}",
        "/as tess@example.com",
        f"reply {ticket} Is it a small dog?",
        "/as ada@example.com",
        "Yes, a dachshund",
        "/as tess@example.com",
        f"resolve {ticket} Dogs are welcome on Fridays; register them at reception",
        "/as ada@example.com",
        "5",
        "Very quick answer",
    )
    assert run.code == 0, run.stderr
    assert run.to(TESS)[0]["text"] == f"Ticket #{ticket} is yours."
    assert run.to(TOM)[0]["text"] == f"Ticket #{ticket} is already claimed by Tess Tech."
    assert any("Is it a small dog?" in m["text"] for m in run.to(ADA))
    assert any("Yes, a dachshund" in m["text"] for m in run.to(TESS))
    resolved = next(m for m in run.to(ADA) if "is resolved" in m["text"])
    assert [b["label"] for b in resolved["buttons"]][:5] == ["1 poor", "2", "3", "4", "5 great"]

    details = json.loads(cli_output(env, "tickets", "show", str(ticket), "--json"))
    assert (details["status"], details["rating"], details["rating_comment"]) == (
        "closed",
        5,
        "Very quick answer",
    )
    assert details["department"] == "Finance" and details["manager"] == "grace@example.com"
    kinds = [e["kind"] for e in details["events"]]
    assert kinds == [
        "created",
        "claimed",
        "message_to_requester",
        "message_from_requester",
        "resolved",
        "rated",
        "rating_comment",
    ]


def test_restart_mid_conversation_resumes(env: dict[str, str]) -> None:
    first = chat(env, ADA, "I need to talk to a human", "My second monitor stays black")
    assert "urgent" in first.to(ADA)[-1]["text"].lower()
    second = chat(env, ADA, "not urgent")  # a new process: the flow comes from the database
    assert re.search(r"I've opened ticket #\d+", second.to(ADA)[-1]["text"])
    listed = cli_output(env, "tickets", "list", "--json")
    assert json.loads(listed.splitlines()[0])["problem"] == "My second monitor stays black"


def test_a_button_number_typed_after_a_restart_presses_the_button_shown_before(env: dict[str, str]) -> None:
    first = chat(env, ADA, "I need to talk to a human", "My second monitor stays black")
    labels = [b["label"] for b in first.to(ADA)[-1]["buttons"]]
    assert labels[1] == "Not urgent"
    second = chat(env, ADA, "2")  # a new terminal: "2" is still the second button of the last question
    assert re.search(r"I've opened ticket #\d+; a technician will pick it up", second.to(ADA)[-1]["text"])
    third = chat(env, ADA, "2")  # that message had no buttons: "2" is a message again, not a stale press
    assert "There is no button" not in third.stderr and third.to(ADA)


def test_bad_input_gets_clear_errors(env: dict[str, str]) -> None:
    unknown = chat(env, "nobody@nowhere.example", "hello")
    assert unknown.code != 0 and "nobody@nowhere.example is not in the directory" in unknown.stderr

    run = chat(env, ADA, "", "   ", "x" * 100_000, "/as ghost@example.com", "/press no.such:button")
    assert run.code == 0
    assert "too long" in run.messages[0]["text"]
    assert "ghost@example.com is not in the directory" in run.stderr
    assert "don't know that button" in run.messages[-1]["text"]
    assert len(run.messages) == 2  # the blank lines produced nothing


def test_unknown_number_when_buttons_are_shown(env: dict[str, str]) -> None:
    run = chat(env, ADA, "Can I bring my dog to the office on Fridays?", "9")
    assert "There is no button 9; choose 1-2" in run.stderr


def test_read_only_database_is_reported(env: dict[str, str], tmp_path: Path) -> None:
    chat(env, ADA, "hello")  # creates the database
    env = {**env, "FRONTDESK_DATABASE_URL": f"sqlite:///file:{tmp_path / 'e2e.db'}?mode=ro&uri=true"}
    run = chat(env, ADA, "talk to a human")
    assert run.code != 0 and "read-only" in run.stderr


def test_console_help_lists_commands(env: dict[str, str]) -> None:
    run = chat(env, ADA, "/help")
    assert "/as EMAIL" in run.stderr and "/quit" in run.stderr


def test_waiting_sends_the_requesters_answer_to_the_ticket(env: dict[str, str]) -> None:
    run = chat(env, ADA, "talk to a human", "My docking station is dead", "not urgent")
    ticket = [m for m in run.to(ADA) if m["ticket"]][-1]["ticket"]
    run = chat(
        env,
        TESS,
        f"claim {ticket}",
        f"waiting {ticket}",
        "/as ada@example.com",
        "How do I find the model number of the dock?",  # would be a knowledge-base question otherwise
    )
    assert run.code == 0, run.stderr
    assert any("waiting for your answer" in m["text"] for m in run.to(ADA))
    assert run.to(ADA)[-1]["text"].startswith(f"Added to ticket #{ticket}")
    assert any("model number of the dock" in m["text"] for m in run.to(TESS))
    details = json.loads(cli_output(env, "tickets", "show", str(ticket), "--json"))
    assert details["events"][-1]["kind"] == "message_from_requester"


def test_plain_chat_on_the_demo_directory_has_technicians(env: dict[str, str]) -> None:
    del env["FRONTDESK_TECHNICIAN_GROUP"]  # `frontdesk chat` with nothing configured
    run = chat(
        env, ADA, "talk to a human", "The projector is dead", "urgent", "/as tess@example.com", "queue"
    )
    assert run.code == 0, run.stderr
    assert run.to(TESS)[-1]["text"].startswith("Open tickets: 1")
    assert "no_technicians" not in run.stderr


def test_start_up_warns_when_nobody_can_take_tickets(env: dict[str, str], tmp_path: Path) -> None:
    people = tmp_path / "people.yaml"
    people.write_text("people:\n  - email: ada@example.com\n", encoding="utf-8")
    del env["FRONTDESK_TECHNICIAN_GROUP"]
    run = chat({**env, "FRONTDESK_DEMO_DIRECTORY": str(people), "FRONTDESK_TECHNICIANZ": "x"}, ADA, "hello")
    assert run.code == 0, run.stderr
    assert "no_technicians" in run.stderr and "it-support" in run.stderr
    assert "FRONTDESK_TECHNICIANZ (did you mean FRONTDESK_TECHNICIANS?)" in run.stderr


def test_broken_demo_directory_is_named(env: dict[str, str], tmp_path: Path) -> None:
    people = tmp_path / "people.yaml"
    people.write_text(
        "people:\n  - email: ada@example.com\n    manager: ghost@example.com\n", encoding="utf-8"
    )
    run = chat({**env, "FRONTDESK_DEMO_DIRECTORY": str(people)}, ADA, "hello")
    assert run.code != 0 and "Traceback" not in run.stderr
    assert f"{people}: people[0] (ada@example.com): manager ghost@example.com is not a person" in run.stderr


def test_huge_ticket_number_is_no_ticket(env: dict[str, str]) -> None:
    run = chat(env, TESS, "claim 99999999999999999999999")
    assert run.code == 0, run.stderr
    assert run.to(TESS)[0]["text"] == "There is no ticket #99999999999999999999999."
    assert cli_output(env, "tickets", "list").strip() == "no tickets"


def test_unknown_console_command_is_not_a_message(env: dict[str, str]) -> None:
    run = chat(env, ADA, "/foo")
    assert run.code == 0 and run.messages == []
    assert "unknown command /foo — /help" in run.stderr


def test_tickets_commands_refuse_a_database_that_is_not_there(env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    for args in (("tickets", "list"), ("tickets", "show", "1")):
        run = frontdesk(*args, env={**env, "FRONTDESK_DATABASE_URL": f"sqlite:///{missing}"})
        assert run.code != 0 and f"there is no database at {missing}" in run.stderr
    assert not missing.exists()


def test_tickets_show_prints_event_details(env: dict[str, str]) -> None:
    chat(env, ADA, "talk to a human", "Laptop fan is loud", "urgent")
    chat(
        env,
        TESS,
        "claim 1",
        "assign 1 tom@example.com",
        "/as tom@example.com",
        "flag 1 needs_budget",
        "resolve 1 Replaced the fan",
        "/as ada@example.com",
        "4",
    )
    text = cli_output(env, "tickets", "show", "1")
    assert "created (urgent, human)" in text
    assert "reassigned (tess@example.com → tom@example.com)" in text
    assert "flag_set: needs_budget" in text
    assert "rated (4/5)" in text


def test_model_loading_prints_no_chatter(env: dict[str, str]) -> None:
    from kb import semantic

    if not semantic.available():
        pytest.skip(f"the ONNX model is not installed: {', '.join(semantic.missing_packages())}")
    env = {**env, "FRONTDESK_KB_SEMANTIC": "on", "FRONTDESK_LOG_FORMAT": "console"}
    run = chat(env, ADA, "how do I connect to the vpn?")
    assert run.code == 0, run.stderr
    assert "VPN" in run.to(ADA)[0]["text"]  # the semantic ranker loaded and answered
    # Neither onnxruntime's logger ("[W:onnxruntime:…]"), nor progress bars, nor Hugging Face hub notices.
    chatter = ("onnxruntime", "[W:", "[E:", "Batches", "it/s", "%|", "huggingface", "tokenizers")
    assert [word for word in chatter if word in run.stderr] == [], run.stderr
