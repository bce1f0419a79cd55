"""Where the bot answers someone who wrote in a shared place (a channel thread, `Inbound.place`).

An ordinary answer goes back to that thread, where the question was asked. A private conversation — a
password reset or unlock, an access request, anything that carries a code or a secret — must not happen
in front of the channel: its messages go to the person's direct messages instead, and the thread is told
only that ("I've sent you a direct message"), never what about. What deferred effects say later
(bot/engine.py) goes to the direct messages too.
"""

from __future__ import annotations

import dataclasses

from bot.messages import Reply
from handlers.access.records import DENY_FLOW
from handlers.access.records import FLOW as ACCESS_FLOW
from handlers.account.records import FLOW as ACCOUNT_FLOW
from handlers.context import Context

PRIVATE_FLOWS = frozenset({ACCOUNT_FLOW, ACCESS_FLOW, DENY_FLOW})
MOVED_TO_DM = "I've sent you a direct message about this: let's carry on there, to keep it between us."


def keep_private_out_of_threads(ctx: Context, *, was_private: bool = False) -> None:
    """After an event written in a shared place: when the conversation is private (`was_private`: it
    already was when the event arrived), send what the speaker is told to their DM, with a note in the
    thread."""
    place = ctx.inbound.place if ctx.inbound is not None else ""
    if not place:
        return
    replies = ctx.outbox.replies
    mine = [i for i, r in enumerate(replies) if r.to == ctx.speaker.email and r.place == place]
    if not (was_private or _private(ctx, [replies[i] for i in mine])):
        return
    for index in mine:
        replies[index] = dataclasses.replace(replies[index], place="")
    ctx.send(ctx.speaker.email, MOVED_TO_DM, place=place)


def _private(ctx: Context, said: list[Reply]) -> bool:
    """A private flow is under way or was left just now, a code or secret is involved, or something is
    to be done outside after the commit (a password set, an account unlocked, access granted)."""
    flows = {ctx.state.flow, *(name for name, _data in ctx.state.ended)}
    secretive = any(r.secret is not None or r.input_hint for r in said)
    return bool(flows & PRIVATE_FLOWS) or secretive or bool(ctx.outbox.effects)
