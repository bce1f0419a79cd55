"""The Bot Connector REST API, the few calls frontdesk makes (httpx): post, reply in a thread, update and
delete an activity, open a 1:1 conversation, read a member of a conversation.

Every call carries the bot's own Bot Framework token (`token()`: frontdesk's msal client in production,
a test's callable in tests). A 429 is waited out once when Retry-After is short; anything else that fails
is a `DeliveryError` — permanent when retrying cannot help (401, 403, 404, other 4xx), else temporary, so
the outbox retries it with back-off.

Not the Teams SDK's `ApiClient`: it is async and bound to the SDK's event loop, while the outbox delivers
from the dispatcher's thread (and from `frontdesk worker`, where no SDK app runs); six REST calls over a
plain httpx client are easier to retry, time out and fake.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from bot.delivery.port import DeliveryError

TIMEOUT_SECONDS = 10.0
MAX_RETRY_AFTER_SECONDS = 5.0
_SAFE = ":@;="  # conversation ids look like 19:abc@thread.tacv2;messageid=1 or a:1Xy…


class Connector:
    def __init__(
        self,
        token: Callable[[], str],
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.token = token
        self.client = client or httpx.Client(timeout=TIMEOUT_SECONDS)
        self._sleep = sleep

    def post_activity(
        self, service_url: str, conversation: str, activity: dict[str, Any], *, reply_to: str = ""
    ) -> str:
        path = f"v3/conversations/{_q(conversation)}/activities" + (f"/{_q(reply_to)}" if reply_to else "")
        answer = self._call("POST", service_url, path, activity)
        return str(answer.get("id") or "")

    def update_activity(
        self, service_url: str, conversation: str, activity_id: str, activity: dict[str, Any]
    ) -> None:
        path = f"v3/conversations/{_q(conversation)}/activities/{_q(activity_id)}"
        self._call("PUT", service_url, path, {**activity, "id": activity_id})

    def delete_activity(self, service_url: str, conversation: str, activity_id: str) -> None:
        self._call("DELETE", service_url, f"v3/conversations/{_q(conversation)}/activities/{_q(activity_id)}")

    def open_personal(self, service_url: str, user_id: str, tenant: str) -> str:
        """The 1:1 conversation between the bot and `user_id` (Teams answers the same id each time)."""
        body = {
            "isGroup": False,
            "members": [{"id": user_id}],
            "tenantId": tenant,
            "channelData": {"tenant": {"id": tenant}},
        }
        return str(self._call("POST", service_url, "v3/conversations", body)["id"])

    def member(self, service_url: str, conversation: str, user_id: str) -> dict[str, Any]:
        """The roster entry of `user_id`: email, userPrincipalName, tenantId, userRole (user/guest)."""
        return self._call("GET", service_url, f"v3/conversations/{_q(conversation)}/members/{_q(user_id)}")

    def _call(self, method: str, service_url: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = service_url.rstrip("/") + "/" + path
        for attempt in (1, 2):
            try:
                response = self.client.request(
                    method, url, json=body, headers={"Authorization": f"Bearer {self.token()}"}
                )
            except httpx.HTTPError as error:
                raise DeliveryError(f"{method} {path.split('/')[-1]}: {type(error).__name__}") from None
            wait = _retry_after(response)
            if response.status_code == 429 and attempt == 1 and wait is not None:
                self._sleep(wait)
                continue
            break
        if response.status_code >= 400:
            raise DeliveryError(_reason(response), permanent=_permanent(response.status_code))
        return response.json() if response.content else {}


def _q(part: str) -> str:
    return quote(part, safe=_SAFE)


def _permanent(status: int) -> bool:
    return 400 <= status < 500 and status not in (408, 429)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        wait = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return wait if 0 <= wait <= MAX_RETRY_AFTER_SECONDS else None


def _reason(response: httpx.Response) -> str:
    try:
        error = (response.json() or {}).get("error") or {}
        code = str(error.get("code") or "") if isinstance(error, dict) else ""
    except ValueError:  # not JSON: the status says it all
        code = ""
    return f"HTTP {response.status_code}" + (f" {code}" if code else "")
