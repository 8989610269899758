"""HTTP/1.1 client protocol, sans I/O: request heads serialised, response heads parsed and bodies
framed the way h11 did it (RFC 9112), at a fraction of its cost. Bytes in, heads and body pieces
out; `bot.sources.wire` does the reading and writing.

`request()` validates and serialises a request head once per (method, target, headers): a source
asks with the same head on every poll while it is unchanged. A `ResponseParser` reads one exchange's
answer: `feed()` what arrived (b"" at EOF), `head()` until it returns the final head (1xx answers
are skipped), then `read()` until it returns None. The connection may carry another exchange only
when `reusable` is true: HTTP/1.1, no `Connection: close` on either side, a framed body read to its
end, and nothing received beyond it.

Malformed input raises `ProtocolError`, one line naming what is wrong (bounded: a hostile server
controls it); `local` is true when it is a request we were asked to send. Request header values are
never quoted in an error (they may be credentials).
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

__all__ = [
    "MAX_HEADER_BYTES",
    "Head",
    "ProtocolError",
    "Request",
    "ResponseParser",
    "request",
    "request_bytes",
]

#: A response head, chunk-size line or chunked trailer larger than this is an error (as h11/httpcore).
MAX_HEADER_BYTES = 100 * 1024


class ProtocolError(Exception):
    """A message that breaks HTTP/1.1; `local` when it is ours (a request we were asked to send)."""

    def __init__(self, message: str, *, local: bool = False) -> None:
        super().__init__(message)
        self.local = local


# RFC 9110/9112 grammar, with h11's relaxations: a field value may hold any byte but NUL and
# whitespace other than internal SP/HTAB (obs-text and other controls pass), the reason phrase is
# optional. re.ASCII keeps \s to [ \t\n\r\f\v] on text decoded as latin-1.
_TOKEN = r"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_VCHAR = r"[^\x00\s]"
_CONTENT = rf"{_VCHAR}+(?:[ \t]+{_VCHAR}+)*"
_FIELD = rf"({_TOKEN}):[ \t]*((?:{_CONTENT})?)[ \t]*"
_FIELDS_RE = re.compile(rf"^{_FIELD}\r?$", re.MULTILINE | re.ASCII)  # every line of a head at once
_FIELD_RE = re.compile(_FIELD, re.ASCII)
_FOLD_RE = re.compile(r"[ \t]+")
_STATUS_RE = re.compile(r"HTTP/([0-9]\.[0-9]) ([0-9]{3})(?: ([^\x00\n\r\x0b\x0c]*))?\r?")  # SP/HTAB/VCHAR
_TOKEN_RE = re.compile(_TOKEN, re.ASCII)
_TARGET_RE = re.compile(r"[\x21-\x7e]+")
_VALUE_RE = re.compile(rf"(?:{_CONTENT})?", re.ASCII)
_BLANK_RE = re.compile(rb"\n\r?\n")
_CHUNK_RE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*")  # size, extensions (ignored), OWS
_MAX_DIGITS = 20  # a Content-Length of more digits is refused (h11: "1 billion TB - 1")


class Request(NamedTuple):
    head: bytes  # request line, headers (Host first), blank line
    method: str
    content_length: int  # the body must be exactly this long
    keep_alive: bool  # false when we said Connection: close


class Head(NamedTuple):
    version: str  # "1.1"
    status: int
    reason: str
    headers: dict[str, str]  # names lower-case; repeated fields joined with ", "


def _local(message: str) -> ProtocolError:
    return ProtocolError(message, local=True)


def _has_close(value: str) -> bool:
    value = value.lower()
    return "close" in value and "close" in (part.strip() for part in value.split(","))


def _content_length(value: str, local: bool = False) -> int:
    if not (value.isascii() and value.isdigit()):  # a repeated field (joined) or a bad one
        values = {part.strip() for part in value.split(",")}
        if len(values) != 1:
            raise ProtocolError("conflicting Content-Length headers", local=local)
        value = values.pop()
        if not (value.isascii() and value.isdigit()):
            raise ProtocolError(f"bad Content-Length {value[:40]!r}", local=local)
    if len(value) > _MAX_DIGITS:
        raise ProtocolError(f"bad Content-Length: more than {_MAX_DIGITS} digits", local=local)
    return int(value)


@functools.lru_cache(maxsize=2048)
def request(method: str, target: str, headers: tuple[tuple[str, str], ...]) -> Request:
    """The serialised request head, validated (a bad one raises a local `ProtocolError`)."""
    if not _TOKEN_RE.fullmatch(method):
        raise _local(f"illegal request method {method[:40]!r}")
    if not _TARGET_RE.fullmatch(target):
        raise _local(f"illegal request target {target[:100]!r} (a space, control or non-ASCII character)")
    hosts: list[str] = []
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    length: int | None = None
    keep_alive = True
    for name, value in headers:
        if not _TOKEN_RE.fullmatch(name):
            raise _local(f"illegal header name {name[:40]!r}")
        if not value.isascii():
            raise _local(f"header {name}: the value is not ASCII")
        if not _VALUE_RE.fullmatch(value):
            raise _local(f"header {name}: the value has a CR, LF or NUL, or whitespace at its ends")
        key = name.lower()
        if key == "content-length":
            value = str(_content_length(value, local=True))
            if length is not None and int(value) != length:
                raise _local("conflicting Content-Length headers")
            length = int(value)
        elif key == "transfer-encoding":
            raise _local("a request with Transfer-Encoding is not supported (bodies go with Content-Length)")
        elif key == "connection" and _has_close(value):
            keep_alive = False
        (hosts if key == "host" else lines).append(f"{name}: {value}\r\n")
    if len(hosts) != 1:
        raise _local("missing mandatory Host header" if not hosts else "multiple Host headers")
    lines.insert(1, hosts[0])  # "a user agent SHOULD generate Host as the first header field"
    lines.append("\r\n")
    return Request("".join(lines).encode("ascii"), method, length or 0, keep_alive)


def request_bytes(req: Request, content: bytes | None) -> bytes:
    """The whole request: head and body, the body's length checked against its Content-Length."""
    size = len(content) if content else 0
    if size != req.content_length:
        raise _local(f"a request body of {size} bytes with Content-Length {req.content_length}")
    return req.head + content if content else req.head


def _text(value: str) -> str:
    """A value decoded as latin-1 read again as UTF-8 when it is that (what httpx did)."""
    if value.isascii():
        return value
    raw = value.encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return value


_NAMES: dict[str, str] = {}  # header names found valid → lower case (the few a server sends)


def _plain_fields(block: str) -> dict[str, str] | None:
    """The common case, cheaply: ASCII header lines, each ending CR LF; None when anything else
    (bare CR or LF, NUL, VT, FF, a name never seen, a folded or bad line) needs `_fields`."""
    lines = block.split("\r\n")
    count = len(lines) - 1
    if lines.pop() or block.count("\n") != count or block.count("\r") != count:
        return None
    if "\x00" in block or "\x0b" in block or "\x0c" in block:
        return None  # no field-vchar: whitespace other than SP/HTAB, or NUL
    headers: dict[str, str] = {}
    names = _NAMES
    for line in lines:
        name, colon, value = line.partition(":")
        key = names.get(name)
        if key is None:
            if not _TOKEN_RE.fullmatch(name):
                return None
            key = name.lower()
            if len(names) < 1024:
                names[name] = key
        if not colon:
            return None
        if key in headers:
            headers[key] += ", " + value.strip(" \t")
        else:
            headers[key] = value.strip(" \t")
    return headers


def _fields(block: str) -> list[tuple[str, str]]:
    """Header lines (each ending in LF, maybe CR LF) as (name, value) pairs, strictly checked."""
    pairs: list[tuple[str, str]] = _FIELDS_RE.findall(block)
    if len(pairs) == block.count("\n"):
        return pairs  # every line matched: one regex call for all
    lines: list[str] = []
    for line in block.split("\n")[:-1]:  # obsolete line folding, then each line on its own
        line = line[:-1] if line.endswith("\r") else line
        fold = _FOLD_RE.match(line)
        if fold is None:
            lines.append(line)
        elif not lines:
            raise ProtocolError("continuation line at start of headers")
        else:
            lines[-1] += " " + line[fold.end() :]
    pairs = []
    for line in lines:
        match = _FIELD_RE.fullmatch(line)
        if match is None:
            raise ProtocolError(f"illegal header line: {line[:100]!r}")
        pairs.append((match[1], match[2]))
    return pairs


def _parse_head(raw: bytes | bytearray, last: int) -> Head:
    """The head in raw[:last + 1] (the LF ending its last line; the blank line follows)."""
    try:
        text = raw[: last + 1].decode("ascii")
        ascii = True
    except UnicodeDecodeError:
        text, ascii = raw[: last + 1].decode("latin-1"), False
    eol = text.find("\n")
    status = _STATUS_RE.fullmatch(text, 0, eol)
    if status is None:
        line = bytes(raw[:eol]).removesuffix(b"\r")
        raise ProtocolError(f"illegal status line: {line[:100]!r}")
    version, code, reason = status.groups()
    block = text[eol + 1 :]
    headers = _plain_fields(block) if ascii else None
    if headers is None:
        headers = {}
        for name, value in _fields(block):
            name = name.lower()
            if not ascii:
                value = _text(value)
            old = headers.get(name)
            headers[name] = value if old is None else f"{old}, {value}"
    return Head(version, int(code), _text(reason) if reason else "", headers)


# states of a ResponseParser
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE, _DONE = range(8)


class ResponseParser:
    """One exchange's answer to `req`: feed() bytes as they arrive, head(), then read()."""

    __slots__ = (
        "_buf",
        "_eof",
        "_footer",
        "_length",
        "_no_body",
        "_remaining",
        "_search",
        "_state",
        "keep_alive",
    )

    def __init__(self, req: Request) -> None:
        self._buf: bytes | bytearray = b""
        self._eof = False
        self._state = _HEAD
        self._no_body = req.method == "HEAD"
        self.keep_alive = req.keep_alive
        self._search = 0  # how far the buffer was searched for a line end (while waiting for one)
        self._remaining = self._length = 0
        self._footer = b""

    @property
    def reusable(self) -> bool:
        """The connection can carry the next exchange."""
        return self._state == _DONE and self.keep_alive and not self._buf

    def feed(self, data: bytes) -> None:
        """What arrived; b"" means the peer closed the connection."""
        if not data:
            self._eof = True
        elif not self._buf:
            self._buf = data
        elif isinstance(self._buf, bytearray):
            self._buf += data
        else:
            self._buf = bytearray(self._buf) + data

    def head(self) -> Head | None:
        """The final response head when it has arrived, else None (feed more)."""
        while self._state == _HEAD:
            buf = self._buf
            if not buf:
                if self._eof:
                    raise ProtocolError("peer closed connection without sending a response")
                return None
            if buf[0] < 0x21:  # not a status line (TLS spoken to a plain port, a leading blank line)
                raise ProtocolError(f"illegal status line: {bytes(buf[:100])!r}")
            blank = _BLANK_RE.search(buf, self._search)
            if blank is None or blank.end() > MAX_HEADER_BYTES:
                if len(buf) > MAX_HEADER_BYTES:
                    raise ProtocolError(f"response head larger than {MAX_HEADER_BYTES} bytes")
                if self._eof:
                    raise ProtocolError(
                        f"peer closed connection without sending a complete response head ({len(buf)} bytes)"
                    )
                self._search = max(0, len(buf) - 2)
                return None
            self._search = 0
            head = _parse_head(buf, blank.start())
            self._buf = buf[blank.end() :]
            chunked, length = _framing(head.headers)
            if head.status >= 200:
                self._start_body(head, chunked, length)
                return head
            if head.status == 101:
                raise ProtocolError("unexpected 101 Switching Protocols (no upgrade was asked for)")
            # an informational (1xx) answer: the final one follows
        raise ProtocolError("the response head was already read")

    def _start_body(self, head: Head, chunked: bool, length: int | None) -> None:
        connection = head.headers.get("connection")
        if head.version < "1.1" or (connection is not None and _has_close(connection)):
            self.keep_alive = False
        if self._no_body or head.status in (204, 304):
            self._state = _DONE
        elif chunked:
            self._state = _CHUNK_SIZE
        elif length is not None:
            self._state = _LENGTH if length else _DONE
            self._remaining = self._length = length
        else:  # delimited by the server closing the connection (HTTP/1.0 style)
            self._state = _UNTIL_CLOSE
            self.keep_alive = False

    def read(self) -> bytes | None:
        """The next piece of body that has arrived: b"" when more must be fed, None at its end."""
        state, buf = self._state, self._buf
        if state == _DONE:
            return None
        if state == _LENGTH:
            if not buf:
                if self._eof:
                    raise ProtocolError(
                        "peer closed connection without sending complete message body "
                        f"(received {self._length - self._remaining} bytes, expected {self._length})"
                    )
                return b""
            remaining = self._remaining
            if len(buf) <= remaining:
                piece, self._buf = buf, b""
            else:
                piece, self._buf = buf[:remaining], buf[remaining:]
            self._remaining = remaining = remaining - len(piece)
            if not remaining:
                self._state = _DONE
            return bytes(piece)
        if state == _UNTIL_CLOSE:
            if buf:
                self._buf = b""
                return bytes(buf)
            if self._eof:
                self._state = _DONE
                return None
            return b""
        if state == _HEAD:
            raise ProtocolError("the body was read before the response head")
        return self._read_chunked()

    def _read_chunked(self) -> bytes | None:
        buf, state = self._buf, self._state
        pieces: list[bytes | bytearray] = []
        pos, end = 0, len(buf)
        while pos < end:
            if state == _CHUNK_DATA:
                take = min(self._remaining, end - pos)
                pieces.append(buf[pos : pos + take])
                pos += take
                self._remaining -= take
                if not self._remaining:
                    state, self._footer = _CHUNK_END, b"\r\n"
            elif state == _CHUNK_END:
                want = self._footer
                got = buf[pos : pos + len(want)]
                if got != want[: len(got)]:
                    raise ProtocolError(f"malformed chunk footer: {bytes(got)!r} (expected {want!r})")
                pos += len(got)
                self._footer = want[len(got) :]
                if not self._footer:
                    state = _CHUNK_SIZE
            elif state == _CHUNK_SIZE:
                eol = buf.find(b"\r\n", max(pos, pos + self._search - 1))
                if eol < 0:
                    if end - pos > MAX_HEADER_BYTES:
                        raise ProtocolError(f"chunk size line longer than {MAX_HEADER_BYTES} bytes")
                    self._search = end - pos
                    break
                self._search = 0
                size = _CHUNK_RE.fullmatch(buf, pos, eol)
                if size is None:
                    raise ProtocolError(f"illegal chunk header: {bytes(buf[pos : min(eol, pos + 100)])!r}")
                pos = eol + 2
                self._remaining = int(size[1], 16)
                state = _CHUNK_DATA if self._remaining else _TRAILER
            else:  # _TRAILER: header lines (checked, then ignored) up to a blank line
                if buf[pos : pos + 1] == b"\n" or buf[pos : pos + 2] == b"\r\n":
                    pos += 1 if buf[pos] == 10 else 2
                    state = _DONE
                    break
                blank = _BLANK_RE.search(buf, max(pos, pos + self._search - 2))
                if blank is None:
                    if end - pos > MAX_HEADER_BYTES:
                        raise ProtocolError(f"chunked trailer larger than {MAX_HEADER_BYTES} bytes")
                    self._search = end - pos
                    break
                self._search = 0
                _fields(bytes(buf[pos : blank.start() + 1]).decode("latin-1"))
                pos, state = blank.end(), _DONE
                break
        self._buf, self._state = buf[pos:], state
        if pieces:
            return bytes(pieces[0]) if len(pieces) == 1 else b"".join(pieces)
        if state == _DONE:
            return None
        if self._eof:
            raise ProtocolError(
                "peer closed connection without sending complete message body (incomplete chunked read)"
            )
        return b""


def _framing(headers: dict[str, str]) -> tuple[bool, int | None]:
    """(chunked, Content-Length) checked as h11 does for every response, bodiless ones included."""
    encoding = headers.get("transfer-encoding")
    if encoding is not None and encoding.lower() != "chunked":
        raise ProtocolError(f"unsupported Transfer-Encoding {encoding[:60]!r} (only one, chunked)")
    length = headers.get("content-length")
    return encoding is not None, None if length is None else _content_length(length)
