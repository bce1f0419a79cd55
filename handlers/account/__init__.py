"""Password reset and account unlock, self-service, with the person verified first.

    limits → identify the requester's OWN account → refuse guests, disabled and protected accounts
    (before any write) → verify (a code to the recovery address, the manager's approval, or — opted in —
    the chat identity) → commit "verified" → claim it → act on the directory → deliver the temporary
    password once, as a secret → email the owner that it happened → audit every step.

Commit, then act: the directory is never written inside the transaction of the event that verified the
request. The handler commits the request as `verified` and defers the work (`ctx.after_commit`); the
engine then claims it in a transaction of its own (`verified` → `executing`, one conditional UPDATE, so
of two runners exactly one acts) and acts in the next. A failed commit therefore cannot hide a reset
that happened, nor a retry reset twice. A request still `executing` long after (a crash mid-way) is
never run again: the person is told the truth and a technician gets a ticket.

Refusals all use the same words, whatever the reason, so the bot tells nobody which accounts exist or are
privileged; the reason goes to the audit log and to the technician's ticket. State lives in
`reset_requests` and the conversation, so a restart between the code and its entry resumes the flow.
Audit rows never hold what the person typed (it may contain a password): only what was asked for.

The package, in the order a request goes through it:

- `start`: the entry points, whose account it is, whether automation may touch it, which verification.
- `limits`: per-person daily limits, voiding older open requests, reporting interrupted executions.
- `code`: verification by an emailed code, stored only as a keyed hash.
- `approval`: verification by the manager's approval; deny, cancel, and leaving the flow.
- `act`: claiming and executing a verified request, delivering the password, notifying the owner.
- `handover`: the ticket for a technician when automation cannot finish.
- `records`: finding a request and its owner, status transitions, audit rows, the words for a request.
"""

from __future__ import annotations

# Every submodule is imported, so the buttons and the flow they register with handlers.registry exist as
# soon as handlers.router imports this package.
from handlers.account import act, approval, code, handover, limits, records, start
from handlers.account.act import _Claim as _Claim  # the tests run the deferred claim directly
from handlers.account.code import CODE_KEY_NAME
from handlers.account.records import FLOW
from handlers.account.start import start_reset, start_unlock

__all__ = [
    "CODE_KEY_NAME",
    "FLOW",
    "act",
    "approval",
    "code",
    "handover",
    "limits",
    "records",
    "start",
    "start_reset",
    "start_unlock",
]
