"""Loopback fixtures shared by the benchmarks: a generated-feed server (Atom, ETag and Last-Modified,
304 on a match) and an aiosmtpd sink that counts what it is given. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
    `bump(ns, feeds, by)` adds releases to some feeds of a namespace."""

    def __init__(self, feeds: int, *, entries: int = 50, initial: int = 50) -> None:
        self.feeds = feeds
        self.entries = entries
        self.initial = initial
        self.counts: dict[str, list[int]] = {}
        self.requests: Counter[int] = Counter()
        self._cache: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._get(self)

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

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

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        try:
            ns, name = handler.path.strip("/").split("/")
            feed = int(name.removesuffix(".atom"))
            count = self.counts[ns][feed]
        except (ValueError, KeyError, IndexError):
            handler.send_error(404)
            return
        self.requests[handler.path.count("/")] += 1
        etag = f'"{feed}-{count}"'
        modified = BASE_TIME + timedelta(hours=count)
        fresh = handler.headers.get("If-None-Match") == etag
        since = handler.headers.get("If-Modified-Since")
        if since and not handler.headers.get("If-None-Match"):
            try:
                fresh = parsedate_to_datetime(since) >= modified
            except (TypeError, ValueError):
                fresh = False
        if fresh:
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        body = self._body(feed, count)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/atom+xml; charset=utf-8")
        handler.send_header("ETag", etag)
        handler.send_header("Last-Modified", format_datetime(modified, usegmt=True))
        handler.send_header("Content-Length", str(len(body)))
        # headers and body in one write, as a production server sends them: a separate small write of
        # the headers followed by the body waits for the client's delayed ACK (Nagle), ~40 ms a response
        handler._headers_buffer.append(b"\r\n")  # type: ignore[attr-defined]
        handler._headers_buffer.append(body)  # type: ignore[attr-defined]
        handler.flush_headers()


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
