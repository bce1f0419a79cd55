"""Which function answers which button, and which function takes the next message of which flow.

Handler modules register themselves with the decorators; `handlers.router` imports them all.
"""

from __future__ import annotations

from collections.abc import Callable

from handlers.context import Context

ActionHandler = Callable[[Context, str], None]
TextHandler = Callable[[Context, str], None]

_actions: dict[str, ActionHandler] = {}
_flows: dict[str, TextHandler] = {}


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


def action_handler(name: str) -> ActionHandler | None:
    return _actions.get(name)


def flow_handler(name: str) -> TextHandler | None:
    return _flows.get(name)


STALE = "That button belongs to a conversation that has already ended, so I ignored it. What do you need now?"


def in_flow(ctx: Context, name: str, *steps: str) -> bool:
    """True when the speaker is in `name` (at one of `steps`, if given); otherwise say the button is stale."""
    if ctx.state.flow == name and (not steps or ctx.state.step in steps):
        return True
    ctx.reply(STALE)
    return False
