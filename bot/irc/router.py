"""Who asked what, and may they: from an incoming PRIVMSG to a reply or an admin request. Pure.

- A command in a channel starts with the prefix ("!release stable") or addresses the bot by nick
  ("release-bot: release stable", "release-bot, !release"). In a private message the prefix is optional.
- Per-user (by account, else user@host, so a nick change does not reset it) and per-channel token
  buckets; a message over the limit gets no answer. Admins are not limited.
- Admin commands (`status`, `announce-now`, `pause`, `resume`) only for configured accounts (IRCv3
  account-tag / extended-join / account-notify) or hostmasks (`*` and `?` wildcards, case-insensitive);
  everyone else is refused. They need live state, so the router only says who asked for what.
- Manners: answers in a channel name the asker ("nick: …", `address_asker`) and are one line (a longer
  answer says how to get the rest in private); the same question in the same place within
  `repeat_window` seconds is answered once; unknown commands get a hint only when the bot was addressed
  by nick or in private; nobody on the ignore list (config `ignore` plus the admin command `ignore`)
  and no bot (IRCv3 `bot` tag) is ever answered.
- Everything else goes to `bot.commands.answer` (pure, over the stored state).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.commands import StateView, answer
from bot.commands.manners import shape_reply
from bot.irc.flood import TokenBucket
from bot.irc.names import irc_lower
from bot.irc.protocol import Incoming
from bot.text import sanitize

ADMIN_COMMANDS: tuple[str, ...] = ("status", "announce-now", "pause", "resume", "ignore")
UnknownCommand = Literal["hint", "silent"]


@dataclass(frozen=True)
class RouterConfig:
    prefix: str = "!"
    unknown_command: UnknownCommand = "silent"
    address_asker: bool = True
    repeat_window: float = 5.0
    ignore: tuple[str, ...] = ()
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


def _as_mask(entry: str) -> str:
    """An ignore entry as a hostmask pattern: a bare nick ignores that nick from anywhere."""
    return entry if "!" in entry or "@" in entry else entry + "!*@*"


class CommandRouter:
    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self._users = RateLimiter(burst=config.user_burst, interval=config.user_interval)
        self._channels = RateLimiter(burst=config.channel_burst, interval=config.channel_interval)
        self.ignored: list[str] = [_as_mask(e) for e in config.ignore]
        self._recent: dict[tuple[str, str], float] = {}

    def is_ignored(self, message: Incoming) -> bool:
        return any(mask_matches(p, message.mask) for p in self.ignored)

    def is_admin(self, message: Incoming) -> bool:
        if message.account and any(
            irc_lower(message.account) == irc_lower(a) for a in self.config.admin_accounts
        ):
            return True
        return any(mask_matches(p, message.mask) for p in self.config.admin_hostmasks)

    def _repeat_key(self, place: str, text: str) -> tuple[str, str]:
        return (irc_lower(place), " ".join(text.lower().split()))

    def _repeated(self, key: tuple[str, str], now: float) -> bool:
        """The same question in the same place answered less than `repeat_window` seconds ago."""
        last = self._recent.get(key)
        return last is not None and now - last < self.config.repeat_window

    def _answered(self, key: tuple[str, str], now: float) -> None:
        window = self.config.repeat_window
        if window <= 0:
            return
        if len(self._recent) > 500:
            self._recent = {k: t for k, t in self._recent.items() if now - t < window}
        self._recent[key] = now

    def command_text(self, message: Incoming, *, nick: str) -> str | None:
        """The command line (with the prefix) a message holds, or None when it is not for us."""
        prefix = self.config.prefix
        text = sanitize(message.text).strip()
        addressed = self.addressed(text, nick)
        if addressed:
            text = addressed.group(1)
            if not text.startswith(prefix):
                text = prefix + text
        elif message.private and not text.startswith(prefix):
            text = prefix + text
        if not text.startswith(prefix):
            return None
        return text

    @staticmethod
    def addressed(text: str, nick: str) -> re.Match[str] | None:
        """ "release-bot: help", "release-bot, !help" and "release-bot help" (no punctuation)."""
        pattern = r"^" + re.escape(nick) + r"(?:\s*[:,]\s*|\s+)(\S.*)$"
        return re.match(pattern, text.strip(), flags=re.IGNORECASE)

    def handle(
        self, message: Incoming, *, nick: str, now: float, state: Callable[[], StateView]
    ) -> Reply | AdminRequest | None:
        """What to do about one message. `state` is called only when a command needs it."""
        if message.from_bot:
            return None  # never answer another bot (no loops, no noise)
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
        if not admin and self.is_ignored(message):
            return None
        repeat = self._repeat_key(target, text)
        if not message.private and self._repeated(repeat, now):
            return None  # answered a moment ago, for everyone in the channel
        if not admin and not self._allowed(message, now):
            return None
        if command == "ignore" and admin:
            return Reply(target, (self.admin_ignore(words[1:]),), message.private)
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
        hint = message.private or self.addressed(sanitize(message.text), nick) is not None
        unknown: UnknownCommand = "hint" if hint else self.config.unknown_command
        lines = answer(text, state(), prefix=self.config.prefix, unknown=unknown)
        if not lines:
            return None
        shaped = shape_reply(
            lines,
            private=message.private,
            asker=message.nick if self.config.address_asker else None,
            rest_hint=f"/msg {nick} {rest.strip()}",
            max_private_lines=2 * self.config.max_reply_lines,
        )
        if message.private:
            return Reply(target, tuple(shaped), True)
        self._answered(repeat, now)
        return Reply(target, tuple(shaped), False)

    def admin_ignore(self, args: Sequence[str]) -> str:
        """`ignore add|del <nick or mask>`, `ignore list` (admins)."""
        verb = args[0].lower() if args else "list"
        if verb == "list" or len(args) < 2:
            shown = ", ".join(self.ignored) or "nobody"
            return f"ignoring: {shown}"[:400] + ("" if verb == "list" else " — usage: ignore add|del <mask>")
        mask = _as_mask(args[1])
        if verb == "add":
            if mask not in self.ignored:
                self.ignored.append(mask)
            return f"ignoring {mask} until restart (add it to `ignore` in the config to keep it)"
        if verb in ("del", "remove", "rm"):
            before = len(self.ignored)
            self.ignored = [m for m in self.ignored if irc_lower(m) != irc_lower(mask)]
            return f"no longer ignoring {mask}" if len(self.ignored) < before else f"{mask} was not ignored"
        return "usage: ignore add|del <nick or mask>, ignore list"

    def _allowed(self, message: Incoming, now: float) -> bool:
        user_key = message.account or message.mask.partition("!")[2].lower() or message.nick.lower()
        if not self._users.allow("u:" + user_key, now):
            return False
        return message.private or self._channels.allow("c:" + irc_lower(message.target), now)
