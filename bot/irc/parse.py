"""Lines in, pure: bytes from the socket into lines (UTF-8, else latin-1), a line into a typed
`Message`, the plain text of a PRIVMSG around CTCP parts, and ISUPPORT tokens.

The grammar is that of RFC 1459 with IRCv3 message tags::

    [@tags SPACE] [:source SPACE] command [params …] [SPACE :trailing]

Parameters are separated by one or more spaces; only the last may contain spaces (after ':'). The
command is upper-cased (numerics stay as they are). A line without a command raises `ParseError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from bot.irc.names import Mask

#: Names of the numerics the session reacts to, for log messages ("cannot join #c: … (bannedfromchan)").
NUMERIC_NAMES: Mapping[str, str] = {
    "001": "welcome",
    "004": "myinfo",
    "005": "featurelist",
    "352": "whoreply",
    "376": "endofmotd",
    "396": "hosthidden",
    "401": "nosuchnick",
    "403": "nosuchchannel",
    "404": "cannotsendtochan",
    "405": "toomanychannels",
    "421": "unknowncommand",
    "422": "nomotd",
    "432": "erroneusnickname",
    "433": "nicknameinuse",
    "436": "nickcollision",
    "437": "unavailresource",
    "442": "notonchannel",
    "464": "passwdmismatch",
    "471": "channelisfull",
    "473": "inviteonlychan",
    "474": "bannedfromchan",
    "475": "badchannelkey",
    "476": "badchanmask",
    "477": "nochanmodes",
    "731": "monoffline",
    "900": "loggedin",
    "901": "loggedout",
    "902": "nicklocked",
    "903": "saslsuccess",
    "904": "saslfail",
    "905": "sasltoolong",
    "906": "saslaborted",
    "907": "saslalready",
    "908": "saslmechs",
}

_TAG_ESCAPES = {":": ";", "s": " ", "n": "\n", "r": "\r", "\\": "\\"}
_TAG_ESCAPE_RE = re.compile(r"\\(.)")
_LINE_END = re.compile(b"\r?\n")
_CTCP_QUOTE_RE = re.compile("\x10(.)")
_CTCP_QUOTES = {"0": "\0", "n": "\n", "r": "\r", "\x10": "\x10"}


class ParseError(ValueError):
    """A line that is not an IRC message (no command)."""


@dataclass(frozen=True)
class Message:
    """One parsed line. `source` is the prefix without ':' (None when absent); `params` include the
    trailing parameter as the last one."""

    command: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def mask(self) -> Mask:
        return Mask.parse(self.source)

    @property
    def name(self) -> str:
        """The command, or a numeric's name ("433" → "nicknameinuse")."""
        return NUMERIC_NAMES.get(self.command, self.command.lower())

    def param(self, index: int, default: str = "") -> str:
        """`params[index]`, or `default` when there are not that many (negative indexes count from
        the end)."""
        try:
            return self.params[index]
        except IndexError:
            return default


def _unescape_tag(value: str) -> str:
    return _TAG_ESCAPE_RE.sub(lambda m: _TAG_ESCAPES.get(m.group(1), m.group(1)), value)


def parse_tags(text: str) -> dict[str, str | None]:
    """``a=b;c;d=x\\sy`` → {"a": "b", "c": None, "d": "x y"}; an empty value counts as none."""
    tags: dict[str, str | None] = {}
    for item in text.split(";"):
        key, _, value = item.partition("=")
        if key:
            tags[key] = _unescape_tag(value) or None
    return tags


def parse_line(line: str) -> Message:
    """One line (decoded, without CRLF) as a `Message`. Raises ParseError when it has no command."""
    rest = line
    tags: dict[str, str | None] = {}
    if rest.startswith("@"):
        raw, _, rest = rest[1:].partition(" ")
        tags = parse_tags(raw)
        rest = rest.lstrip(" ")
    source = None
    if rest.startswith(":"):
        raw, _, rest = rest[1:].partition(" ")
        source = raw or None
        rest = rest.lstrip(" ")
    head, sep, trailing = rest.partition(" :")
    if not sep and head.startswith(":"):  # "CMD :x" has its separator before the command ends
        head, trailing, sep = "", head[1:], ":"
    words = [w for w in head.split(" ") if w]
    if not words:
        raise ParseError(f"no command in {line[:100]!r}")
    params = words[1:] + ([trailing] if sep else [])
    return Message(command=words[0].upper(), params=tuple(params), source=source, tags=tags)


def ctcp_dequote(text: str) -> str:
    """CTCP low-level dequoting (\\x10 escapes)."""
    return _CTCP_QUOTE_RE.sub(lambda m: _CTCP_QUOTES.get(m.group(1), m.group(1)), text)


def ctcp_texts(text: str) -> list[str]:
    """The plain text of a PRIVMSG/NOTICE around its CTCP parts (``\\x01VERSION\\x01`` …), after CTCP
    low-level dequoting; [] for a message that is all CTCP. An unpaired final \\x01 is kept as text."""
    text = ctcp_dequote(text)
    if "\x01" not in text:
        return [text]
    chunks = text.split("\x01")
    plain = [chunks[i] for i in range(0, len(chunks) - 1, 2) if chunks[i]]
    if len(chunks) % 2 == 0:
        plain.append("\x01" + chunks[-1])
    return plain


def parse_isupport(tokens: Sequence[str], into: dict[str, str]) -> None:
    """Apply ISUPPORT tokens (``CASEMAPPING=ascii``, ``MONITOR``, ``-EXCEPTS``) to `into`: names
    upper-cased, a token without a value maps to ""."""
    for token in tokens:
        if token.startswith("-"):
            into.pop(token[1:].upper(), None)
            continue
        name, _, value = token.partition("=")
        if name:
            into[name.upper()] = value


class LineBuffer:
    """Bytes in, complete lines out (split at LF or CRLF). Each line is decoded as UTF-8, else as
    latin-1: one line in a legacy encoding is read, not fatal."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def __iter__(self) -> Iterator[str]:
        *lines, self._buffer = _LINE_END.split(self._buffer)
        for raw in lines:
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                yield raw.decode("latin-1")

    def __len__(self) -> int:
        """Bytes of the unfinished line held."""
        return len(self._buffer)
