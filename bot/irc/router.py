"""Who asked what, and may they: from an incoming PRIVMSG to a reply or an admin request. Pure.

- A command in a channel starts with the prefix ("!release stable") or addresses the bot by nick
  ("release-bot: release stable", "release-bot, !release"). In a private message the prefix is optional.
- Per-user (by account, else user@host, so a nick change does not reset it) and per-channel token
  buckets; a message over the limit gets no answer. Admins are not limited.
- Admin commands (`status`, `announce-now`, `pause`, `resume`) only for configured accounts (IRCv3
  account-tag / extended-join / account-notify) or hostmasks (`*` and `?` wildcards, case-insensitive);
  everyone else is refused. They need live state, so the router only says who asked for what.
- Everything else goes to `bot.commands.answer` (pure, over the stored state).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.commands import StateView, answer
from bot.irc.flood import TokenBucket
from bot.irc.names import irc_lower
from bot.irc.protocol import Incoming
from bot.text import sanitize

ADMIN_COMMANDS: tuple[str, ...] = ("status", "announce-now", "pause", "resume")
UnknownCommand = Literal["hint", "silent"]


@dataclass(frozen=True)
class RouterConfig:
    prefix: str = "!"
    unknown_command: UnknownCommand = "hint"
    user_burst: int = 3
    user_interval: float = 10.0
    channel_burst: int = 5
    channel_interval: float = 4.0
    admin_accounts: tuple[str, ...] = ()
    admin_hostmasks: tuple[str, ...] = ()
    max_reply_lines: int = 5


@dataclass(frozen=True)
class Reply:
    """Lines to send to `target` (a channel, or the asker's nick for a private message)."""

    target: str
    lines: tuple[str, ...]
    private: bool


@dataclass(frozen=True)
class AdminRequest:
    command: str
    args: tuple[str, ...]
    target: str
    private: bool
    who: str  # account or mask, for the log


def mask_matches(pattern: str, mask: str) -> bool:
    """IRC hostmask glob: `*` any run, `?` one character; nothing else is special (nicks contain [ ])."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, mask, flags=re.IGNORECASE | re.DOTALL) is not None


class RateLimiter:
    """A token bucket per key, created on first use; idle full buckets are forgotten."""

    def __init__(self, *, burst: int, interval: float, max_keys: int = 2000) -> None:
        self.burst = burst
        self.interval = interval
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, key: str, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget_idle(now)
            bucket = self._buckets[key] = TokenBucket(burst=self.burst, interval=self.interval, now=now)
        return bucket.take(now)

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, b in self._buckets.items() if b.tokens(now) >= b.burst]
        for key in idle or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]


class CommandRouter:
    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self._users = RateLimiter(burst=config.user_burst, interval=config.user_interval)
        self._channels = RateLimiter(burst=config.channel_burst, interval=config.channel_interval)

    def is_admin(self, message: Incoming) -> bool:
        if message.account and any(
            irc_lower(message.account) == irc_lower(a) for a in self.config.admin_accounts
        ):
            return True
        return any(mask_matches(p, message.mask) for p in self.config.admin_hostmasks)

    def command_text(self, message: Incoming, *, nick: str) -> str | None:
        """The command line (with the prefix) a message holds, or None when it is not for us."""
        prefix = self.config.prefix
        text = sanitize(message.text)
        addressed = re.match(r"^" + re.escape(nick) + r"\s*[:,]\s*(.*)$", text, flags=re.IGNORECASE)
        if addressed:
            text = addressed.group(1)
            if not text.startswith(prefix):
                text = prefix + text
        elif message.private and not text.startswith(prefix):
            text = prefix + text
        if not text.startswith(prefix):
            return None
        return text

    def handle(
        self, message: Incoming, *, nick: str, now: float, state: Callable[[], StateView]
    ) -> Reply | AdminRequest | None:
        """What to do about one message. `state` is called only when a command needs it."""
        text = self.command_text(message, nick=nick)
        if text is None:
            return None
        rest = text[len(self.config.prefix) :]
        words = rest.split()
        if not rest[:1].isalpha():
            return None  # "!!!", "! release": chatter, not a command
        target = message.nick if message.private else message.target
        command = words[0].lower()
        admin = self.is_admin(message)
        if not admin and not self._allowed(message, now):
            return None
        if command in ADMIN_COMMANDS:
            if not admin:
                return Reply(
                    target,
                    (f"sorry, {self.config.prefix}{command} is for the bot's admins only",),
                    message.private,
                )
            return AdminRequest(
                command, tuple(words[1:]), target, message.private, message.account or message.mask
            )
        lines = answer(text, state(), prefix=self.config.prefix, unknown=self.config.unknown_command)
        if not lines:
            return None
        return Reply(target, tuple(self._cap(lines, private=message.private)), message.private)

    def _allowed(self, message: Incoming, now: float) -> bool:
        user_key = message.account or message.mask.partition("!")[2].lower() or message.nick.lower()
        if not self._users.allow("u:" + user_key, now):
            return False
        return message.private or self._channels.allow("c:" + irc_lower(message.target), now)

    def _cap(self, lines: Sequence[str], *, private: bool) -> list[str]:
        limit = self.config.max_reply_lines * (2 if private else 1)
        if len(lines) <= limit:
            return list(lines)
        more = len(lines) - (limit - 1)
        return [*lines[: limit - 1], f"… and {more} more lines (ask me in a private message)"]
