"""bot.sources.http1, the sans-IO HTTP/1.1 client protocol: request heads, response heads, body
framing and keep-alive decisions, fed whole and one byte at a time."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path
from typing import Any

import pytest

from bot.sources import http1
from bot.sources.http1 import MAX_HEADER_BYTES, Head, ProtocolError, ResponseParser, request, request_bytes

HOST = (("Host", "example.org"),)


def run(
    raw: bytes,
    *,
    method: str = "GET",
    step: int | None = None,
    eof: bool = True,
    headers: tuple[tuple[str, str], ...] = HOST,
) -> tuple[Head, bytes, bool]:
    """Feed `raw` (in pieces of `step` bytes), then EOF; the head, the whole body, `reusable`."""
    parser = ResponseParser(request(method, "/", headers))
    feeds = [raw] if step is None else [raw[i : i + step] for i in range(0, len(raw), step)]
    if eof:
        feeds.append(b"")
    pending = iter(feeds)
    head = parser.head()
    while head is None:
        parser.feed(next(pending))
        head = parser.head()
    body = b""
    while (piece := parser.read()) is not None:
        if piece:
            body += piece
        else:
            parser.feed(next(pending))
    return head, body, parser.reusable


def error(raw: bytes, **options: Any) -> str:
    with pytest.raises(ProtocolError) as caught:
        run(raw, **options)
    assert not caught.value.local and "\n" not in str(caught.value)
    return str(caught.value)


def both(raw: bytes, **options: Any) -> tuple[Head, bytes, bool]:
    """The same result fed whole and one byte at a time."""
    whole = run(raw, **options)
    assert run(raw, step=1, **options) == whole
    assert run(raw, step=7, **options) == whole
    return whole


# --- requests ---------------------------------------------------------------------------------


def test_a_request_head_is_serialised_host_first_and_cached() -> None:
    headers = (("User-Agent", "bot/1"), ("Host", "example.org:8080"), ("If-None-Match", '"e 1"'))
    req = request("GET", "/feed?x=1", headers)
    assert req.head == (
        b"GET /feed?x=1 HTTP/1.1\r\nHost: example.org:8080\r\nUser-Agent: bot/1\r\n"
        b'If-None-Match: "e 1"\r\n\r\n'
    )
    assert req.keep_alive and req.content_length == 0 and req.method == "GET"
    assert request("GET", "/feed?x=1", headers) is req  # validated once
    assert request_bytes(req, None) == request_bytes(req, b"") == req.head


def test_a_request_body_goes_with_its_content_length() -> None:
    req = request("POST", "/", (*HOST, ("Content-Length", "5, 5")))
    assert req.content_length == 5 and b"\r\nContent-Length: 5\r\n" in req.head
    assert request_bytes(req, b"hello") == req.head + b"hello"
    for content in (b"hi", None):
        with pytest.raises(ProtocolError, match="with Content-Length 5") as caught:
            request_bytes(req, content)
        assert caught.value.local
    with pytest.raises(ProtocolError, match="a request body of 2 bytes with Content-Length 0"):
        request_bytes(request("POST", "/", HOST), b"hi")


def test_connection_close_in_the_request_is_remembered() -> None:
    assert not request("GET", "/", (*HOST, ("Connection", "Keep-Alive, CLOSE"))).keep_alive
    assert request("GET", "/", (*HOST, ("Connection", "keep-alive"))).keep_alive


@pytest.mark.parametrize(
    ("method", "target", "headers", "message"),
    [
        ("GE T", "/", HOST, "illegal request method 'GE T'"),
        ("", "/", HOST, "illegal request method"),
        ("GET", "/a b", HOST, "illegal request target '/a b'"),
        ("GET", "/a\x7f", HOST, "illegal request target"),
        ("GET", "/é", HOST, "illegal request target"),
        ("GET", "", HOST, "illegal request target"),
        ("GET", "/", (*HOST, ("Bad Name", "x")), "illegal header name 'Bad Name'"),
        ("GET", "/", (*HOST, ("X:", "x")), "illegal header name"),
        ("GET", "/", (*HOST, ("Authorization", "Bearer s3cret\r\nX: y")), "header Authorization: the value"),
        ("GET", "/", (*HOST, ("Authorization", "s3cret\x00")), "header Authorization: the value"),
        ("GET", "/", (*HOST, ("Authorization", " s3cret")), "whitespace at its ends"),
        ("GET", "/", (*HOST, ("Authorization", "s3cret ")), "whitespace at its ends"),
        ("GET", "/", (*HOST, ("Authorization", "s3crét")), "header Authorization: the value is not ASCII"),
        ("GET", "/", (("User-Agent", "x"),), "missing mandatory Host header"),
        ("GET", "/", (*HOST, ("host", "other")), "multiple Host headers"),
        ("GET", "/", (*HOST, ("Content-Length", "1, 2")), "conflicting Content-Length headers"),
        ("GET", "/", (*HOST, ("Content-Length", "1"), ("Content-Length", "2")), "conflicting Content-Length"),
        ("GET", "/", (*HOST, ("Content-Length", "-1")), "bad Content-Length '-1'"),
        ("GET", "/", (*HOST, ("Transfer-Encoding", "chunked")), "Transfer-Encoding is not supported"),
    ],
)
def test_an_unsendable_request_is_refused_naming_what_is_wrong(
    method: str, target: str, headers: tuple[tuple[str, str], ...], message: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        request(method, target, headers)
    assert caught.value.local and message in str(caught.value)
    assert "s3cret" not in str(caught.value)  # a value may be a credential: never quoted


def test_header_values_may_hold_internal_spaces_and_non_whitespace_controls() -> None:
    req = request("GET", "/", (*HOST, ("Cookie", "a=\x01b;  c"), ("X-Empty", "")))
    assert b"Cookie: a=\x01b;  c\r\nX-Empty: \r\n" in req.head


# --- response heads ---------------------------------------------------------------------------


def test_a_304_head_is_parsed() -> None:
    raw = (
        b'HTTP/1.1 304 Not Modified\r\nDate: Tue, 01 Dec 2026 07:00:00 GMT\r\nETag:  "x"  \r\n'
        b"Vary: Accept\r\nvary: Cookie\r\nX-Empty:\r\nCache-Control:\tmax-age=0\t\r\n\r\n"
    )
    head, body, reusable = both(raw)
    assert head == Head(
        "1.1",
        304,
        "Not Modified",
        {
            "date": "Tue, 01 Dec 2026 07:00:00 GMT",
            "etag": '"x"',
            "vary": "Accept, Cookie",
            "x-empty": "",
            "cache-control": "max-age=0",
        },
    )
    assert body == b"" and reusable


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"HTTP/1.1 200 OK", "OK"),
        (b"HTTP/1.1 200", ""),
        (b"HTTP/1.1 200 ", ""),
        (b"HTTP/1.1 200 A  b\tc", "A  b\tc"),
    ],
)
def test_the_reason_phrase_is_optional(line: bytes, reason: str) -> None:
    head, body, _ = both(line + b"\r\nContent-Length: 2\r\n\r\nok")
    assert (head.status, head.reason, body) == (200, reason, b"ok")


@pytest.mark.parametrize(
    "line",
    [
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/11 200 OK",
        b"http/1.1 200 OK",
        b"ICY 200 OK",
        b"HTTP/1.1 200 O\x00K",
    ],
)
def test_a_bad_status_line_is_an_error_naming_it(line: bytes) -> None:
    assert error(line + b"\r\n\r\n") == f"illegal status line: {line!r}"


def test_a_status_line_is_named_bounded_and_tls_is_caught_before_a_line_end() -> None:
    assert len(error(b"X" * 5000 + b"\r\n\r\n")) < 200
    parser = ResponseParser(request("GET", "/", HOST))
    parser.feed(b"\x16\x03\x01\x02\x00")  # a TLS record: no line end will come
    with pytest.raises(ProtocolError, match="illegal status line"):
        parser.head()
    assert "illegal status line" in error(b"\r\nHTTP/1.1 200 OK\r\n\r\n")  # a leading blank line


def test_bare_lf_line_ends_and_obsolete_folding_are_read_as_h11_does() -> None:
    head, body, _ = both(b"HTTP/1.1 200 OK\nX-A: one\n  two\n\tthree\nContent-Length: 1\r\n\nz")
    assert head.headers == {"x-a": "one two three", "content-length": "1"} and body == b"z"


def test_non_ascii_values_are_read_as_utf8_else_latin1() -> None:
    head, _, _ = both("HTTP/1.1 200 Ça va\r\nX-U: é\r\nX-L: ".encode() + b"\xe9\r\nContent-Length: 0\r\n\r\n")
    assert (head.reason, head.headers["x-u"], head.headers["x-l"]) == ("Ça va", "é", "é")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (b" folded: first\r\n", "continuation line at start of headers"),
        (b"Bad Name: x\r\n", "illegal header line: 'Bad Name: x'"),
        (b"NoColon\r\n", "illegal header line: 'NoColon'"),
        (b"X : y\r\n", "illegal header line"),
        (b"X: a\x00b\r\n", "illegal header line"),
        (b"X: a\rb\r\n", "illegal header line"),
        (b"X: a\x0bb\r\n", "illegal header line"),
        (b"X: a\r\r\n", "illegal header line"),
    ],
)
def test_a_bad_header_line_is_an_error(lines: bytes, message: str) -> None:
    assert message in error(b"HTTP/1.1 200 OK\r\n" + lines + b"\r\n")


def test_the_quick_header_path_agrees_with_the_strict_one() -> None:
    lines = [
        *("A: b\r\n", "a:b\r\n", "Date:  b c \t\r\n", "A:\r\n", "X: a\x01b\x7f\r\n", "X: y\n", "Date\r\n"),
        *(
            "Bad Name: x\r\n",
            " folded\r\n",
            "\tfolded\r\n",
            "X: a\x00b\r\n",
            "X: a\x0bb\r\n",
            "X: a\x0cb\r\n",
        ),
        *("X: a\rb\r\n", "X: a\r\r\n", "NoColon\r\n", "X : y\r\n", ":v\r\n", "X\x00: y\r\n"),
    ]
    quick = 0
    for count in (1, 2, 3):
        for block in map("".join, itertools.product(lines, repeat=count)):
            fast = http1._plain_fields(block)
            try:
                strict: dict[str, str] = {}
                for name, value in http1._fields(block):
                    key = name.lower()
                    strict[key] = f"{strict[key]}, {value}" if key in strict else value
            except ProtocolError:
                assert fast is None, block
                continue
            assert fast is None or fast == strict, block
            quick += fast is not None
    assert quick > 100  # the quick path is taken where it can be


def test_a_head_too_large_or_cut_short_is_an_error() -> None:
    endless = b"HTTP/1.1 200 OK\r\n" + b"X-A: " + b"a" * MAX_HEADER_BYTES
    assert error(endless, eof=False) == f"response head larger than {MAX_HEADER_BYTES} bytes"
    assert "larger than" in error(endless + b"\r\n\r\n")  # complete, but over the bound
    assert error(b"") == "peer closed connection without sending a response"
    assert error(b"HTTP/1.1 200 OK\r\nX: y\r\n") == (
        "peer closed connection without sending a complete response head (23 bytes)"
    )


def test_informational_answers_are_skipped_and_101_refused() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n"
    head, body, reusable = both(raw + b"Content-Length: 2\r\n\r\nok")
    assert (head.status, head.headers, body, reusable) == (200, {"content-length": "2"}, b"ok", True)
    assert "unexpected 101" in error(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")


# --- framing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("GET", 204), ("GET", 304), ("HEAD", 404)])
def test_head_requests_204_and_304_have_no_body_whatever_the_headers_say(method: str, status: int) -> None:
    raw = f"HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\n".encode()
    assert both(raw, method=method)[1:] == (b"", True)
    chunked = f"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    assert both(chunked, method=method)[1:] == (b"", True)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (b"Content-Length: 5\r\nContent-Length: 6\r\n", "conflicting Content-Length headers"),
        (b"Content-Length: 5, 6\r\n", "conflicting Content-Length headers"),
        (b"Content-Length: 5,\r\n", "conflicting Content-Length headers"),
        (b"Content-Length: abc\r\n", "bad Content-Length 'abc'"),
        (b"Content-Length: +5\r\n", "bad Content-Length"),
        (b"Content-Length: \xb2\r\n", "bad Content-Length"),
        (b"Content-Length: " + b"1" * 21 + b"\r\n", "bad Content-Length: more than 20 digits"),
        (b"Transfer-Encoding: gzip\r\n", "unsupported Transfer-Encoding 'gzip'"),
        (b"Transfer-Encoding: gzip, chunked\r\n", "unsupported Transfer-Encoding"),
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "unsupported Transfer-Encoding"),
    ],
)
def test_bad_framing_headers_are_errors_even_on_a_304(headers: bytes, message: str) -> None:
    assert message in error(b"HTTP/1.1 200 OK\r\n" + headers + b"\r\n")
    assert message in error(b"HTTP/1.1 304 Not Modified\r\n" + headers + b"\r\n")


def test_content_length_frames_the_body_repeated_equal_values_allowed() -> None:
    assert both(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc")[1:] == (
        b"abc",
        True,
    )
    assert both(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")[1:] == (b"", True)
    assert run(b"HTTP/1.1 200 OK\r\nContent-Length: " + b"0" * 20 + b"\r\n\r\n")[1] == b""


def test_a_body_cut_short_is_an_error() -> None:
    assert error(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc") == (
        "peer closed connection without sending complete message body (received 3 bytes, expected 10)"
    )
    assert error(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", step=1) == (
        "peer closed connection without sending complete message body (incomplete chunked read)"
    )
    assert "incomplete chunked read" in error(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n")


def test_transfer_encoding_beats_content_length() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    assert both(raw)[1:] == (b"abc", True)


def test_chunked_bodies_with_extensions_whitespace_and_trailers() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n1 \t\r\n,\r\nA;x\r\n0123456789\r\n0\r\nX-Sum: 1\r\nX-More:\r\n 2\r\n\r\n"
    )
    assert both(raw)[1:] == (b"hello,0123456789", True)
    assert both(raw.replace(b"\r\n0\r\nX-Sum", b"\r\n00000\r\nX-Sum"))[1] == b"hello,0123456789"
    bare_lf_trailer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX: y\n\n"
    assert both(bare_lf_trailer)[1:] == (b"ok", True)


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        (b"3\r\nabcXY", "malformed chunk footer: b'X"),
        (b"3\r\nabc\rX", "malformed chunk footer: b'"),
        (b"zz\r\n", "illegal chunk header: b'zz'"),
        (b"\r\n", "illegal chunk header: b''"),
        (b"3\nabc\r\n0\r\n\r\n", "illegal chunk header"),
        (b"1" * 21 + b"\r\n", "illegal chunk header"),
        (b"0\r\nBad Trailer\r\n\r\n", "illegal header line: 'Bad Trailer'"),
    ],
)
def test_bad_chunks_are_errors(chunks: bytes, message: str) -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    assert message in error(raw, eof=False)
    assert message in error(raw, eof=False, step=1)


def test_a_chunk_size_line_or_trailer_cannot_grow_without_bound() -> None:
    start = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    long_line = start + b"1;" + b"x" * MAX_HEADER_BYTES
    assert error(long_line, eof=False) == f"chunk size line longer than {MAX_HEADER_BYTES} bytes"
    long_trailer = start + b"0\r\nX: " + b"x" * MAX_HEADER_BYTES
    assert error(long_trailer, eof=False) == f"chunked trailer larger than {MAX_HEADER_BYTES} bytes"


def test_a_close_delimited_body_ends_at_eof_and_the_connection_with_it() -> None:
    assert both(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")[1:] == (
        b"until the end",
        False,
    )
    assert both(b"HTTP/1.1 200 OK\r\n\r\n")[1:] == (b"", False)


def test_a_body_is_handed_over_as_it_arrives() -> None:
    for framing, first, rest in (
        (b"Content-Length: 8", b"abcd", b"efgh"),
        (b"Transfer-Encoding: chunked", b"8\r\nabcd", b"efgh\r\n0\r\n\r\n"),
        (b"X-Close: delimited", b"abcd", b"efgh"),
    ):
        parser = ResponseParser(request("GET", "/", HOST))
        parser.feed(b"HTTP/1.1 200 OK\r\n" + framing + b"\r\n\r\n" + first)
        assert parser.head() is not None
        assert parser.read() == b"abcd" and parser.read() == b""  # not waiting for the whole body
        parser.feed(rest)
        assert parser.read() == b"efgh"


# --- keep-alive -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "headers", "reusable"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", HOST, True),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", HOST, False),
        (b"HTTP/1.0 304 Not Modified\r\nConnection: keep-alive\r\n\r\n", HOST, False),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n", HOST, False),
        (b"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n", HOST, False),
        (b"HTTP/1.1 304 Not Modified\r\n\r\n", (*HOST, ("Connection", "close")), False),
        (b"HTTP/1.1 200 OK\r\n\r\nclose-delimited", HOST, False),
        (b"HTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\n", HOST, False),  # bytes beyond its end
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", HOST, False),
    ],
)
def test_keep_alive_decisions(raw: bytes, headers: tuple[tuple[str, str], ...], reusable: bool) -> None:
    assert run(raw, headers=headers)[2] is reusable


def test_an_unfinished_exchange_is_not_reusable() -> None:
    parser = ResponseParser(request("GET", "/", HOST))
    assert not parser.reusable
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    assert parser.head() is not None and parser.read() == b"ab" and not parser.reusable
    with pytest.raises(ProtocolError, match="already read"):
        parser.head()


def test_the_protocol_module_is_pure() -> None:
    tree = ast.parse(Path(http1.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert imported == {"__future__", "functools", "re", "typing"}
