"""Teams activities → `Inbound`s for the core, on the Teams SDK's `App`. Translates; never decides.

- The SDK authenticates every request to `/api/messages` (the Bot Framework JWT: signature by a key named
  in the OpenID metadata, issuer, audience = our app id, expiry, `serviceurl` = the activity's) and answers
  401 before any handler here runs.
- A message in the personal chat, or one that @mentions the bot in a channel or group chat (the mention
  stripped; other channel posts are not for the bot), is a message from the person. The activity id
  becomes the `Inbound.event_id`, so a retried activity is handled once by the engine.
- A message in the thread of a ticket's card in the triage channel is a message about that ticket (the
  app's resource-specific permission ChannelMessage.Read.Group lets it see them without a mention).
- A button: an `Action.Execute` (an `adaptiveCard/action` invoke) or an `Action.Submit` (a message with a
  `value`) → `Inbound(action=button id)`. In the personal chat the pressed card is replaced by one that says
  what was chosen, so it cannot be pressed twice, and a second press that arrives anyway (a double click)
  is dropped (a triage card keeps its buttons: it is shared, and the core tells the second technician who
  has the ticket).
- The app installed in someone's personal scope is `Inbound(text="help")`: a welcome, and the reference.
- Who: the roster entry of the sender (`GET …/members/{id}`: email or UPN, tenant, role), remembered for a
  while. Guests and people of another tenant may open tickets, nothing sensitive (`Person.is_guest`).

Ack first, work after: the core runs in a worker thread and the request is answered at once (Teams shows
an error after ~15 s); the outbox delivers the replies. Tests set `process_before_response=True`, which
answers only once the core is done.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import jwt
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from microsoft_teams.api.auth.cloud_environment import PUBLIC, with_overrides
from microsoft_teams.api.models.adaptive_card import (
    AdaptiveCardActionCardResponse,
    AdaptiveCardActionMessageResponse,
)
from microsoft_teams.apps import App
from microsoft_teams.apps.http import FastAPIAdapter
from microsoft_teams.cards import AdaptiveCard

from bot.delivery.port import DeliveryError
from bot.delivery.threads import TicketThreads
from bot.messages import Inbound, Person, Reply
from bot.platforms.teams.cards import card, label_of, render
from bot.platforms.teams.connector import Connector
from bot.platforms.teams.deliverer import PLATFORM

log = structlog.get_logger(__name__)
PEOPLE_TTL_SECONDS = 600.0
WORKERS = 8
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_THREAD = ";messageid="
MESSAGES_PATH = "/api/messages"  # the SDK's default messaging endpoint
MAX_BODY_BYTES = 1 << 20
BOT_FRAMEWORK_ISSUER = PUBLIC.token_issuer  # https://api.botframework.com
PRESSED = "Got it."  # what a shared card's presser sees at once; the card itself is updated by the core
WELCOME = "help"  # what a new installation says to the core (handlers/router.py answers it)


@dataclass(frozen=True)
class Tenant:
    """Who the bot is in Teams and where triage is."""

    app_id: str
    tenant_id: str  # the organisation's; "" accepts every tenant as its own
    triage_conversation: str


@dataclass(frozen=True)
class Activity:
    """The parts of an authenticated activity the translation needs, copied off the SDK's model."""

    id: str
    service_url: str
    conversation: str
    conversation_type: str
    tenant: str
    user_id: str
    aad_object_id: str
    name: str
    text: str = ""
    value: Any = None
    reply_to: str = ""
    from_bot: bool = False
    mentioned: bool = False  # the bot is @mentioned (an entity naming it, not merely its name typed)

    @property
    def personal(self) -> bool:
        return self.conversation_type == "personal"


class People:
    """A sender (29:… id) → `Person`, from the conversation's roster, remembered for a while."""

    def __init__(self, connector: Connector, tenant_id: str, *, clock: Callable[[], float] = time.monotonic):
        self.connector = connector
        self.tenant_id = tenant_id
        self._clock = clock
        self._cache: dict[str, tuple[dict[str, Any] | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, activity: Activity) -> Person | None:
        member = self._member(activity)
        if member is None:
            return None
        tenant = str(member.get("tenantId") or activity.tenant or "")
        foreign = bool(self.tenant_id and tenant != self.tenant_id)
        # Another tenant's admin can set any `mail` on their users, not a UPN outside their own verified
        # domains: from there only the UPN names the person, so nobody poses as one of ours.
        upn = str(member.get("userPrincipalName") or "")
        email = (upn if foreign else str(member.get("email") or upn)).strip().lower()
        if not email:
            return None  # an anonymous meeting guest or a bot: nobody the directory could know
        guest = str(member.get("userRole") or "").lower() in ("guest", "anonymous") or foreign
        reference = {
            "service_url": activity.service_url,
            "user_id": activity.user_id,
            "tenant": tenant,
            "aad_object_id": activity.aad_object_id,
        }
        if activity.personal:  # a channel is nobody's way to be reached privately
            reference["conversation"] = activity.conversation
        name = str(member.get("name") or activity.name or email)
        user = activity.aad_object_id or str(member.get("aadObjectId") or "") or activity.user_id
        return Person(PLATFORM, user, email, name, is_guest=guest, team=tenant, reference=reference)

    def _member(self, activity: Activity) -> dict[str, Any] | None:
        key = activity.user_id
        with self._lock:
            cached = self._cache.get(key)
            if cached and cached[1] > self._clock():
                return cached[0]
        try:
            member = self.connector.member(activity.service_url, _root(activity.conversation), key)
        except DeliveryError as error:
            log.warning("teams_member_lookup_failed", error=error.reason)
            return None  # not remembered: the next activity asks again
        with self._lock:
            self._cache[key] = (member, self._clock() + PEOPLE_TTL_SECONDS)
        return member


class TeamsAdapter:
    def __init__(
        self,
        handle: Callable[[Inbound], object],
        connector: Connector,
        tenant: Tenant,
        threads: TicketThreads,
        *,
        token: Callable[[], str],
        openid_metadata_url: str,
        web: FastAPI | None = None,
        process_before_response: bool = False,
        people: People | None = None,
    ) -> None:
        self.handle = handle
        self.connector = connector
        self.tenant = tenant
        self.threads = threads
        self.people = people or People(connector, tenant.tenant_id)
        self.process_before_response = process_before_response
        self.web = web or FastAPI()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="teams")
        self.sdk = App(
            client_id=tenant.app_id,
            tenant_id=tenant.tenant_id or None,
            token=lambda *_args, **_kwargs: token(),
            cloud=with_overrides(PUBLIC, openid_metadata_url=openid_metadata_url),
            http_server_adapter=FastAPIAdapter(app=self.web),
            # explicit: else the SDK reads DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS from the environment
            dangerously_allow_unauthenticated_requests=False,
        )
        self._accept_only_bot_framework_tokens(BOT_FRAMEWORK_ISSUER)
        self.sdk.on_message(self._on_message)
        self.sdk.on_card_action_execute(self._on_execute)
        self.sdk.on_install_add(self._on_install)

    def _accept_only_bot_framework_tokens(self, issuer: str) -> None:
        """The SDK also accepts Entra-issued tokens (Agent 365 activities), checked against the keys of the
        tenant the unverified token names and with no `serviceurl` claim. frontdesk is a Teams bot: only the
        Bot Connector's tokens reach the SDK, so no request makes it fetch keys for a tenant it names."""

        @self.web.middleware("http")
        async def only_bot_framework(request: Request, call_next: Any) -> Any:
            if request.url.path == MESSAGES_PATH:
                if not issued_by(request.headers.get("authorization", ""), issuer):
                    return JSONResponse({"error": "Unauthorized"}, status_code=401)
                if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
                    return JSONResponse({"error": "Too large"}, status_code=413)  # no activity is this big
            return await call_next(request)

    async def initialize(self) -> None:
        """Registers `/api/messages` (with the SDK's token validation) on the web app."""
        await self.sdk.initialize()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # --- listeners (the SDK's event loop: nothing slow here) ----------------------------------------------

    async def _on_message(self, ctx: Any) -> None:
        activity = _activity(ctx.activity)
        value = ctx.activity.value
        if isinstance(value, dict) and value.get("action"):
            await self._work(lambda: self._pressed(activity, str(value["action"]), submit=True))
        else:
            await self._work(lambda: self._said(activity))

    async def _on_execute(self, ctx: Any) -> Any:
        activity = _activity(ctx.activity)
        action = ctx.activity.value.action
        button_id = str((action.data or {}).get("action") or action.verb or "")
        shown = None
        if activity.personal and activity.reply_to and button_id:
            shown = await asyncio.to_thread(self._chosen_card, activity, button_id)
        await self._work(lambda: self._pressed(activity, button_id, submit=False))
        if shown is not None:
            return AdaptiveCardActionCardResponse(value=AdaptiveCard.model_validate(shown))
        return AdaptiveCardActionMessageResponse(value=PRESSED)

    async def _on_install(self, ctx: Any) -> None:
        activity = _activity(ctx.activity)
        if activity.personal:
            await self._work(lambda: self._installed(activity))

    async def _work(self, job: Callable[[], None]) -> None:
        future = self._pool.submit(job)
        if self.process_before_response:
            await asyncio.wrap_future(future)
        else:
            future.add_done_callback(_log_failure)

    # --- the translation (a worker thread) ----------------------------------------------------------------

    def _said(self, activity: Activity) -> None:
        if activity.from_bot or not activity.user_id:
            return
        thread_ticket = None
        root, _, thread = activity.conversation.partition(_THREAD)
        if root == self.tenant.triage_conversation and thread:
            thread_ticket = self.threads.ticket_of(root, thread)
            if thread_ticket is None:
                return
        elif not (activity.personal or activity.mentioned):
            # With the channel-messages permission the bot sees every post: it answers only when asked (a new
            # post in triage, too, is the technicians' conversation unless it @mentions the bot).
            return
        person = self.people.get(activity)
        if person is None:
            log.info("teams_activity_ignored", detail="no email or UPN for this sender")
            return
        text = html.unescape(_MENTION.sub("", activity.text)).strip()
        if not text:
            return
        self.handle(
            Inbound(person=person, text=text, event_id=_event_id(activity), thread_ticket=thread_ticket)
        )

    def _installed(self, activity: Activity) -> None:
        """The app added to someone's personal scope (by them, or pre-installed by an admin) is the person
        saying hello: the core answers with what it can do, and their conversation reference is kept, so
        the bot can reach them before they ever write."""
        person = self.people.get(activity)
        if person is not None:
            self.handle(Inbound(person=person, text=WELCOME, event_id=_event_id(activity)))

    def _pressed(self, activity: Activity, button_id: str, *, submit: bool) -> None:
        if activity.from_bot or not button_id:
            return
        person = self.people.get(activity)
        if person is None:
            return
        if submit and activity.personal and activity.reply_to:
            self._show_choice(activity, button_id)
        self.handle(Inbound(person=person, action=button_id, event_id=_press_id(activity)))

    def _chosen_card(self, activity: Activity, button_id: str) -> dict[str, Any] | None:
        """The pressed card as it was, its buttons replaced by the choice (the invoke's answer)."""
        reply = self.threads.reply_of(activity.conversation, activity.reply_to)
        if reply is None:
            return None
        return card(reply, chosen=label_of(reply, button_id) or button_id)

    def _show_choice(self, activity: Activity, button_id: str) -> None:
        """Action.Submit has no answer card: the pressed message is updated through the Bot Connector."""
        reply: Reply | None = self.threads.reply_of(activity.conversation, activity.reply_to)
        if reply is None:
            return
        try:
            chosen = render(reply, chosen=label_of(reply, button_id) or button_id)
            self.connector.update_activity(
                activity.service_url, activity.conversation, activity.reply_to, chosen
            )
        except DeliveryError as error:  # the choice still counts
            log.warning("teams_choice_not_shown", error=error.reason)


def issued_by(authorization: str, issuer: str) -> bool:
    """The bearer token claims to come from `issuer` (the SDK then verifies that, the signature, the rest)."""
    token = authorization.removeprefix("Bearer ").strip() if authorization.startswith("Bearer ") else ""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return False
    return isinstance(claims, dict) and claims.get("iss") == issuer


def _activity(model: Any) -> Activity:
    sender = model.from_
    conversation = model.conversation
    channel_data = model.channel_data
    tenant = (
        getattr(conversation, "tenant_id", None)
        or getattr(getattr(channel_data, "tenant", None), "id", None)
        or ""
    )
    return Activity(
        id=str(model.id or ""),
        service_url=str(model.service_url or ""),
        conversation=str(conversation.id or ""),
        conversation_type=str(getattr(conversation, "conversation_type", "") or ""),
        tenant=str(tenant),
        user_id=str(sender.id or ""),
        aad_object_id=str(getattr(sender, "aad_object_id", "") or ""),
        name=str(sender.name or ""),
        text=str(getattr(model, "text", "") or ""),
        reply_to=str(getattr(model, "reply_to_id", "") or ""),
        mentioned=bool(getattr(model, "is_recipient_mentioned", lambda: False)()),
        # 28:… are bots (ourselves included); people are 29:…
        from_bot=str(sender.id or "").startswith("28:") or str(getattr(sender, "role", "") or "") == "bot",
    )


def _root(conversation: str) -> str:
    return conversation.split(_THREAD, 1)[0]


def _event_id(activity: Activity) -> str:
    """Activity ids are unique within a conversation; conversation ids can be long, so they are hashed."""
    conversation = hashlib.sha256(_root(activity.conversation).encode()).hexdigest()[:16]
    return f"teams:{conversation}:{activity.id}"[:200]


def _press_id(activity: Activity) -> str:
    """A card in the personal chat is pressed once: a second press of it (a double click, or a client that
    still shows the old card) carries another activity id, but names the same card, so the engine drops it.
    A shared card in a channel keeps each press: the core tells the second technician who has the ticket."""
    if not (activity.personal and activity.reply_to):
        return _event_id(activity)
    return _event_id(replace(activity, id=f"pressed:{activity.reply_to}"))


def _log_failure(future: Future[None]) -> None:
    error = future.exception()
    if error is not None:
        log.error("teams_activity_failed", error=type(error).__name__)
