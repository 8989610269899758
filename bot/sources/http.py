"""The one async HTTP client every source uses.

Conditional GET (ETag / Last-Modified, plus a body hash so an identical body is not parsed again),
redirects followed by hand and restricted to http/https, a cap on the *decoded* body enforced while
streaming (one content coding at most, see `bot.sources.decode`), a wall-clock deadline over the whole
fetch, a concurrency bound shared by all fetches, and the SSRF guard of `bot.sources.netguard`: no
connection to a loopback, link-local, private or unspecified address unless the configured URL itself
points to that class of address.

A 304 answer to a request that sent no validator is a server error (a FetchError), never "unchanged":
taken as unchanged it would baseline an empty document, and the next 200 would announce its history.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self, TypeAlias

import httpcore
import httpx

from bot.errors import FetchError, RateLimitError
from bot.sources.decode import BodyTooLarge, BoundedDecoder, DecodeFailure, content_coding
from bot.sources.fetchresult import FetchResult, Validators, connect_detail, describe, retry_after
from bot.sources.netguard import (
    AddressRefused,
    GuardedBackend,
    Resolver,
    classes_of,
    guarded_transport,
    resolve,
    system_resolver,
)
from bot.text import sanitize

__all__ = ["FetchResult", "HttpFetcher", "Validators", "retry_after"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
ALLOWED_SCHEMES = frozenset({"http", "https"})

# Turns a message into a FetchError naming the source and the URL being fetched.
_Fail: TypeAlias = Callable[[str], FetchError]


@dataclass
class _Progress:
    """The URL currently being fetched, so a deadline error can name it."""

    url: str


def _seconds(value: float) -> str:
    return f"{value:g}s"


class HttpFetcher:
    """An async HTTP client with one shared connection pool; use `async with` or call `aclose()`.

    One instance belongs to one event loop (the loop of its first fetch).
    """

    def __init__(
        self,
        *,
        user_agent: str,
        timeout: float = 30.0,
        max_bytes: int = 16 * 1024 * 1024,
        max_redirects: int = 5,
        concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
        allow_address_classes: frozenset[str] = frozenset(),
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        """`transport` replaces the network entirely (tests; it is trusted, so no address guard runs).
        `resolver` resolves host names (default: the system's getaddrinfo); `allow_address_classes`
        ('loopback', 'link-local', 'private', 'unspecified') are allowed for every fetch, as if each
        configured URL pointed there; `network_backend` opens the TCP connections to checked
        addresses (tests map addresses to loopback servers with it)."""
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        if max_bytes < 0:
            raise ValueError(f"max_bytes must not be negative, got {max_bytes!r}")
        if max_redirects < 0:
            raise ValueError(f"max_redirects must not be negative, got {max_redirects!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.concurrency = concurrency
        self._transport = transport
        self.resolver: Resolver = resolver or system_resolver
        self.allow_address_classes = frozenset(allow_address_classes)
        self._network_backend = network_backend
        # one client (and connection pool) per set of allowed address classes
        self._clients: dict[frozenset[str], httpx.AsyncClient] = {}
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the shared client. Safe to call more than once; a later fetch opens a new client."""
        clients, self._clients, self._client_loop = self._clients, {}, None
        for client in clients.values():
            await client.aclose()

    def _get_client(self, allowed: frozenset[str]) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client_loop is not loop:
            # A client from another (finished) loop cannot be reused: its pooled connections are dead.
            self._clients, self._client_loop = {}, loop
        client = self._clients.get(allowed)
        if client is None:
            transport = self._transport
            if transport is None:
                backend = GuardedBackend(allowed=allowed, resolver=self.resolver, inner=self._network_backend)
                transport = guarded_transport(backend)
            client = httpx.AsyncClient(
                follow_redirects=False,
                transport=transport,
                timeout=httpx.Timeout(self.timeout),
                headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip"},
            )
            self._clients[allowed] = client
        return client

    async def _allowed_classes(self, url: httpx.URL, fail: _Fail) -> frozenset[str]:
        """The non-public address classes this fetch may reach: those the configured URL points to."""
        if self._transport is not None:
            return frozenset()
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = await resolve(url.host, port, self.resolver)
        except OSError as exc:
            detail = f"[Errno {exc.errno}] {exc.strerror}" if exc.strerror else describe(exc)
            raise fail(f"connection failed: DNS lookup failed: {detail}") from None
        return classes_of(addresses) | self.allow_address_classes

    def _get_semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(self.concurrency)
            self._semaphore_loop = loop
        return self._semaphore

    async def fetch(
        self,
        url: str,
        *,
        source: str,
        previous: Validators | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-call deadline is part of the API
        max_bytes: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """GET `url`, following redirects; raise FetchError on any failure.

        `timeout` bounds the whole fetch (connect, headers, body, every redirect), measured from the
        moment a concurrency slot is acquired. `previous` makes the request conditional.
        """
        return await self.request(
            "GET",
            url,
            source=source,
            previous=previous,
            timeout=timeout,
            max_bytes=max_bytes,
            headers=headers,
        )

    async def post(
        self,
        url: str,
        *,
        source: str,
        content: bytes,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-call deadline is part of the API
        max_bytes: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """POST `content` to `url` (e.g. a GraphQL query), with the same deadline, byte cap and redirect
        rules as `fetch`; a 303 (or 301/302) redirect is followed with a GET, 307/308 repeat the POST."""
        return await self.request(
            "POST", url, source=source, content=content, timeout=timeout, max_bytes=max_bytes, headers=headers
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        source: str,
        previous: Validators | None = None,
        content: bytes | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-call deadline is part of the API
        max_bytes: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """`fetch` or `post`. A 403/429 answer that says when to come back (`Retry-After`, or
        `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset`) raises RateLimitError."""
        deadline = self.timeout if timeout is None else timeout
        cap = self.max_bytes if max_bytes is None else max_bytes
        if deadline <= 0:
            raise ValueError(f"timeout must be positive, got {deadline!r}")
        if cap < 0:
            raise ValueError(f"max_bytes must not be negative, got {cap!r}")
        progress = _Progress(url)
        async with self._get_semaphore():
            started = time.monotonic()
            try:
                async with asyncio.timeout(deadline):
                    return await self._fetch(
                        progress,
                        method=method,
                        content=content,
                        source=source,
                        previous=previous,
                        deadline=deadline,
                        cap=cap,
                        extra_headers=headers,
                        started=started,
                    )
            except TimeoutError:
                raise FetchError(
                    f"timed out after {_seconds(deadline)}", source=source, url=progress.url
                ) from None

    async def _fetch(
        self,
        progress: _Progress,
        *,
        method: str,
        content: bytes | None,
        source: str,
        previous: Validators | None,
        deadline: float,
        cap: int,
        extra_headers: Mapping[str, str] | None,
        started: float,
    ) -> FetchResult:
        def fail(message: str) -> FetchError:
            # a reason phrase, a Location or a URL is server-controlled: one clean line, bounded
            return FetchError(sanitize(message)[:1000], source=source, url=sanitize(progress.url)[:2048])

        request_headers: dict[str, str] = {}
        if previous is not None:
            if previous.etag:
                request_headers["If-None-Match"] = previous.etag
            if previous.last_modified:
                request_headers["If-Modified-Since"] = previous.last_modified
        if extra_headers:
            request_headers.update(extra_headers)

        try:
            current = httpx.URL(progress.url)
        except httpx.InvalidURL as exc:
            raise fail(f"invalid URL: {describe(exc)}") from None
        if current.scheme not in ALLOWED_SCHEMES:
            raise fail(f"unsupported URL scheme {current.scheme!r} (only http and https)")

        client = self._get_client(await self._allowed_classes(current, fail))
        validator_sent = any(
            k.lower() in ("if-none-match", "if-modified-since") for k, v in request_headers.items() if v
        )
        redirects = 0
        while True:
            progress.url = str(current)
            try:
                async with client.stream(
                    method, current, headers=request_headers, content=content, timeout=httpx.Timeout(deadline)
                ) as response:
                    status = response.status_code
                    if status in REDIRECT_STATUSES:
                        target = self._redirect_target(response, current, redirects, fail)
                        if (target.scheme, target.host, target.port) != (
                            current.scheme,
                            current.host,
                            current.port,
                        ):
                            # credentials are for the origin they were configured for, never another host
                            request_headers = {
                                k: v
                                for k, v in request_headers.items()
                                if k.lower() not in _CREDENTIAL_HEADERS
                            }
                        current = target
                        redirects += 1
                        if status == 303 or (status in (301, 302) and method != "GET"):
                            method, content = "GET", None
                        continue
                    response_headers = {k.lower(): v for k, v in response.headers.items()}
                    content_type = response.headers.get("content-type")
                    etag = response.headers.get("etag")
                    last_modified = response.headers.get("last-modified")
                    if status == 304 and not validator_sent:
                        raise fail(
                            "HTTP 304 Not Modified to a request that sent no validator (no If-None-Match "
                            "or If-Modified-Since): a server error; nothing recorded"
                        )
                    if status == 304:
                        old = previous or Validators()
                        return FetchResult(
                            url=progress.url,
                            status=status,
                            body=None,
                            not_modified=True,
                            validators=Validators(
                                etag=etag or old.etag,
                                last_modified=last_modified or old.last_modified,
                                body_sha256=old.body_sha256,
                            ),
                            content_type=content_type,
                            elapsed=time.monotonic() - started,
                            headers=response_headers,
                        )
                    if not 200 <= status < 300:
                        reason = response.reason_phrase
                        wait = retry_after(response_headers) if status in (403, 429) else None
                        if wait is not None:
                            raise RateLimitError(
                                f"HTTP {status} {reason}".rstrip() + f": rate limited, retry in {wait:.0f}s",
                                source=source,
                                url=progress.url,
                                retry_after=wait,
                            )
                        raise fail(f"HTTP {status} {reason}".rstrip())
                    body, digest = await self._read_body(response, cap, fail)
            except AddressRefused as exc:
                where = f"redirect to {progress.url} refused: " if redirects else ""
                raise fail(f"{where}{exc}") from None
            except httpx.TimeoutException:
                raise fail(f"timed out after {_seconds(deadline)}") from None
            except httpx.ConnectError as exc:
                raise fail(f"connection failed: {connect_detail(exc)}") from None
            except httpx.DecodingError as exc:
                raise fail(f"could not decode the response body: {describe(exc)}") from None
            except httpx.InvalidURL as exc:
                raise fail(f"invalid URL: {describe(exc)}") from None
            except httpx.HTTPError as exc:
                raise fail(f"request failed: {type(exc).__name__}: {describe(exc)}") from None

            validators = Validators(etag=etag, last_modified=last_modified, body_sha256=digest)
            unchanged = previous is not None and previous.body_sha256 == digest
            return FetchResult(
                url=progress.url,
                status=status,
                body=None if unchanged else body,
                not_modified=unchanged,
                validators=validators,
                content_type=content_type,
                elapsed=time.monotonic() - started,
                headers=response_headers,
            )

    def _redirect_target(
        self,
        response: httpx.Response,
        current: httpx.URL,
        redirects: int,
        fail: _Fail,
    ) -> httpx.URL:
        location = response.headers.get("location")
        if not location:
            raise fail(f"HTTP {response.status_code} redirect without a Location header")
        try:
            target = current.join(location)
        except httpx.InvalidURL as exc:
            raise fail(f"redirect to invalid URL {location!r}: {describe(exc)}") from None
        if target.scheme not in ALLOWED_SCHEMES:
            raise fail(f"redirect to unsupported URL {location!r} (only http and https are followed)")
        if redirects >= self.max_redirects:
            raise fail(f"too many redirects (more than {self.max_redirects}); next was {str(target)!r}")
        return target

    @staticmethod
    async def _read_body(response: httpx.Response, cap: int, fail: _Fail) -> tuple[bytes, str]:
        """The decoded body, its length capped as it streams (decoded bytes, not wire bytes)."""
        declared = response.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > cap:
            raise fail(f"response body of {int(declared)} bytes exceeds the max_bytes cap of {cap} bytes")
        try:
            decoder = BoundedDecoder(content_coding(response.headers.get("content-encoding")), cap)
            chunks: list[bytes] = []
            digest = hashlib.sha256()
            async for raw in response.aiter_raw():
                for chunk in decoder.feed(raw):
                    digest.update(chunk)
                    chunks.append(chunk)
            decoder.flush()
        except BodyTooLarge as exc:
            if decoder.coding == "identity":
                raise fail(f"response body exceeds the max_bytes cap of {cap} bytes") from None
            raise fail(str(exc)) from None
        except DecodeFailure as exc:
            raise fail(f"could not decode the response body: {exc}") from None
        return b"".join(chunks), digest.hexdigest()
