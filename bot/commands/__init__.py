"""Channel commands as pure functions over state: a line in, reply lines out. No I/O.

The IRC client and `release-bot query` both call `answer`. A command's module is imported when it
is first answered; `describe`, `describe_changes` and `current_by_stream` load theirs when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.commands.dispatch import COMMAND_HELP, HELP, answer
from bot.commands.manners import shape_reply
from bot.commands.state import StateView, load_state_view

if TYPE_CHECKING:
    from bot.commands.changes import describe_changes
    from bot.commands.releases import current_by_stream, describe

_LAZY = {
    "describe_changes": "bot.commands.changes",
    "current_by_stream": "bot.commands.releases",
    "describe": "bot.commands.releases",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "COMMAND_HELP",
    "HELP",
    "StateView",
    "answer",
    "current_by_stream",
    "describe",
    "describe_changes",
    "load_state_view",
    "shape_reply",
]
