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
import base64
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self, TypeAlias
from urllib.parse import SplitResult, unquote, urljoin

from bot.errors import FetchError, RateLimitError
from bot.sources.decode import BodyTooLarge, BoundedDecoder, DecodeFailure, content_coding
from bot.sources.fetchresult import FetchResult, Validators, connect_detail, describe, retry_after
from bot.sources.netguard import AddressRefused, Resolver, classes_of, resolve, system_resolver
from bot.sources.urls import (
    ALLOWED_SCHEMES,
    ascii_host,
    host_of,
    origin,
    parse_url,
    port_of,
    request_target,
    shown,
)
from bot.sources.wire import ConnectFailed, Connector, Pool, ProtocolFailure, Response, open_tcp
from bot.text import sanitize

__all__ = ["FetchResult", "HttpFetcher", "Validators", "retry_after"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

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
        resolver: Resolver | None = None,
        allow_address_classes: frozenset[str] = frozenset(),
        connector: Connector | None = None,
    ) -> None:
        """`resolver` resolves host names (default: the system's getaddrinfo); `allow_address_classes`
        ('loopback', 'link-local', 'private', 'unspecified') are allowed for every fetch, as if each
        configured URL pointed there; `connector` opens the TCP connections to checked addresses
        (tests map addresses to loopback servers with it)."""
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
        self.resolver: Resolver = resolver or system_resolver
        self.allow_address_classes = frozenset(allow_address_classes)
        self._pool = Pool(resolver=self.resolver, connector=connector or open_tcp)
        self._base_headers = [("User-Agent", user_agent), ("Accept", "*/*"), ("Accept-Encoding", "gzip")]
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
        """Close the pooled connections. Safe to call more than once; a later fetch opens new ones."""
        self._pool.close()

    async def _allowed_classes(self, url: SplitResult, fail: _Fail) -> frozenset[str]:
        """The non-public address classes this fetch may reach: those the configured URL points to."""
        try:
            addresses = await resolve(host_of(url), port_of(url), self.resolver)
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
            current = parse_url(progress.url)
        except ValueError as exc:
            raise fail(f"invalid URL: {describe(exc)}") from None
        if current.scheme not in ALLOWED_SCHEMES:
            raise fail(f"unsupported URL scheme {current.scheme!r} (only http and https)")

        allowed = await self._allowed_classes(current, fail)
        validator_sent = any(
            k.lower() in ("if-none-match", "if-modified-since") for k, v in request_headers.items() if v
        )
        redirects = 0
        while True:
            progress.url = shown(current)
            response: Response | None = None
            try:
                response = await self._pool.request(
                    allowed=allowed,
                    scheme=current.scheme,
                    host=host_of(current),
                    port=port_of(current),
                    method=method,
                    target=request_target(current),
                    headers=self._headers(current, request_headers, content),
                    content=content,
                )
                status = response.status
                if status in REDIRECT_STATUSES:
                    target = self._redirect_target(response, current, redirects, fail)
                    await response.drain()
                    if origin(target) != origin(current):
                        # credentials are for the origin they were configured for, never another host
                        request_headers = {
                            k: v for k, v in request_headers.items() if k.lower() not in _CREDENTIAL_HEADERS
                        }
                    current = target
                    redirects += 1
                    if status == 303 or (status in (301, 302) and method != "GET"):
                        method, content = "GET", None
                    continue
                response_headers = response.headers
                content_type = response_headers.get("content-type")
                etag = response_headers.get("etag")
                last_modified = response_headers.get("last-modified")
                if status == 304 and not validator_sent:
                    raise fail(
                        "HTTP 304 Not Modified to a request that sent no validator (no If-None-Match "
                        "or If-Modified-Since): a server error; nothing recorded"
                    )
                if status == 304:
                    await response.drain()  # to its end: the connection goes back to the pool
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
                    reason = response.reason
                    wait = retry_after(response_headers) if status in (403, 429) else None
                    await response.drain()
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
            except ConnectFailed as exc:
                raise fail(f"connection failed: {connect_detail(exc)}") from None
            except ProtocolFailure as exc:
                raise fail(f"request failed: {describe(exc)}") from None
            finally:
                if response is not None:
                    response.close()

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

    def _headers(
        self, url: SplitResult, extra: Mapping[str, str], content: bytes | None
    ) -> list[tuple[str, str]]:
        """Host, the client's defaults, credentials of the URL, then the request's own (which win)."""
        port = url.port
        host = url.hostname or ""
        host = f"[{host}]" if ":" in host else ascii_host(host)
        headers = {"host": ("Host", host if port is None else f"{host}:{port}")}
        for name, value in self._base_headers:
            headers[name.lower()] = (name, value)
        if url.username is not None:
            pair = f"{unquote(url.username)}:{unquote(url.password or '')}".encode()
            headers["authorization"] = ("Authorization", "Basic " + base64.b64encode(pair).decode("ascii"))
        if content is not None:
            headers["content-length"] = ("Content-Length", str(len(content)))
        for name, value in extra.items():
            headers[name.lower()] = (name, value)
        return list(headers.values())

    def _redirect_target(
        self,
        response: Response,
        current: SplitResult,
        redirects: int,
        fail: _Fail,
    ) -> SplitResult:
        location = response.headers.get("location")
        if not location:
            raise fail(f"HTTP {response.status} redirect without a Location header")
        try:
            target = parse_url(urljoin(current.geturl(), location.strip()))
        except ValueError as exc:
            raise fail(f"redirect to invalid URL {location!r}: {describe(exc)}") from None
        if target.scheme not in ALLOWED_SCHEMES:
            raise fail(f"redirect to unsupported URL {location!r} (only http and https are followed)")
        if redirects >= self.max_redirects:
            raise fail(f"too many redirects (more than {self.max_redirects}); next was {shown(target)!r}")
        return target

    @staticmethod
    async def _read_body(response: Response, cap: int, fail: _Fail) -> tuple[bytes, str]:
        """The decoded body, its length capped as it streams (decoded bytes, not wire bytes)."""
        declared = response.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > cap:
            raise fail(f"response body of {int(declared)} bytes exceeds the max_bytes cap of {cap} bytes")
        try:
            decoder = BoundedDecoder(content_coding(response.headers.get("content-encoding")), cap)
            chunks: list[bytes] = []
            digest = hashlib.sha256()
            async for raw in response.chunks():
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
