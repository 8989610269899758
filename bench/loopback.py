"""Loopback fixtures shared by the benchmarks: a generated-feed server (Atom, ETag and Last-Modified,
304 on a match) and an aiosmtpd sink that counts what it is given. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
ENTRY_HTML = (
    "&lt;p&gt;Changes since the previous release:&lt;/p&gt;&lt;ul&gt;"
    + "".join(f"&lt;li&gt;package-{n} updated to 1.{n}.0 (CVE-2025-{1000 + n})&lt;/li&gt;" for n in range(8))
    + "&lt;/ul&gt;&lt;p&gt;See &lt;a href=&quot;https://example.org/n&quot;&gt;notes&lt;/a&gt;.&lt;/p&gt;"
)


def feed_xml(feed: int, count: int, entries: int) -> bytes:
    """Feed `feed` when it has had `count` releases: the newest `entries` of them, newest first."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>project {feed}</title><id>urn:bench:feed:{feed}</id>",
        f"<updated>{(BASE_TIME + timedelta(hours=count)).isoformat()}</updated>",
    ]
    for k in range(count, max(0, count - entries), -1):
        when = (BASE_TIME + timedelta(hours=k)).isoformat()
        parts.append(
            f"<entry><title>p{feed} v1.{k}.0</title><id>urn:bench:{feed}:{k}</id>"
            f'<link rel="alternate" href="https://example.org/p{feed}/releases/v1.{k}.0"/>'
            f"<published>{when}</published><updated>{when}</updated>"
            f'<author><name>bench</name></author><content type="html">{ENTRY_HTML}</content></entry>'
        )
    parts.append("</feed>\n")
    return "\n".join(parts).encode()


class FeedServer:
    """`/NAMESPACE/N.atom`: feed N of a namespace (one per tool and run, so each has its own history).
    `bump(ns, feeds, by)` adds releases to some feeds of a namespace.

    An asyncio HTTP/1.1 server on a thread of its own (keep-alive; `Connection: close` and HTTP/1.0
    honoured; GET and HEAD). Until 2026-12-01 it was `http.server`'s ThreadingHTTPServer: ~0.3 ms of
    the harness's CPU per answer, so that a client asking 4 at a time waited on the server (the
    in-process cycle of 200 feeds spent a third of its wall time there)."""

    def __init__(self, feeds: int, *, entries: int = 50, initial: int = 50) -> None:
        self.feeds = feeds
        self.entries = entries
        self.initial = initial
        self.counts: dict[str, list[int]] = {}
        self.requests: Counter[int] = Counter()
        self._cache: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            self._loop.create_server(lambda: _HttpProtocol(self), "127.0.0.1", 0)
        )
        self.thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self.thread.join(timeout=10)
        self._loop.close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def url(self, ns: str, feed: int) -> str:
        return f"{self.base}/{ns}/{feed}.atom"

    def namespace(self, ns: str) -> None:
        with self._lock:
            self.counts[ns] = [self.initial] * self.feeds
            self._warm(range(self.feeds), self.counts[ns])

    def bump(self, ns: str, feeds: range | list[int], by: int) -> None:
        with self._lock:
            for feed in feeds:
                self.counts[ns][feed] += by
            self._warm(feeds, self.counts[ns])

    def _warm(self, feeds: range | list[int], counts: list[int]) -> None:
        """Generate the bodies about to be asked for now, not while a tool is being timed (the first
        tool to ask would otherwise pay for them)."""
        for feed in feeds:
            self._body(feed, counts[feed])

    def _body(self, feed: int, count: int) -> bytes:
        key = (feed, count)
        body = self._cache.get(key)
        if body is None:
            body = self._cache[key] = feed_xml(feed, count, self.entries)
        return body

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, headers, body) for a GET of `path` with the request's `headers` (names lower-case)."""
        try:
            ns, name = path.strip("/").split("/")
            feed = int(name.removesuffix(".atom"))
            count = self.counts[ns][feed]
        except (ValueError, KeyError, IndexError):
            return 404, [("Content-Type", "text/plain")], b"not found\n"
        self.requests[path.count("/")] += 1
        etag = f'"{feed}-{count}"'
        modified = BASE_TIME + timedelta(hours=count)
        fresh = headers.get("if-none-match") == etag
        since = headers.get("if-modified-since")
        if since and not headers.get("if-none-match"):
            try:
                fresh = parsedate_to_datetime(since) >= modified
            except (TypeError, ValueError):
                fresh = False
        if fresh:
            return 304, [("ETag", etag)], b""
        return (
            200,
            [
                ("Content-Type", "application/atom+xml; charset=utf-8"),
                ("ETag", etag),
                ("Last-Modified", format_datetime(modified, usegmt=True)),
            ],
            self._body(feed, count),
        )


_REASONS = {200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


class _HttpProtocol(asyncio.Protocol):
    """One keep-alive connection of the feed server: requests (no bodies) in, whole answers out, each
    in one write (a head written apart from its body would wait for the client's delayed ACK)."""

    def __init__(self, server: FeedServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65536:
                    self._reply(400, [], b"", close=True)
                return
            head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4 :]
            line, *fields = head.split("\r\n")
            try:
                method, path, version = line.split(" ")
            except ValueError:
                self._reply(400, [], b"", close=True)
                return
            headers = {}
            for field in fields:
                name, _, value = field.partition(":")
                headers[name.strip().lower()] = value.strip()
            close = version != "HTTP/1.1" or "close" in headers.get("connection", "").lower()
            if method not in ("GET", "HEAD"):
                self._reply(405, [], b"", close=True)
                return
            status, out, body = self.server.answer(path, headers)
            self._reply(status, out, b"" if method == "HEAD" else body, close=close, length=len(body))

    def _reply(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        close: bool,
        length: int | None = None,
    ) -> None:
        assert self.transport is not None
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        lines += [f"{name}: {value}" for name, value in headers]
        lines.append(f"Content-Length: {len(body) if length is None else length}")
        if close:
            lines.append("Connection: close")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        if close:
            self.transport.close()
            self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class CountingSink:
    """An SMTP server on loopback (aiosmtpd) that counts messages and their Message-IDs."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        sink = self
        self.count = 0
        self.ids: Counter[str] = Counter()
        self._lock = threading.Lock()

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink._received(envelope.content)
                return "250 OK"

        with socket.socket() as probe:  # a free port (aiosmtpd's Controller wants a number)
            probe.bind(("127.0.0.1", 0))
            free = int(probe.getsockname()[1])
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=free)

    def _received(self, content: bytes) -> None:
        mid = ""
        for line in content.split(b"\r\n\r\n", 1)[0].splitlines():
            if line.lower().startswith(b"message-id:"):
                mid = line.split(b":", 1)[1].strip().decode("ascii", "replace")
        with self._lock:
            self.count += 1
            self.ids[mid] += 1

    def __enter__(self) -> CountingSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def take(self) -> tuple[int, int]:
        """(messages, duplicate Message-IDs) since the last take; resets the counters."""
        with self._lock:
            count, dups = self.count, sum(n - 1 for m, n in self.ids.items() if m and n > 1)
            self.count = 0
            self.ids.clear()
        return count, dups


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)
