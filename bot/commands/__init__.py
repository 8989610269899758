"""Channel commands as pure functions over state: a line in, reply lines out. No I/O.

The IRC client and `release-bot query` both call `answer`.
"""

from __future__ import annotations

from bot.commands.changes import describe_changes
from bot.commands.dispatch import COMMAND_HELP, HELP, answer
from bot.commands.manners import shape_reply
from bot.commands.releases import current_by_stream, describe
from bot.commands.state import StateView, load_state_view

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
