"""How many bytes of text fit in one PRIVMSG/NOTICE as the *receivers* see it, and the split. Pure.

A server relays our line as ``:nick!user@host PRIVMSG #chan :text\\r\\n`` and cuts it at 512 bytes, so
the budget for `text` is 512 minus that frame. Until the real user@host is known (our own JOIN echo,
396, CHGHOST, WHO, 900) the maxima are assumed: USERLEN 10 (ident prefix "~" included) and a 63-byte
host. IRCv3 message tags have a budget of their own and do not count here.
"""

from __future__ import annotations

from bot.text import sanitize, split_utf8

LINE_LIMIT = 512
ASSUMED_USERLEN = 10
ASSUMED_HOSTLEN = 63
#: Never plan on fewer text bytes than this, whatever the arithmetic says (a very long channel name).
MIN_TEXT_BYTES = 64


def text_budget(*, nick: str, user: str | None, host: str | None, command: str, target: str) -> int:
    """Bytes of UTF-8 text that fit in one `command` ("PRIVMSG"/"NOTICE") to `target`."""
    user_len = len(user.encode("utf-8")) if user else ASSUMED_USERLEN
    host_len = len(host.encode("utf-8")) if host else ASSUMED_HOSTLEN
    frame = (
        len(b":")
        + len(nick.encode("utf-8"))
        + len(b"!")
        + user_len
        + len(b"@")
        + host_len
        + len(f" {command} ".encode())
        + len(target.encode("utf-8"))
        + len(b" :")
        + len(b"\r\n")
    )
    return max(LINE_LIMIT - frame, MIN_TEXT_BYTES)


def split_message(text: str, budget: int) -> list[str]:
    """Sanitise `text` (no CR, LF, NUL, CTCP or other control characters) and split it into pieces of at
    most `budget` bytes of UTF-8, at word boundaries where possible."""
    return split_utf8(sanitize(text), budget)
