"""`frontdesk run slack` as an operator starts it: a real process serving HTTP mode, the fake Slack Web API
standing in for Slack, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from slack_sdk.signature import SignatureVerifier

from tests.servers.fake_slack import TEAM, FakeSlack
from tests.servers.fake_slack_socket import FakeSocketMode
from tests.servers.support import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "process-test-signing-secret"


def _env(url: str, fake: FakeSlack, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env.update(
        FRONTDESK_DATABASE_URL=url,
        FRONTDESK_KB_SEMANTIC="off",
        FRONTDESK_LOG_FORMAT="json",
        FRONTDESK_SLACK_BOT_TOKEN="xoxb-process-test",
        FRONTDESK_SLACK_SIGNING_SECRET=SECRET,
        FRONTDESK_SLACK_TRIAGE_CHANNEL="CTRIAGE",
        FRONTDESK_SLACK_API_URL=fake.url,
        FRONTDESK_HTTP_PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    return env


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0  # not listening yet


def _until(condition, seconds: float, what: str, process: subprocess.Popen[str]) -> None:  # type: ignore[no-untyped-def]
    """Waiting for another process to get somewhere (start-up builds the knowledge base), not timing it."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"frontdesk run slack exited: {process.stderr.read()[-3000:]}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def test_run_slack_serves_events_and_probes_until_sigterm(fake_slack: FakeSlack, sqlite_url: str) -> None:
    fake_slack.add_user("UADA", "ada@example.com", "Ada Lovelace")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "slack"],
        cwd=ROOT,
        env=_env(sqlite_url, fake_slack, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _get(base + "/healthz") == 200, 120, "/healthz", process)
        assert _get(base + "/readyz") == 200
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": TEAM,
                "api_app_id": "A0001",
                "event_id": "EvPROCESS1",
                "event": {
                    "type": "message",
                    "channel_type": "im",
                    "channel": "DUADA",
                    "user": "UADA",
                    "text": "my tickets",
                    "ts": "1700002000.000001",
                },
            }
        )
        stamp = str(int(time.time()))
        request = urllib.request.Request(
            base + "/slack/events",
            data=body.encode(),
            headers={
                "Content-Type": "application/json",
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
                or "",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200  # acknowledged; the answer follows from the dispatcher
        _until(lambda: fake_slack.posted("DUADA"), 60, "the answer in the DM", process)
        assert "You have no tickets" in fake_slack.posted("DUADA")[0]["text"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0


def _dm_payload(event_id: str, text: str) -> dict[str, object]:
    event = {"type": "message", "channel_type": "im", "channel": "DUADA", "user": "UADA", "text": text}
    return {
        "type": "event_callback",
        "team_id": TEAM,
        "api_app_id": "A0001",
        "event_id": event_id,
        "event": {**event, "ts": "1700003000.000001"},
    }


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_run_slack_in_socket_mode_connects_and_answers(fake_slack: FakeSlack, sqlite_url: str) -> None:
    fake_slack.add_user("UADA", "ada@example.com", "Ada Lovelace")
    socket_mode = FakeSocketMode()
    fake_slack.socket_url = socket_mode.url
    env = _env(sqlite_url, fake_slack, free_port())
    env.update(FRONTDESK_SLACK_APP_TOKEN="xapp-process-test", FRONTDESK_SLACK_SIGNING_SECRET="")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "slack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _until(socket_mode.connected.is_set, 120, "the Socket Mode connection", process)
        assert fake_slack.of("apps.connections.open")
        socket_mode.send_event("envelope-1", _dm_payload("EvSOCKET1", "my tickets"))
        _until(lambda: "envelope-1" in socket_mode.acks, 30, "the envelope's ack", process)
        _until(lambda: fake_slack.posted("DUADA"), 60, "the answer in the DM", process)
        assert "You have no tickets" in fake_slack.posted("DUADA")[0]["text"]
    finally:
        code = _stop(process)
        socket_mode.close()
    assert code == 0


def test_run_slack_without_a_token_names_the_missing_variables(sqlite_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env.update(FRONTDESK_DATABASE_URL=sqlite_url)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "slack"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "FRONTDESK_SLACK_BOT_TOKEN" in done.stderr and "FRONTDESK_SLACK_TRIAGE_CHANNEL" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_worker_delivers_what_a_bot_left_for_slack(fake_slack: FakeSlack, sqlite_url: str) -> None:
    """Rows for Slack committed by a process that did not send them (it stopped) go out from `worker`."""
    import time

    from bot.messages import Outbox, Reply
    from bot.platforms.slack.run import slack_deliverer
    from bot.settings import load_settings
    from tests.conftest import build_app_for_tests

    fake_slack.channels.add("CTRIAGE")
    settings = load_settings(
        slack_bot_token="xoxb-process-test", slack_api_url=fake_slack.url, slack_triage_channel="CTRIAGE"
    )
    app = build_app_for_tests(sqlite_url, chat=[slack_deliverer(settings)])
    with app.sessions.begin() as session:  # committed; this process never sends it
        app.delivery.enqueue(session, Outbox(replies=[Reply("#triage", "left for the worker")]), "left")
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker"],
        cwd=ROOT,
        env=_env(sqlite_url, fake_slack, free_port()),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not fake_slack.posted("CTRIAGE"):
            time.sleep(0.1)
        assert [p.get("text") for p in fake_slack.posted("CTRIAGE")] == ["left for the worker"]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
