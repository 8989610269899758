"""Lines out, pure: one protocol line from a command and its parameters, the byte budget of a
PRIVMSG/NOTICE as the receivers see it, the split of a text into such messages, and the log form of a
line (secrets masked).

A server relays our line as ``:nick!user@host PRIVMSG #chan :text\\r\\n`` and cuts it at 512 bytes, so
the budget for `text` is 512 minus that frame. Until the real user@host is known (our own JOIN echo,
396, CHGHOST, WHO, 900) the maxima are assumed: USERLEN 10 (ident prefix "~" included) and a 63-byte
host. IRCv3 message tags have a budget of their own and do not count here.
"""

from __future__ import annotations

from bot.text import sanitize, split_utf8, truncate_utf8

LINE_LIMIT = 512
ASSUMED_USERLEN = 10
ASSUMED_HOSTLEN = 63
#: Never plan on fewer text bytes than this, whatever the arithmetic says (a very long channel name).
MIN_TEXT_BYTES = 64
#: Characters that may appear in no parameter: each would end the line or the string early.
FORBIDDEN = ("\r", "\n", "\0")


def format_line(command: str, *params: str, trailing: bool = False) -> str:
    """One protocol line (without CRLF). Only the last parameter may be empty, contain spaces or start
    with ':' (`trailing`: always send it as a trailing parameter). CR, LF and NUL are refused anywhere
    (ValueError): nothing can smuggle in a second command."""
    parts = [command]
    for index, param in enumerate(params):
        if any(ch in param for ch in FORBIDDEN):
            raise ValueError(f"CR, LF or NUL in an IRC parameter: {param!r}")
        last = index == len(params) - 1
        if not param or " " in param or param.startswith(":") or (last and trailing):
            if not last:
                raise ValueError(f"only the last IRC parameter may be empty or contain spaces: {param!r}")
            param = ":" + param
        parts.append(param)
    line = " ".join(parts)
    if any(ch in command for ch in (*FORBIDDEN, " ")) or not command:
        raise ValueError(f"bad IRC command {command!r}")
    if len(line.encode("utf-8")) + 2 > LINE_LIMIT:
        raise ValueError(f"IRC line longer than 512 bytes: {line[:60]!r}…")
    return line


def quit_line(message: str) -> str:
    """QUIT with `message` sanitised and cut to 300 bytes ("bye" when nothing is left)."""
    return format_line("QUIT", truncate_utf8(sanitize(message), 300) or "bye")


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


def redact(line: str) -> str:
    """A line for the debug log, without secrets (PASS, AUTHENTICATE payloads, NickServ IDENTIFY)."""
    upper = line.upper()
    if upper.startswith(("PASS ", "AUTHENTICATE ")) and upper not in (
        "AUTHENTICATE PLAIN",
        "AUTHENTICATE EXTERNAL",
    ):
        return line.split(" ", 1)[0] + " ***"
    if " :IDENTIFY " in upper:
        return line[: upper.index(" :IDENTIFY ")] + " :IDENTIFY ***"
    return line
