"""Answers in the chat rooms of Matrix and Discord, through the same path as IRC's: the command line
read as IRC's router reads it, `bot.commands.answer` for the text, IRC's rule for unknown commands and
`bot.commands.manners.shape_reply` for the length. Pure.

What is the same everywhere: the answer's text (one `answer` for every platform), the help text (with
the platform's prefix: `!help` in rooms, `/help` on Discord), unknown commands answered with a hint
only when the bot was addressed ("release-bot: !foo", a mention, a slash command) and silent otherwise
(a shared room has other bots), the same question in the same room within a few seconds answered once,
a per-user rate limit.

What differs, and why: an IRC channel answer is one line naming the asker, because every line is a
message of its own there; a Matrix or Discord answer is one message of several lines (in reply to the
command on Matrix, to the interaction on Discord), cut like an IRC private answer after `max_lines`
lines ("… and N more lines") and to the platform's size (Discord: 2,000 characters).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.commands import StateView, answer
from bot.commands.manners import shape_reply
from bot.irc.router import RateLimiter
from bot.text import sanitize

#: Lines of an answer in a Matrix room or a Discord reply (IRC's private answers: 2 × 5)
MAX_LINES = 10
#: the same question in the same room within this many seconds is answered once (IRC's default)
REPEAT_WINDOW = 5.0


def addressed(text: str, names: Sequence[str]) -> str | None:
    """The rest of a message that addresses the bot by one of its names ("release-bot: help",
    "@release-bot:example.org, !help", "release-bot help"), else None."""
    for name in names:
        if not name:
            continue
        match = re.match(r"^" + re.escape(name) + r"(?:\s*[:,]\s*|\s+)(\S.*)$", text, flags=re.IGNORECASE)
        if match:
            return match.group(1)
    return None


@dataclass(frozen=True)
class Asked:
    """A command line (with the prefix) and whether the bot was addressed."""

    line: str
    addressed: bool


def command_of(text: str, *, prefix: str, names: Sequence[str], mentioned: bool = False) -> Asked | None:
    """The command a message holds, as IRC's router reads one: the prefix ("!release stable"), or the
    bot's name first ("release-bot: release stable", "release-bot, !release"). None: not for the bot."""
    text = sanitize(text).strip()
    rest = addressed(text, names)
    if rest is not None:
        return Asked(rest if rest.startswith(prefix) else prefix + rest, True)
    if text.startswith(prefix):
        return Asked(text, mentioned)
    return None


def chat_answer(
    asked: Asked, state: StateView, *, prefix: str, max_lines: int = MAX_LINES, max_chars: int = 4000
) -> str | None:
    """The answer as one message of at most `max_lines` lines and `max_chars` characters, or None
    (not a command; an unknown command when the bot was not addressed)."""
    lines = answer(asked.line, state, prefix=prefix, unknown="hint" if asked.addressed else "silent")
    if not lines:
        return None
    text = "\n".join(shape_reply(lines, private=True, max_private_lines=max_lines))
    if len(text) <= max_chars:
        return text
    head = text[: max_chars - 1]
    cut_at = max(head.rfind("\n"), head.rfind(" "))
    return (head[:cut_at] if cut_at > max_chars // 2 else head).rstrip() + "…"


@dataclass
class RoomManners:
    """IRC's manners for rooms: the same question in the same room within `repeat_window` seconds is
    answered once, and each user gets `burst` answers, then one per `interval` seconds."""

    repeat_window: float = REPEAT_WINDOW
    burst: int = 3
    interval: float = 10.0
    _recent: dict[tuple[str, str], float] = field(default_factory=dict)
    _users: RateLimiter | None = None

    def allow(self, *, room: str, user: str, line: str, now: float) -> bool:
        """May this question be answered now (not answered in this room a moment ago, the user within
        the rate)? Record the answer with `answered`."""
        last = self._recent.get(self._key(room, line))
        if last is not None and now - last < self.repeat_window:
            return False
        if self._users is None:
            self._users = RateLimiter(burst=self.burst, interval=self.interval)
        return self._users.allow(user, now)

    def answered(self, *, room: str, line: str, now: float) -> None:
        if len(self._recent) > 500:
            self._recent = {k: t for k, t in self._recent.items() if now - t < self.repeat_window}
        self._recent[self._key(room, line)] = now

    @staticmethod
    def _key(room: str, line: str) -> tuple[str, str]:
        return (room, " ".join(line.lower().split()))


__all__ = ["MAX_LINES", "Asked", "RoomManners", "addressed", "chat_answer", "command_of"]
