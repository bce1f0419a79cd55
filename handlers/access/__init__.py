"""Access requests: a catalogue of requestable access, approvals by the right people, time-bound grants.

    "I need access to the finance share" → the catalogue entry (aliases, typos; a choice when several
    match; a ticket offered when none does) → already has it? → how long (within the maximum) → why →
    confirm → approver cards (Approve / Deny, checked at click time; never the requester) → enough
    different approvals → commit, then add to the entry's group → at expiry (or "I'm done with …", or a
    technician's revoke) the membership is removed — never one the person had before.

- `records`: finding requests and grants, status changes, who may approve, audit, words.
- `request`: the requester's conversation, up to the request.
- `decide`: approver cards, approve / deny, the grant (commit, then act).
- `grants`: listing, ending early, revoking, the reconciler and request expiry (jobs).
"""

from __future__ import annotations

from handlers.access import decide, grants, records, request
from handlers.access.grants import try_command
from handlers.access.records import FLOW
from handlers.access.request import start_request

__all__ = ["FLOW", "decide", "grants", "records", "request", "start_request", "try_command"]
