"""CTCP requests, pure: VERSION, PING, TIME (and CLIENTINFO) answered by NOTICE, rate-limited per
asker and overall so a CTCP flood cannot make us flood; ACTION and anything else unanswered."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.irc.flood import TokenBucket
from bot.irc.lines import FORBIDDEN, format_line
from bot.irc.parse import ctcp_dequote

ANSWERED = ("VERSION", "PING", "TIME", "CLIENTINFO")
#: The longest PING argument echoed back.
MAX_PING_ARG = 64


def ctcp_queries(text: str) -> list[tuple[str, str]]:
    """The CTCP queries of a PRIVMSG (`\\x01VERSION\\x01`): (command upper-cased, argument); ACTION
    (/me) is not a query."""
    chunks = ctcp_dequote(text).split("\x01")
    out = []
    for i in range(1, len(chunks) - 1, 2):
        command, _, arg = chunks[i].partition(" ")
        if command and command.upper() != "ACTION":
            out.append((command.upper(), arg))
    return out


class CtcpResponder:
    """Answers to CTCP queries: at most `per_user` per `interval` seconds per asker and `burst` in all."""

    def __init__(self, version: str, *, per_user: int = 2, burst: int = 4, interval: float = 10.0) -> None:
        self.version = version
        self.per_user = per_user
        self.interval = interval
        self._all = TokenBucket(burst=burst, interval=interval, now=0.0)
        self._users: dict[str, TokenBucket] = {}

    def answer(self, nick: str, command: str, arg: str, *, now: float, wall: float) -> str | None:
        """The NOTICE line answering one query, or None (not answered, or over the limit).
        `now` is the monotonic clock, `wall` the Unix time (for TIME)."""
        if command not in ANSWERED or not nick or any(ch in nick for ch in (*FORBIDDEN, " ")):
            return None
        if len(self._users) > 500:
            self._users.clear()
        bucket = self._users.setdefault(
            nick.lower(), TokenBucket(burst=self.per_user, interval=self.interval, now=now)
        )
        if not bucket.take(now) or not self._all.take(now):
            return None
        if command == "VERSION":
            body = f"VERSION {self.version}"
        elif command == "PING":
            clean = "".join(ch for ch in arg if ch not in FORBIDDEN and ch != "\x01")
            body = f"PING {clean[:MAX_PING_ARG]}".rstrip()
        elif command == "TIME":
            stamp = datetime.fromtimestamp(wall, tz=UTC)
            body = "TIME " + stamp.strftime("%a %b %d %H:%M:%S %Y UTC")
        else:
            body = "CLIENTINFO " + " ".join(ANSWERED)
        return format_line("NOTICE", nick, f"\x01{body}\x01", trailing=True)
