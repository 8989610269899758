"""Nicks, masks and channel names, pure: case-folding by the server's CASEMAPPING, a ``nick!user@host``
mask split into its parts, and what counts as a channel name."""

from __future__ import annotations

from typing import NamedTuple

CHANNEL_PREFIXES = "#&+!"


def irc_lower(text: str, casemapping: str = "rfc1459") -> str:
    """Case-fold a nick or channel name the way the server does."""
    if casemapping == "ascii":
        return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    if casemapping in ("rfc7613", "utf8", "precis"):
        return text.casefold()
    table = {"[": "{", "]": "}", "\\": "|"}
    if casemapping != "rfc1459-strict":
        table["~"] = "^"
    out = []
    for ch in text:
        if "A" <= ch <= "Z":
            out.append(chr(ord(ch) + 32))
        else:
            out.append(table.get(ch, ch))
    return "".join(out)


class Mask(NamedTuple):
    """``nick!user@host`` in parts; `user` and `host` None when absent (a server name: nick only)."""

    nick: str
    user: str | None
    host: str | None

    @classmethod
    def parse(cls, mask: str | None) -> Mask:
        nick, _, userhost = (mask or "").partition("!")
        user, _, host = userhost.partition("@")
        return cls(nick, user or None, host or None)


def is_channel(name: str) -> bool:
    return bool(name) and name[0] in CHANNEL_PREFIXES


class Casemap:
    """The server's CASEMAPPING (from ISUPPORT; rfc1459 until told), shared by the parts of a session
    that compare names."""

    def __init__(self, mapping: str = "rfc1459") -> None:
        self.mapping = mapping

    def lower(self, name: str) -> str:
        return irc_lower(name, self.mapping)

    def same(self, a: str | None, b: str | None) -> bool:
        """Both non-empty and equal under the casemapping."""
        return bool(a) and bool(b) and self.lower(a or "") == self.lower(b or "")
