"""The URLs of fetches: split and checked, the request target, the origin, the form errors show."""

from __future__ import annotations

import functools
from urllib.parse import SplitResult, quote, urlsplit

__all__ = [
    "ALLOWED_SCHEMES",
    "ascii_host",
    "host_of",
    "origin",
    "parse_url",
    "port_of",
    "request_target",
    "shown",
]

ALLOWED_SCHEMES = frozenset({"http", "https"})

# characters left as they are in a request target; anything else (spaces, non-ASCII) is %-encoded
TARGET_SAFE = "/?&=%:@!$'()*+,;~-._[]"


@functools.lru_cache(maxsize=4096)
def parse_url(text: str) -> SplitResult:
    """`text` split, with its port and host checked (ValueError says what is wrong). Remembered: a
    source's URL is parsed on every poll."""
    url = urlsplit(text.strip())
    if url.scheme in ALLOWED_SCHEMES:
        if not url.hostname:
            raise ValueError(f"no host in {text!r}")
        _ = url.port  # raises ValueError for a port out of range or not a number
    return url


def ascii_host(host: str) -> str:
    try:
        host.encode("ascii")
        return host
    except UnicodeEncodeError:
        try:
            return host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"invalid host name {host!r}: {exc}") from None


def host_of(url: SplitResult) -> str:
    return ascii_host((url.hostname or "").lower())


def port_of(url: SplitResult) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def origin(url: SplitResult) -> tuple[str, str, int]:
    return url.scheme, host_of(url), port_of(url)


def request_target(url: SplitResult) -> str:
    target = quote(url.path or "/", safe=TARGET_SAFE)
    if url.query:
        target += "?" + quote(url.query, safe=TARGET_SAFE)
    return target


def shown(url: SplitResult) -> str:
    """The URL as errors and results name it: without a fragment, a password masked."""
    netloc = url.netloc
    if url.password is not None:
        netloc = netloc.replace(":" + url.password + "@", ":[secure]@", 1)
    return url._replace(netloc=netloc, fragment="").geturl()
