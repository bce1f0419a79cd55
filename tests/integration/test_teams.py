"""Teams end to end: activities signed like the Bot Connector signs them, posted over HTTP to the real Teams
SDK app (which validates the token against the fake's OpenID metadata and JWKS), the core in between, and
our deliverer posting to a fake Bot Connector over HTTP on 127.0.0.1.

The adapter runs with `process_before_response=True`, so each request is handled before it is answered;
the test then runs the dispatcher (the Teams deliverer is not inline) and reads what reached the fake.
"""

from __future__ import annotations

import http.client
import itertools
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from bot.delivery.port import DeliveryError
from bot.messages import Reply
from bot.platforms.teams.run import TeamsBot, build_teams
from bot.platforms.teams.server import WebServer
from bot.settings import load_settings
from tests.conftest import build_app_for_tests
from tests.servers.fake_teams import APP_ID, BOT_TOKEN, TENANT, FakeTeams, new_key

TRIAGE = "19:triage@thread.tacv2"
ADA, TESS, TOM, GUEST, STRANGER = "29:ada", "29:tess", "29:tom", "29:guest", "29:stranger"
BOB, GRACE = "29:bob", "29:grace"
BOT = "28:" + APP_ID


class Teams:
    """Plays the Bot Connector's side: signs and posts activities to the adapter's /api/messages."""

    def __init__(self, fake: FakeTeams, teams: TeamsBot, server: WebServer) -> None:
        self.fake = fake
        self.bot = teams
        self.base = f"http://127.0.0.1:{server.port}"
        self.accounts: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    # --- requests ---------------------------------------------------------------------------------------

    def post(self, activity: dict[str, Any], *, token: str | None = "", path: str = "/api/messages") -> int:
        """POST `activity`; `token` "" signs a valid one, None sends none. Returns the HTTP status."""
        status, _body = self.request(activity, token=token, path=path)
        return status

    def request(
        self, activity: dict[str, Any], *, token: str | None = "", path: str = "/api/messages"
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = "Bearer " + (token or self.fake.mint())
        request = urllib.request.Request(
            self.base + path, data=json.dumps(activity).encode(), headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = int(response.status), response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        self.bot.app.delivery.dispatcher.run_due()  # what the activity said goes out
        return status, json.loads(raw) if raw.strip() else None

    def activity(self, user: str, conversation: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return {
            "type": "message",
            "id": f"in-{next(self._ids)}",
            "timestamp": "2026-12-01T09:00:00.000Z",
            "serviceUrl": self.fake.url,
            "channelId": "msteams",
            "from": self.accounts[user],
            "recipient": {"id": BOT, "name": "frontdesk"},
            "conversation": {"tenantId": self.fake.users[user]["tenantId"], **conversation},
            "channelData": {"tenant": {"id": self.fake.users[user]["tenantId"]}},
            **fields,
        }

    def personal(self, user: str) -> dict[str, Any]:
        return {"id": self.fake.personal(user), "conversationType": "personal"}

    def dm(self, user: str, text: str, **options: Any) -> int:
        activity_id = options.pop("activity_id", None)
        activity = self.activity(user, self.personal(user), text=text)
        if activity_id:
            activity["id"] = activity_id
        return self.post(activity, **options)

    def in_thread(self, user: str, card: dict[str, Any], text: str) -> int:
        """A reply in the card's thread, seen without a mention (the app's ChannelMessage.Read.Group)."""
        conversation = {"id": f"{TRIAGE};messageid={card['id']}", "conversationType": "channel"}
        return self.post(self.activity(user, conversation, text=text))

    def mention(self, user: str, conversation: str, text: str, *, entity: bool = True) -> int:
        """`user` writes `<at>frontdesk</at> text` in a channel; `entity`: Teams marks it as a mention."""
        mentioned = {
            "type": "mention",
            "text": "<at>frontdesk</at>",
            "mentioned": {"id": BOT, "name": "frontdesk"},
        }
        channel = {"id": conversation, "conversationType": "channel"}
        activity = self.activity(user, channel, text=f"<at>frontdesk</at> {text}")
        if entity:
            activity["entities"] = [mentioned]
        return self.post(activity)

    def execute(self, user: str, message: dict[str, Any], button_id: str) -> tuple[int, Any]:
        """`user` presses the Action.Execute button `button_id` on `message` (an activity the fake got)."""
        conversation = self._conversation_of(message)
        data = next(a["data"] for a in buttons_of(message) if a["data"]["action"] == button_id)
        value = {"action": {"type": "Action.Execute", "verb": button_id, "data": data}}
        invoke = self.activity(
            user, conversation, name="adaptiveCard/action", replyToId=message["id"], value=value
        )
        invoke["type"] = "invoke"
        return self.request(invoke)

    def submit(self, user: str, message: dict[str, Any], button_id: str) -> int:
        """The same press as an Action.Submit: a message whose `value` carries the button's data."""
        conversation = self._conversation_of(message)
        return self.post(
            self.activity(user, conversation, replyToId=message["id"], value={"action": button_id})
        )

    def _conversation_of(self, message: dict[str, Any]) -> dict[str, Any]:
        conversation = message["_conversation"]
        kind = "channel" if conversation.startswith("19:") else "personal"
        return {"id": conversation, "conversationType": kind}

    # --- what reached Teams -----------------------------------------------------------------------------

    def last_to(self, conversation: str) -> dict[str, Any]:
        posted = self.fake.posted(conversation)
        assert posted, f"nothing was posted to {conversation}"
        return posted[-1]

    def last_dm(self, user: str) -> dict[str, Any]:
        return self.last_to(self.fake.personal(user))


def cards_of(activity: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["content"] for a in activity.get("attachments") or [] if "adaptive" in a["contentType"]]


def buttons_of(activity: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for card in cards_of(activity):
        found += [a for e in card["body"] if e["type"] == "ActionSet" for a in e["actions"]]
    return found


def button_id(activity: dict[str, Any], label: str) -> str:
    for button in buttons_of(activity):
        if button["title"].lower() == label.lower():
            return str(button["data"]["action"])
    raise AssertionError(f"no button {label!r} in {[b['title'] for b in buttons_of(activity)]}")


def shown(activity: dict[str, Any]) -> str:
    """Everything an activity shows: its text and its cards."""
    return str(activity.get("text") or "") + json.dumps(cards_of(activity), ensure_ascii=False)


@contextmanager
def running_teams(fake: FakeTeams, url: str, **wiring: Any) -> Iterator[Teams]:
    """The bot on `url`, built by bootstrap with the Teams deliverer, behind the real Teams SDK app.
    `wiring`: more for build_app_for_tests (a directory, settings)."""
    accounts = {
        ADA: fake.add_user(ADA, "ada@example.com", "Ada Lovelace"),
        TESS: fake.add_user(TESS, "tess@example.com", "Tess Tech"),
        TOM: fake.add_user(TOM, "tom@example.com", "Tom Fixit"),
        GUEST: fake.add_user(GUEST, "bob@example.com", "Bob Guest", role="guest"),
        # another tenant's user whose admin set her mail to one of ours; her UPN is in their own domain
        BOB: fake.add_user(BOB, "bob@example.com", "Bob Marley"),
        GRACE: fake.add_user(GRACE, "grace@example.com", "Grace Hopper"),
        STRANGER: fake.add_user(
            STRANGER, "ada@example.com", "Ada Elsewhere", tenant="99999999-other", upn="ada@other.example"
        ),
    }
    options = {
        "teams_app_id": APP_ID,
        "teams_tenant_id": TENANT,
        "teams_triage_conversation": TRIAGE,
        "teams_service_url": fake.url,
        "teams_openid_metadata_url": fake.openid_metadata_url,
        "reset_verification": "chat_identity",
    }
    settings = load_settings(database_url=url, **options)
    bot = build_teams(
        settings,
        build=lambda chat: build_app_for_tests(url, chat=chat, **options, **wiring),
        token=lambda: BOT_TOKEN,
        process_before_response=True,
    )
    server = WebServer(bot.adapter.web, host="127.0.0.1", port=0)
    server.start()
    try:
        running = Teams(fake, bot, server)
        running.accounts.update(accounts)
        yield running
    finally:
        server.stop()
        bot.adapter.close()
        bot.app.engine.dispose()


@pytest.fixture
def teams(fake_teams: FakeTeams, sqlite_url: str) -> Iterator[Teams]:
    with running_teams(fake_teams, sqlite_url) as running:
        yield running


def open_ticket(
    teams: Teams, text: str = "my monitor flickers", user: str = ADA
) -> tuple[int, dict[str, Any]]:
    """Ada asks something the KB cannot answer and opens a ticket: (its number, its triage card)."""
    assert teams.dm(user, text) == 200
    answer = teams.last_dm(user)
    teams.execute(user, answer, button_id(answer, "Open a ticket"))
    urgency = teams.last_dm(user)
    teams.execute(user, urgency, button_id(urgency, "Not urgent"))
    card = teams.last_to(TRIAGE)
    number = int(shown(card).split("Ticket #", 1)[1].split('"')[0])
    return number, card


# ---------------------------------------------------------------- the HTTP front door


def test_a_valid_activity_is_answered_at_its_service_url(teams: Teams) -> None:
    assert teams.dm(ADA, "how do I set up the vpn on my laptop") == 200
    answer = teams.last_dm(ADA)
    assert "Connect to the VPN" in shown(answer)
    call = teams.fake.of("POST", r"/activities")[-1]
    assert call.authorization == "Bearer " + BOT_TOKEN


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(None, id="no-token"),
        pytest.param("audience", id="wrong-audience"),
        pytest.param("issuer", id="wrong-issuer"),
        pytest.param("expired", id="expired"),
        pytest.param("signature", id="wrong-signature"),
        pytest.param("serviceurl", id="serviceurl-mismatch"),
        pytest.param("garbage", id="not-a-jwt"),
        pytest.param("entra", id="entra-issued"),
    ],
)
def test_an_unauthenticated_request_gets_401_and_reaches_no_handler(teams: Teams, token: str | None) -> None:
    fake = teams.fake
    tokens = {
        None: None,
        "audience": fake.mint(audience="00000000-0000-0000-0000-00000000ffff"),
        "issuer": fake.mint(issuer="https://sts.windows.net/evil/"),
        "expired": fake.mint(expires_in=-3600),  # an hour ago: beyond the 5 minutes' leeway
        "signature": fake.mint(key=new_key()),
        "serviceurl": fake.mint(service_url="https://attacker.example/"),
        "garbage": "not.a.token",
        # an Entra-issued token naming a tenant: the SDK would fetch that tenant's keys; it never sees it
        "entra": jwt.encode(
            {
                "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0",
                "tid": TENANT,
                "aud": APP_ID,
                "azp": "x",
            },
            new_key(),
            algorithm="RS256",
        ),
    }
    assert teams.dm(ADA, "how do I set up the vpn", token=tokens[token]) == 401
    assert fake.posted() == [] and fake.of("GET") == []  # no reply, not even a roster lookup
    with teams.bot.app.sessions() as session:
        from bot.store.models import ProcessedEvent

        assert session.query(ProcessedEvent).count() == 0


def test_an_oversized_body_is_refused_before_it_is_read(teams: Teams) -> None:
    # Announce 2 MiB but send only the start: the answer must come before the body is read (a client
    # still writing the whole body could instead see the connection closed under it).
    url = urllib.parse.urlsplit(teams.base)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    connection.putrequest("POST", "/api/messages")
    connection.putheader("Authorization", "Bearer " + teams.fake.mint())
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(2 << 20))
    connection.endheaders(json.dumps(teams.activity(ADA, teams.personal(ADA), text="x" * 1000)).encode())
    assert connection.getresponse().status == 413
    connection.close()
    assert teams.fake.posted() == []


def test_the_sdks_environment_switch_cannot_turn_authentication_off(
    fake_teams: FakeTeams, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS", "true")  # the Teams SDK reads it
    with running_teams(fake_teams, sqlite_url) as teams:
        assert teams.dm(ADA, "how do I set up the vpn", token=None) == 401
        assert teams.fake.posted() == []


def test_health_and_readiness_are_served(teams: Teams) -> None:
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(teams.base + path, timeout=10) as response:
            assert response.status == 200


# ---------------------------------------------------------------- employees


def test_an_employees_question_is_answered_with_a_card(teams: Teams) -> None:
    teams.dm(ADA, "how do I set up the vpn on my laptop")
    answer = teams.last_dm(ADA)
    assert {"That solved it", "Not what I need"} <= {b["title"] for b in buttons_of(answer)}
    for button in buttons_of(answer):
        assert button["type"] == "Action.Execute" and button["verb"] == button["data"]["action"]


def test_a_pressed_card_shows_the_choice_and_not_helpful_leads_to_a_triage_card(teams: Teams) -> None:
    teams.dm(ADA, "my monitor flickers")
    answer = teams.last_dm(ADA)
    status, response = teams.execute(ADA, answer, button_id(answer, "Open a ticket"))
    assert status == 200 and response["type"] == "application/vnd.microsoft.card.adaptive"
    assert "You chose: **Open a ticket**" in json.dumps(response["value"])
    assert "ActionSet" not in json.dumps(response["value"])  # cannot be pressed twice
    urgency = teams.last_dm(ADA)
    teams.execute(ADA, urgency, button_id(urgency, "Not urgent"))
    card = teams.last_to(TRIAGE)
    assert "Ada Lovelace" in shown(card) and card["replyTo"] == ""
    assert {"Claim", "Details"} <= {b["title"] for b in buttons_of(card)}
    assert any(e["type"] == "FactSet" for e in cards_of(card)[0]["body"])


def test_an_action_submit_counts_as_the_press_and_updates_the_card(teams: Teams) -> None:
    teams.dm(ADA, "my monitor flickers")
    answer = teams.last_dm(ADA)
    assert teams.submit(ADA, answer, button_id(answer, "Open a ticket")) == 200
    updated = teams.fake.updated(teams.fake.personal(ADA))
    assert updated and updated[0]["id"] == answer["id"] and "You chose" in shown(updated[0])
    assert buttons_of(updated[0]) == []
    assert "Not urgent" in {b["title"] for b in buttons_of(teams.last_dm(ADA))}


def test_a_retried_activity_acts_once(teams: Teams) -> None:
    first = teams.dm(ADA, "how do I set up the vpn", activity_id="retried-1")
    again = teams.dm(ADA, "how do I set up the vpn", activity_id="retried-1")
    assert (first, again) == (200, 200)
    assert len(teams.fake.posted(teams.fake.personal(ADA))) == 1


def test_a_mention_in_a_channel_is_answered_in_the_personal_chat(teams: Teams) -> None:
    assert teams.mention(ADA, "19:general@thread.tacv2", "how do I set up the vpn") == 200
    assert "Connect to the VPN" in shown(teams.last_dm(ADA))
    assert teams.fake.posted("19:general@thread.tacv2") == []


def test_a_channel_post_that_does_not_mention_the_bot_is_not_for_it(teams: Teams) -> None:
    assert teams.mention(ADA, "19:general@thread.tacv2", "vpn is down again", entity=False) == 200
    assert teams.fake.posted() == []


def test_someone_who_only_wrote_in_a_channel_gets_a_new_personal_chat(teams: Teams) -> None:
    teams.mention(TOM, "19:general@thread.tacv2", "how do I set up the vpn")
    opened = teams.fake.of("POST", r"^/v3/conversations$")
    assert (
        len(opened) == 1
        and opened[0].body["members"] == [{"id": TOM}]
        and opened[0].body["tenantId"] == TENANT
    )
    assert "Connect to the VPN" in shown(teams.last_dm(TOM))


def test_a_guest_is_refused_a_reset_and_can_open_a_ticket(teams: Teams) -> None:
    teams.dm(GUEST, "I forgot my password")
    refusal = teams.last_dm(GUEST)
    assert "guest and external accounts" in shown(refusal) and "temporary password is" not in shown(refusal)
    number, card = open_ticket(teams, user=GUEST)
    assert "from Bob Marley" in shown(card) and f"Ticket #{number}" in shown(card)


def test_someone_from_another_tenant_is_refused_a_reset(teams: Teams) -> None:
    teams.dm(STRANGER, "I forgot my password")
    refusal = teams.last_dm(STRANGER)
    assert "guest and external accounts" in shown(refusal) and "temporary password is" not in shown(refusal)


def test_someone_from_another_tenant_cannot_pose_as_an_employee_by_their_mail(teams: Teams) -> None:
    number, _card = open_ticket(teams)
    teams.dm(STRANGER, "my tickets")
    answer = shown(teams.last_dm(STRANGER))
    assert f"#{number}" not in answer and "You have no tickets" in answer
    teams.bot.app.bot.run_job("teams-notice", lambda ctx: ctx.send("ada@example.com", "For Ada only."))
    teams.bot.app.delivery.dispatcher.run_due()
    assert "For Ada only." in shown(teams.last_dm(ADA))
    assert all("For Ada only." not in shown(p) for p in teams.fake.posted(teams.fake.personal(STRANGER)))


# ---------------------------------------------------------------- technicians


def test_claims_update_the_card_and_the_second_technician_is_told_it_is_taken(teams: Teams) -> None:
    number, card = open_ticket(teams)
    teams.execute(TESS, card, f"ticket.claim:{number}")
    teams.execute(TOM, card, f"ticket.claim:{number}")
    assert "already claimed by Tess Tech" in shown(teams.last_dm(TOM))
    updates = [u for u in teams.fake.updated(TRIAGE) if u["id"] == card["id"]]
    assert updates and "Tess Tech" in shown(updates[-1])
    assert "Claim" not in {b["title"] for b in buttons_of(updates[-1])}
    assert "Resolve" in {b["title"] for b in buttons_of(updates[-1])}


def test_the_card_thread_and_the_personal_chat_carry_the_conversation_both_ways(teams: Teams) -> None:
    number, card = open_ticket(teams)
    teams.execute(TESS, card, f"ticket.claim:{number}")
    teams.in_thread(TESS, card, "Does it flicker on battery too?")
    assert "Does it flicker on battery too?" in shown(teams.last_dm(ADA))
    teams.dm(ADA, "yes, on battery as well [click](https://evil.example) <at>Tess Tech</at>")
    in_thread = [p for p in teams.fake.posted(TRIAGE) if p["replyTo"] == card["id"]]
    assert in_thread and "yes, on battery as well" in shown(in_thread[-1])
    everything = shown(in_thread[-1])
    assert "[click](" not in everything and "<at>" not in everything


def test_resolve_asks_the_requester_for_a_rating(teams: Teams) -> None:
    number, card = open_ticket(teams)
    teams.execute(TESS, card, f"ticket.claim:{number}")
    teams.dm(TESS, f"resolve {number} replaced the cable")
    rating = teams.last_dm(ADA)
    assert "resolved" in shown(rating) and "5 great" in {b["title"] for b in buttons_of(rating)}
    updates = [u for u in teams.fake.updated(TRIAGE) if u["id"] == card["id"]]
    assert "resolved" in shown(updates[-1])


# ---------------------------------------------------------------- managers


def test_a_manager_approves_an_access_request_on_a_card_in_their_chat(
    fake_teams: FakeTeams, sqlite_url: str
) -> None:
    from automations.demo_directory import DemoDirectory
    from bot.settings import DEMO_ACCESS_CATALOG, DEMO_DIRECTORY_FILE

    directory = DemoDirectory.from_file(DEMO_DIRECTORY_FILE)
    with running_teams(
        fake_teams, sqlite_url, directory=directory, access_catalog=DEMO_ACCESS_CATALOG
    ) as teams:
        teams.dm(GRACE, "hello")  # Grace has the app: the bot knows where to reach her
        teams.dm(BOB, "I need access to the finance share")
        asked = teams.last_dm(BOB)
        teams.execute(BOB, asked, button_id(asked, "8 hours (usual)"))
        teams.dm(BOB, "month-end close")
        confirm = teams.last_dm(BOB)
        teams.execute(BOB, confirm, button_id(confirm, "Confirm"))
        card = teams.last_dm(GRACE)
        assert "Bob Marley" in shown(card) and any(e["type"] == "FactSet" for e in cards_of(card)[0]["body"])
        status, response = teams.execute(GRACE, card, button_id(card, "Approve"))
        assert status == 200 and "You chose: **Approve**" in json.dumps(response)
        assert "You now have Finance reports" in shown(teams.last_dm(BOB))
        bob = directory.find_by_email("bob@example.com")
        assert bob is not None and directory.is_member(bob, "finance")


# ---------------------------------------------------------------- proactive


def test_a_technicians_reply_reaches_the_requester_through_the_stored_reference(teams: Teams) -> None:
    number, _card = open_ticket(teams)
    opened_before = len(teams.fake.of("POST", r"^/v3/conversations$"))
    teams.dm(TESS, f"reply {number} Could you restart it and tell me?")
    relayed = teams.last_dm(ADA)
    assert "Could you restart it" in shown(relayed)
    assert len(teams.fake.of("POST", r"^/v3/conversations$")) == opened_before  # the stored conversation


def test_a_scheduled_jobs_notice_reaches_a_person_who_is_not_writing(teams: Teams, frozen_clock: Any) -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    teams.dm(ADA, "hello")
    before = len(teams.fake.posted(teams.fake.personal(ADA)))

    def notice(ctx: Any) -> None:
        ctx.send("ada@example.com", "Your access to finance-reports ends in an hour.")

    frozen_clock(start + timedelta(hours=2))
    teams.bot.app.bot.run_job("teams-notice", notice)
    teams.bot.app.delivery.dispatcher.run_due()
    posted = teams.fake.posted(teams.fake.personal(ADA))
    assert len(posted) == before + 1 and "ends in an hour" in shown(posted[-1])
    assert posted[-1]["textFormat"] == "plain"


def test_an_installation_welcomes_the_person_and_keeps_their_reference(teams: Teams) -> None:
    install = teams.activity(TOM, teams.personal(TOM), action="add")
    install["type"] = "installationUpdate"
    assert teams.post(install) == 200
    assert "password" in shown(teams.last_dm(TOM)).lower()  # what the bot can do
    deliverer, tom = teams.bot.deliverer, "tom@example.com"
    teams.bot.app.bot.run_job("teams-notice", lambda ctx: ctx.send(tom, "Your laptop is ready for pickup."))
    teams.bot.app.delivery.dispatcher.run_due()
    assert "ready for pickup" in shown(teams.last_dm(TOM))
    assert deliverer.route(tom, None) is None  # reached through the reference, not a lookup
    assert teams.fake.of("POST", r"^/v3/conversations$") == []


def test_the_temporary_password_is_posted_and_deleted_after_its_ttl(teams: Teams, frozen_clock: Any) -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    frozen_clock(start)
    teams.dm(ADA, "I forgot my password")
    for _ in range(3):  # chat_identity may ask to confirm with a button
        last = teams.last_dm(ADA)
        if "temporary password" in shown(last):
            break
        teams.execute(ADA, last, buttons_of(last)[0]["data"]["action"])
    secret = teams.last_dm(ADA)
    assert "Your temporary password is" in shown(secret) and "deleted in" in shown(secret)
    assert all("temporary password is" not in shown(p) for p in teams.fake.posted(TRIAGE))
    frozen_clock(start + timedelta(seconds=601))
    teams.bot.app.delivery.dispatcher.run_due()
    assert teams.fake.deleted == [(teams.fake.personal(ADA), secret["id"])]


def test_the_card_thread_works_on_postgresql(fake_teams: FakeTeams, fresh_postgres_url: str) -> None:
    with running_teams(fake_teams, fresh_postgres_url) as teams:
        number, card = open_ticket(teams)
        teams.in_thread(TESS, card, "Which monitor is it?")
        assert f"about ticket #{number}: Which monitor is it?" in shown(teams.last_dm(ADA))


# ---------------------------------------------------------------- the deliverer


def test_people_are_routed_by_their_reference_and_triage_by_the_settings(teams: Teams) -> None:
    deliverer = teams.bot.deliverer
    assert deliverer.route("#triage", None) == {"service_url": teams.fake.url, "conversation": TRIAGE}
    assert deliverer.route("#elsewhere", None) is None
    assert deliverer.route("nobody@example.com", None) is None  # Teams has no lookup by email
    ref = deliverer.send(
        {"service_url": teams.fake.url, "user_id": TOM, "tenant": TENANT}, Reply("tom@example.com", "hi")
    )
    assert (
        ref["conversation"] == teams.fake.personal(TOM)
        and (ref["conversation"], ref["activity"]) in teams.fake.activities
    )


@pytest.mark.parametrize(
    ("status", "permanent"), [(401, True), (403, True), (404, True), (429, False), (503, False)]
)
def test_bot_connector_errors_are_delivery_errors(teams: Teams, status: int, permanent: bool) -> None:
    teams.fake.fail_next(status, times=2)
    with pytest.raises(DeliveryError) as failure:
        teams.bot.deliverer.send(
            {"service_url": teams.fake.url, "conversation": TRIAGE}, Reply("#triage", "hello")
        )
    assert failure.value.permanent is permanent and str(status) in failure.value.reason


def test_deleting_a_message_that_is_already_gone_is_done(teams: Teams) -> None:
    deliverer = teams.bot.deliverer
    ref = deliverer.send({"service_url": teams.fake.url, "conversation": TRIAGE}, Reply("#triage", "hello"))
    deliverer.delete(ref)
    deliverer.delete(ref)  # the fake answers 404 now: nothing left to do
    assert teams.fake.deleted == [(TRIAGE, ref["activity"])]
    assert len(teams.fake.of("DELETE")) == 2


def test_a_429_is_retried_once_after_retry_after(teams: Teams) -> None:
    teams.fake.fail_next(429)
    ref = teams.bot.deliverer.send(
        {"service_url": teams.fake.url, "conversation": TRIAGE}, Reply("#triage", "hello")
    )
    assert (TRIAGE, ref["activity"]) in teams.fake.activities
    assert len(teams.fake.of("POST", r"/activities")) == 2
