"""Which function answers which button, and which function takes the next message of which flow.

Handler modules declare their routes with the decorators below; a declaration only marks the module
(`__frontdesk_routes__`), it registers nothing. `bot/bootstrap.py` builds one `Registry` object from the
handler modules it wires (`Registry.collect`), and the engine and router look handlers up in that object,
so what a bot answers is what bootstrap gave it — tests add their own handlers the same way.
"""

from __future__ import annotations

import pkgutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Any

from handlers.context import Context

ActionHandler = Callable[[Context, str], None]
TextHandler = Callable[[Context, str], None]
EndHandler = Callable[[Context, dict[str, Any]], None]
CancelHandler = Callable[[Context], None]
ROUTES = "__frontdesk_routes__"
KINDS = ("action", "flow", "end", "cancel", "about")


@dataclass(frozen=True)
class FlowAbout:
    """What the router needs to know of a flow to let a plain request typed in it through (router
    `_set_aside`): what to call it to the person, and which steps wait for a choice among buttons (any
    other step waits for free text: a reason, a description, a code)."""

    called: str
    choices: frozenset[str]


def _declare(kind: str, name: str) -> Callable[[Any], Any]:
    def mark(handler: Any) -> Any:
        module = sys.modules[handler.__module__]
        module.__dict__.setdefault(ROUTES, []).append((kind, name, handler))
        return handler

    return mark


def action(name: str) -> Callable[[ActionHandler], ActionHandler]:
    """The handler of button `name` (its argument is what follows the first `:` of the id)."""
    return _declare("action", name)


def flow(name: str, *, called: str = "", choices: Iterable[str] = ()) -> Callable[[TextHandler], TextHandler]:
    """The handler of a person's next message while they are in flow `name`.

    A flow that says what it is `called` ("your access request") lets a clear other request typed in it
    be handled as that request (router `_set_aside`): at a step in `choices` a known command or a clear
    intent, at any other step only a known command. Without `called`, the handler gets every message.
    """

    def mark(handler: TextHandler) -> TextHandler:
        if called:
            module = sys.modules[handler.__module__]
            about = FlowAbout(called, frozenset(choices))
            module.__dict__.setdefault(ROUTES, []).append(("about", name, about))
        return _declare("flow", name)(handler)

    return mark


def on_end(name: str) -> Callable[[EndHandler], EndHandler]:
    """What to tidy when a person leaves flow `name` in any way: finished, "cancel", another flow started,
    or timed out. The handler gets the flow's last data; the engine calls it in the same transaction, so
    e.g. a request the person walked away from cannot be approved afterwards."""
    return _declare("end", name)


def on_cancel_text(name: str) -> Callable[[CancelHandler], CancelHandler]:
    """What "cancel" typed in flow `name` does, when the flow must say what really happened (a request an
    approval got to first goes ahead); flows without one just end."""
    return _declare("cancel", name)


class Registry:
    def __init__(self) -> None:
        self._routes: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}

    @classmethod
    def collect(cls, modules: Iterable[ModuleType]) -> Registry:
        """Every route declared in `modules` and, for packages, in each of their modules."""
        registry = cls()
        for module in modules:
            for declared in _with_submodules(module):
                for kind, name, handler in getattr(declared, ROUTES, []):
                    registry.add(kind, name, handler)
        return registry

    def add(self, kind: str, name: str, handler: Any) -> None:
        self._routes[kind][name] = handler

    def action_handler(self, name: str) -> ActionHandler | None:
        return self._routes["action"].get(name)

    def flow_handler(self, name: str) -> TextHandler | None:
        return self._routes["flow"].get(name)

    def end_handler(self, name: str) -> EndHandler | None:
        return self._routes["end"].get(name)

    def cancel_handler(self, name: str) -> CancelHandler | None:
        return self._routes["cancel"].get(name)

    def about(self, name: str) -> FlowAbout | None:
        return self._routes["about"].get(name)

    def action_names(self) -> list[str]:
        """Every button action (for tests that press them all)."""
        return list(self._routes["action"])


def _with_submodules(module: ModuleType) -> list[ModuleType]:
    if not hasattr(module, "__path__"):
        return [module]
    found = [module]
    for info in pkgutil.iter_modules(module.__path__, module.__name__ + "."):
        found += _with_submodules(import_module(info.name))
    return found


STALE = "That button belongs to a conversation that has already ended, so I ignored it. What do you need now?"


def in_flow(ctx: Context, name: str, *steps: str) -> bool:
    """True when the speaker is in `name` (at one of `steps`, if given); otherwise say the button is stale."""
    if ctx.state.flow == name and (not steps or ctx.state.step in steps):
        return True
    ctx.reply(STALE)
    return False
