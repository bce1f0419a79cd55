"""Which function answers which button, and which function takes the next message of which flow.

Handler modules register themselves with the decorators; `handlers.router` imports them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers.context import Context

ActionHandler = Callable[[Context, str], None]
TextHandler = Callable[[Context, str], None]
EndHandler = Callable[[Context, dict[str, Any]], None]
CancelHandler = Callable[[Context], None]

_actions: dict[str, ActionHandler] = {}
_flows: dict[str, TextHandler] = {}
_ends: dict[str, EndHandler] = {}
_cancels: dict[str, CancelHandler] = {}


def action(name: str) -> Callable[[ActionHandler], ActionHandler]:
    """Register the handler of button `name` (its argument is what follows the first `:` of the id)."""

    def register(handler: ActionHandler) -> ActionHandler:
        _actions[name] = handler
        return handler

    return register


def flow(name: str) -> Callable[[TextHandler], TextHandler]:
    """Register the handler of a person's next message while they are in flow `name`."""

    def register(handler: TextHandler) -> TextHandler:
        _flows[name] = handler
        return handler

    return register


def on_end(name: str) -> Callable[[EndHandler], EndHandler]:
    """Register what to tidy when a person leaves flow `name` in any way: finished, "cancel", another flow
    started, or timed out. The handler gets the flow's last data; the engine calls it in the same
    transaction, so e.g. a request the person walked away from cannot be approved afterwards."""

    def register(handler: EndHandler) -> EndHandler:
        _ends[name] = handler
        return handler

    return register


def on_cancel_text(name: str) -> Callable[[CancelHandler], CancelHandler]:
    """Register what "cancel" typed in flow `name` does, when the flow must say what really happened
    (a request an approval got to first goes ahead); flows without one just end."""

    def register(handler: CancelHandler) -> CancelHandler:
        _cancels[name] = handler
        return handler

    return register


def cancel_handler(name: str) -> CancelHandler | None:
    return _cancels.get(name)


def end_handler(name: str) -> EndHandler | None:
    return _ends.get(name)


def action_handler(name: str) -> ActionHandler | None:
    return _actions.get(name)


def action_names() -> list[str]:
    """Every registered button action (for tests that press them all)."""
    return list(_actions)


def flow_handler(name: str) -> TextHandler | None:
    return _flows.get(name)


STALE = "That button belongs to a conversation that has already ended, so I ignored it. What do you need now?"


def in_flow(ctx: Context, name: str, *steps: str) -> bool:
    """True when the speaker is in `name` (at one of `steps`, if given); otherwise say the button is stale."""
    if ctx.state.flow == name and (not steps or ctx.state.step in steps):
        return True
    ctx.reply(STALE)
    return False
