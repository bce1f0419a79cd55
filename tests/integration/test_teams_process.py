"""`frontdesk run teams` (and `frontdesk run slack teams`) as an operator starts it: a real process, its
Bot Framework token from msal against a fake Entra ID login over HTTPS (trusted through
FRONTDESK_ENTRA_CA_FILE), the fake Bot Connector standing in for Teams, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slack_sdk.signature import SignatureVerifier

from tests.servers.fake_slack import TEAM, FakeSlack
from tests.servers.fake_teams import APP_ID, BOT_TOKEN, TENANT, FakeLogin, FakeTeams
from tests.servers.support import free_port

ROOT = Path(__file__).resolve().parents[2]
SLACK_SECRET = "process-test-signing-secret"
TRIAGE = "19:triage@thread.tacv2"


def _env(url: str, fake: FakeTeams, login: FakeLogin, port: int, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env.update(
        FRONTDESK_DATABASE_URL=url,
        FRONTDESK_KB_SEMANTIC="off",
        FRONTDESK_LOG_FORMAT="json",
        FRONTDESK_TEAMS_APP_ID=APP_ID,
        FRONTDESK_TEAMS_APP_PASSWORD="process-test-client-secret",
        FRONTDESK_TEAMS_TENANT_ID=TENANT,
        FRONTDESK_TEAMS_TRIAGE_CONVERSATION=TRIAGE,
        FRONTDESK_TEAMS_SERVICE_URL=fake.url,
        FRONTDESK_TEAMS_OPENID_METADATA_URL=fake.openid_metadata_url,
        FRONTDESK_ENTRA_AUTHORITY=login.authority,
        FRONTDESK_ENTRA_CA_FILE=login.ca_file,
        FRONTDESK_HTTP_PORT=str(port),
        PYTHONUNBUFFERED="1",
        **more,
    )
    return env


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0  # not listening yet


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _until(condition: Callable[[], Any], seconds: float, what: str, process: subprocess.Popen[str]) -> None:
    """Waiting for another process to get somewhere (start-up builds the knowledge base), not timing it."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"frontdesk run exited: {process.stderr.read()[-3000:]}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return code, process.stderr.read() if process.stderr else ""


def _dm(fake: FakeTeams, user: dict[str, Any], text: str) -> tuple[bytes, dict[str, str]]:
    activity = {
        "type": "message",
        "id": "process-1",
        "serviceUrl": fake.url,
        "channelId": "msteams",
        "from": user,
        "recipient": {"id": "28:" + APP_ID, "name": "frontdesk"},
        "conversation": {"id": fake.personal(user["id"]), "conversationType": "personal", "tenantId": TENANT},
        "text": text,
    }
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + fake.mint()}
    return json.dumps(activity).encode(), headers


def test_run_teams_serves_activities_and_probes_until_sigterm(
    fake_teams: FakeTeams, fake_login: FakeLogin, sqlite_url: str
) -> None:
    ada = fake_teams.add_user("29:ada", "ada@example.com", "Ada Lovelace")
    port = free_port()
    process = _start(["teams"], _env(sqlite_url, fake_teams, fake_login, port))
    base = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _get(base + "/healthz") == 200, 120, "/healthz", process)
        assert _get(base + "/readyz") == 200
        body, headers = _dm(fake_teams, ada, "my tickets")
        assert _post(base + "/api/messages", body, {**headers, "Authorization": "Bearer forged"}) == 401
        assert _post(base + "/api/messages", body, headers) == 200  # acknowledged; the answer follows
        _until(lambda: fake_teams.posted(fake_teams.personal("29:ada")), 60, "the answer", process)
        answer = fake_teams.posted(fake_teams.personal("29:ada"))[0]
        assert "You have no tickets" in json.dumps(answer)
        assert fake_teams.of("POST", "/activities")[0].authorization == "Bearer " + BOT_TOKEN
        assert fake_login.token_requests[0]["scope"] == "https://api.botframework.com/.default"
        assert fake_login.token_requests[0]["client_id"] == APP_ID
    finally:
        code, stderr = _stop(process)
    assert code == 0
    assert "process-test-client-secret" not in stderr  # the secret is in no log line


def test_slack_and_teams_run_in_one_process_on_one_port(
    fake_teams: FakeTeams, fake_slack: FakeSlack, fake_login: FakeLogin, sqlite_url: str
) -> None:
    ada = fake_teams.add_user("29:ada", "ada@example.com", "Ada Lovelace")
    fake_slack.add_user("UADA", "ada@example.com", "Ada Lovelace")
    port = free_port()
    slack = {
        "FRONTDESK_SLACK_BOT_TOKEN": "xoxb-process-test",
        "FRONTDESK_SLACK_SIGNING_SECRET": SLACK_SECRET,
        "FRONTDESK_SLACK_TRIAGE_CHANNEL": "CTRIAGE",
        "FRONTDESK_SLACK_API_URL": fake_slack.url,
    }
    process = _start(["slack", "teams"], _env(sqlite_url, fake_teams, fake_login, port, **slack))
    base = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _get(base + "/healthz") == 200, 120, "/healthz", process)
        body, headers = _dm(fake_teams, ada, "my tickets")
        assert _post(base + "/api/messages", body, headers) == 200
        event = {
            "type": "message",
            "channel_type": "im",
            "channel": "DUADA",
            "user": "UADA",
            "text": "my tickets",
        }
        payload = {
            "type": "event_callback",
            "team_id": TEAM,
            "event_id": "EvBOTH1",
            "event": {**event, "ts": "1.2"},
        }
        raw = json.dumps(payload)
        stamp = str(int(time.time()))
        signature = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=stamp, body=raw) or ""
        slack_headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
        }
        assert (
            _post(base + "/slack/events", raw.encode(), {**slack_headers, "X-Slack-Signature": "v0=00"})
            == 401
        )
        assert _post(base + "/slack/events", raw.encode(), slack_headers) == 200
        _until(lambda: fake_teams.posted(fake_teams.personal("29:ada")), 60, "the Teams answer", process)
        _until(lambda: fake_slack.posted("DUADA"), 60, "the Slack answer", process)
        assert "You have no tickets" in fake_slack.posted("DUADA")[0]["text"]
    finally:
        code, _stderr = _stop(process)
    assert code == 0


def test_a_worker_delivers_what_the_bot_left_in_the_outbox_to_teams(
    fake_teams: FakeTeams, fake_login: FakeLogin, sqlite_url: str
) -> None:
    """The bot answers an activity and stops before delivering; `frontdesk worker`, configured for Teams,
    delivers the reply from the outbox through the stored conversation reference."""
    from bot.platforms.teams.run import build_teams
    from bot.platforms.teams.server import WebServer
    from bot.settings import load_settings
    from tests.conftest import build_app_for_tests

    ada = fake_teams.add_user("29:ada", "ada@example.com", "Ada Lovelace")
    env = _env(sqlite_url, fake_teams, fake_login, free_port())
    options = {k.removeprefix("FRONTDESK_").lower(): v for k, v in env.items() if k.startswith("FRONTDESK_")}
    options.pop("database_url")
    settings = load_settings(database_url=sqlite_url, **options)
    teams = build_teams(
        settings,
        build=lambda chat: build_app_for_tests(sqlite_url, chat=chat, **options),
        token=lambda: BOT_TOKEN,
        process_before_response=True,
    )
    server = WebServer(teams.adapter.web, host="127.0.0.1", port=0)
    server.start()
    try:
        body, headers = _dm(fake_teams, ada, "my tickets")
        assert _post(f"http://127.0.0.1:{server.port}/api/messages", body, headers) == 200
    finally:
        server.stop()
        teams.adapter.close()
        teams.app.engine.dispose()
    assert fake_teams.posted() == []  # handled and committed, not delivered
    worker = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _until(lambda: fake_teams.posted(fake_teams.personal("29:ada")), 60, "the delivery", worker)
        assert "You have no tickets" in json.dumps(fake_teams.posted()[0])
    finally:
        code, _stderr = _stop(worker)
    assert code == 0
