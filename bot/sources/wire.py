"""HTTP/1.1 on asyncio streams: the sans-IO protocol of `bot.sources.http1`, a keep-alive pool, and
the SSRF guard of `bot.sources.netguard` at connect time. `bot.sources.http` builds fetches
(redirects, validators, decoded-size caps, deadlines) on it.

Why not httpx: a conditional GET answered 304 cost about 2 ms of CPU through httpx/httpcore/anyio and
0.25 ms here with h11 (bench/README.md, "Speed levers"), less with our own protocol module (h11's
state machine was a quarter of a 304 poll cycle); importing httpx also cost 0.1–0.2 s of every start.

A connection is opened by a `Connector` to an address the policy allows (the host is resolved here,
each address classed, refused ones never dialled), then wrapped in TLS with the host name verified.
Connections go back to the pool only when both sides finished the exchange cleanly; a pooled
connection that turns out closed by the server before any byte of a response is replaced once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from bot.sources import http1
from bot.sources.netguard import AddressRefused, Resolver, address_class, resolve

__all__ = [
    "ConnectFailed",
    "Connector",
    "Pool",
    "ProtocolFailure",
    "Response",
    "default_ssl_context",
    "open_tcp",
]

#: (address, port) → an open TCP stream pair. Tests map addresses to loopback servers with their own.
Connector = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]

READ_SIZE = 64 * 1024
IDLE_EXPIRY = 60.0  # seconds a pooled connection may sit unused
MAX_IDLE = 64  # pooled connections kept in all
DRAIN_LIMIT = 64 * 1024  # body bytes read from a redirect/error answer to keep its connection


class ConnectFailed(Exception):
    """The connection (DNS, TCP or TLS) could not be set up; the cause is chained."""


class ProtocolFailure(Exception):
    """The exchange failed after connecting (reset, early close, a malformed answer)."""


async def open_tcp(address: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(address, port, limit=READ_SIZE)


def default_ssl_context() -> ssl.SSLContext:
    """What httpx used: $SSL_CERT_FILE or $SSL_CERT_DIR when set, else certifi's bundle."""
    import os

    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    context = ssl.create_default_context(cafile=certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context


@dataclass(eq=False)
class _Conn:
    key: tuple[frozenset[str], str, str, int]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    parser: http1.ResponseParser | None = None  # the current exchange's answer
    idle_since: float = 0.0
    reused: bool = False
    received: bool = False  # a byte of the current exchange's answer has arrived

    def stale(self, now: float) -> bool:
        return (
            now - self.idle_since > IDLE_EXPIRY
            or self.reader.at_eof()
            or self.writer.is_closing()
            or bool(self.reader._buffer)  # type: ignore[attr-defined]  # unsolicited bytes: unusable
        )

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # its event loop is gone
            self.writer.close()


class Response:
    """A response head; read its body with `chunks()` (raw, still content-coded) or `drain()`."""

    def __init__(self, conn: _Conn, pool: Pool, head: http1.Head) -> None:
        self._conn: _Conn | None = conn
        self._pool = pool
        self.status = head.status
        self.reason = head.reason
        self.headers = head.headers  # names lower-case; repeated fields joined with ", " (as httpx did)

    async def chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None or conn.parser is None:
            return
        parser = conn.parser
        while True:
            try:
                piece = parser.read()
            except http1.ProtocolError as exc:
                raise ProtocolFailure(str(exc)) from None
            if piece is None:
                self._finish(reuse=True)
                return
            if piece:
                yield piece
            else:
                await _receive(conn, parser)

    async def drain(self, limit: int = DRAIN_LIMIT) -> None:
        """Read and drop a small body so the connection can be reused; a larger one closes it."""
        read = 0
        async for chunk in self.chunks():
            read += len(chunk)
            if read > limit:
                self.close()
                return

    def _finish(self, *, reuse: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn, reuse=reuse)

    def close(self) -> None:
        """Done with this response: the connection is pooled if the exchange ended cleanly."""
        self._finish(reuse=False)


async def _receive(conn: _Conn, parser: http1.ResponseParser) -> None:
    """Feed what arrives next (b"" at EOF) to the parser."""
    try:
        data = await conn.reader.read(READ_SIZE)
    except (ssl.SSLError, OSError) as exc:
        raise ProtocolFailure(f"ReadError: {type(exc).__name__}: {exc}") from exc
    conn.received = conn.received or bool(data)
    parser.feed(data)


async def _read_head(conn: _Conn, parser: http1.ResponseParser) -> http1.Head:
    try:
        while (head := parser.head()) is None:
            await _receive(conn, parser)
    except http1.ProtocolError as exc:
        raise ProtocolFailure(str(exc)) from None
    return head


class Pool:
    """Keep-alive HTTP/1.1 connections, keyed by (allowed address classes, scheme, host, port): a
    connection opened under one policy is never reused by a fetch that may not reach its address."""

    def __init__(
        self,
        *,
        resolver: Resolver,
        connector: Connector = open_tcp,
        ssl_context: Callable[[], ssl.SSLContext] = default_ssl_context,
    ) -> None:
        self.resolver = resolver
        self.connector = connector
        self._ssl_factory = ssl_context
        self._ssl: ssl.SSLContext | None = None
        self._idle: dict[tuple[frozenset[str], str, str, int], list[_Conn]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = self._ssl_factory()
        return self._ssl

    def close(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _take_idle(self, key: tuple[frozenset[str], str, str, int]) -> _Conn | None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # connections of another (finished) loop cannot be used: drop them
            self.close()
            self._loop = loop
        conns = self._idle.get(key)
        now = time.monotonic()
        while conns:
            conn = conns.pop()
            if not conn.stale(now):
                conn.reused = True
                return conn
            conn.close()
        return None

    def release(self, conn: _Conn, *, reuse: bool) -> None:
        parser, conn.parser = conn.parser, None
        if not (reuse and parser is not None and parser.reusable):
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self._idle.setdefault(conn.key, []).append(conn)
        if sum(len(c) for c in self._idle.values()) > MAX_IDLE:
            oldest = min((c for cs in self._idle.values() for c in cs), key=lambda c: c.idle_since)
            self._idle[oldest.key].remove(oldest)
            oldest.close()

    async def _open(self, key: tuple[frozenset[str], str, str, int]) -> _Conn:
        allowed, scheme, host, port = key
        try:
            addresses = await resolve(host, port, self.resolver)
        except OSError as exc:
            raise ConnectFailed(f"DNS lookup of {host!r} failed") from exc
        permitted = [a for a in addresses if address_class(a) in allowed or address_class(a) == "public"]
        if not permitted:
            refused = addresses[0]
            raise AddressRefused(
                f"refused to connect to {host} ({refused}): a {address_class(refused)} address, and the "
                "configured URL does not point to that class of address"
            )
        error: BaseException | None = None
        for address in permitted:
            try:
                reader, writer = await self.connector(address, port)
            except OSError as exc:
                error = exc
                continue
            if scheme == "https":
                try:
                    await writer.start_tls(self._context(), server_hostname=host.strip("[]"))
                except (ssl.SSLError, OSError) as exc:
                    writer.close()
                    raise ConnectFailed("TLS handshake failed") from exc
            return _Conn(key, reader, writer)
        raise ConnectFailed("connect failed") from error

    async def request(
        self,
        *,
        allowed: frozenset[str],
        scheme: str,
        host: str,
        port: int,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        content: bytes | None,
    ) -> Response:
        """Send one request and read the response head. Raises ConnectFailed, AddressRefused or
        ProtocolFailure. The caller reads the body (`chunks`, `drain`) or `close`s the response."""
        key = (allowed, scheme, host.lower(), port)
        try:  # validated and serialised once per head (cached): the same every poll while unchanged
            request = http1.request(method, target, tuple(headers))
            data = http1.request_bytes(request, content)
        except http1.ProtocolError as exc:  # a header value or target we were given is not sendable
            raise ProtocolFailure(f"invalid request: {exc}") from None
        for attempt in range(2):
            # a retry goes to a new connection: the pool may hold more that the server closed
            conn = (self._take_idle(key) if attempt == 0 else None) or await self._open(key)
            conn.received = False
            conn.parser = parser = http1.ResponseParser(request)
            try:
                conn.writer.write(data)
                await conn.writer.drain()
                # informational (1xx) answers are skipped: this is the final one
                return Response(conn, self, await _read_head(conn, parser))
            except (ProtocolFailure, OSError) as exc:
                conn.close()
                # a pooled connection the server had closed meanwhile: once more on a new one
                if conn.reused and not conn.received:
                    continue
                if isinstance(exc, OSError):
                    raise ProtocolFailure(f"WriteError: {type(exc).__name__}: {exc}") from exc
                raise
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")  # pragma: no cover
