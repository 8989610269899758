"""What one HTTP fetch returns, and how its failures and rate limits read: plain data and header
parsing, apart from the client in `bot.sources.http` (which re-exports these names)."""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["FetchResult", "Validators", "connect_detail", "describe", "retry_after"]


@dataclass(frozen=True)
class Validators:
    """What to remember about a fetched document so the next fetch can be conditional."""

    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one successful fetch."""

    url: str  # final URL after redirects
    status: int  # 200 (or another 2xx), or 304
    body: bytes | None  # None when not_modified
    not_modified: bool  # 304, or a 200 whose body hashes to previous.body_sha256
    validators: Validators  # what to store for next time
    content_type: str | None  # the raw Content-Type header, e.g. "text/html; charset=utf-8"
    elapsed: float  # seconds, the whole fetch including redirects
    headers: Mapping[str, str] = field(default_factory=dict)  # of the final response, names lower-case


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def connect_detail(exc: BaseException) -> str:
    """The root cause of a connection failure, e.g. "[Errno 111] Connection refused".

    httpx (via anyio) often wraps it as "All connection attempts failed"; the chain has the real error.
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {describe(cause)}"
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed: [Errno {cause.errno}] {cause.strerror}"
        if isinstance(cause, OSError) and cause.errno is not None:
            return f"[Errno {cause.errno}] {os.strerror(cause.errno)}"
        cause = cause.__cause__ or cause.__context__
    return describe(exc)


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait before asking again, from `Retry-After` (seconds or an HTTP date) or from GitHub's
    `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset` (epoch seconds); None when neither says so.
    Header names are lower-case."""
    from email.utils import parsedate_to_datetime

    clock = time.time() if now is None else now
    value = (headers.get("retry-after") or "").strip()
    if value:
        if value.isdigit():
            return float(value)
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - clock)
        except (TypeError, ValueError):
            pass
    if (headers.get("x-ratelimit-remaining") or "").strip() == "0":
        reset = (headers.get("x-ratelimit-reset") or "").strip()
        if reset.isdigit():
            return max(0.0, float(reset) - clock)
        return 60.0
    return None
