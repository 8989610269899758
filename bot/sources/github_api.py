"""GitHub API plumbing shared by the GitHub source kinds: request headers, `Link` pagination, and
rate limits (wait out a short one, stop the poll for a long one).

A 403/429 that says when to come back (`Retry-After`, `X-RateLimit-Remaining: 0` with
`X-RateLimit-Reset`), a GraphQL `RATE_LIMITED` error, or a page that leaves no requests for the next
one: the fetch waits when that is at most `rate_limit_wait`, otherwise it stops and reports when to
poll again (`SourceFetch.retry_after`) instead of failing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from bot.errors import RateLimitError
from bot.sources.base import Sleep
from bot.sources.http import retry_after

if TYPE_CHECKING:
    from bot.config import GithubSource

__all__ = ["Deferred", "github_headers", "next_link", "origin", "pace", "patiently"]

log = logging.getLogger("release-bot")

T = TypeVar("T")


class Deferred(Exception):
    """Rate limited for longer than the source may wait: stop this poll."""

    def __init__(self, error: RateLimitError) -> None:
        super().__init__(str(error))
        self.error = error


def github_headers(token: str | None, *, json_body: bool = False) -> dict[str, str]:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if json_body:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([^";]+)"?')


def next_link(header: str | None) -> str | None:
    """The `rel="next"` URL of an RFC 8288 Link header (GitHub's pagination), or None."""
    for url, rels in _LINK.findall(header or ""):
        if "next" in rels.split():
            return str(url)
    return None


def origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL; None when it has none (or a bad port)."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port) if parts.hostname else None


async def patiently(call: Callable[[], Awaitable[T]], *, source: GithubSource, sleep: Sleep) -> T:
    """`call()`, waiting out one rate limit of at most `rate_limit_wait` seconds."""
    try:
        return await call()
    except RateLimitError as exc:
        if exc.retry_after > source.rate_limit_wait:
            raise Deferred(exc) from exc
        log.info("source %s: rate limited; waiting %.0f s", source.name, exc.retry_after)
        await sleep(exc.retry_after)
    try:
        return await call()
    except RateLimitError as exc:
        raise Deferred(exc) from exc


async def pace(headers: Mapping[str, str], *, source: GithubSource, url: str, sleep: Sleep) -> None:
    """Before asking for another page: when the last answer left no requests, wait for the reset (if
    that is short enough) or stop."""
    if (headers.get("x-ratelimit-remaining") or "").strip() != "0":
        return
    wait = retry_after(headers) or 0.0
    if wait > source.rate_limit_wait:
        raise Deferred(
            RateLimitError(
                f"rate limit exhausted, resets in {wait:.0f}s", source=source.name, url=url, retry_after=wait
            )
        )
    if wait > 0:
        log.info("source %s: rate limit exhausted; waiting %.0f s for the reset", source.name, wait)
        await sleep(wait)
