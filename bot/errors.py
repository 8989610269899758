"""One base exception; each subclass also derives from the builtin it means, so callers catch by meaning."""

from __future__ import annotations


class BotError(Exception):
    """Base of every error release-bot raises on purpose."""


class ConfigError(BotError, ValueError):
    """The configuration is wrong. The message names the file and the key path."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        where = ""
        if path and key:
            where = f"{path}: {key}: "
        elif path:
            where = f"{path}: "
        elif key:
            where = f"{key}: "
        super().__init__(f"{where}{message}")
        self.detail = message


class SourceError(BotError):
    """A source could not be fetched or parsed. The message names the source and URL."""

    def __init__(self, message: str, *, source: str, url: str | None = None) -> None:
        self.source = source
        self.url = url
        self.detail = message
        where = f"source {source!r}" + (f" ({url})" if url else "")
        super().__init__(f"{where}: {message}")


class FetchError(SourceError, ConnectionError):
    """The HTTP fetch failed: connection, timeout, status, size cap, redirect."""


class RateLimitError(FetchError):
    """The server asked us to slow down (HTTP 403/429 with `Retry-After`, or `X-RateLimit-Remaining: 0`).
    `retry_after` is how many seconds to wait before asking again."""

    def __init__(self, message: str, *, source: str, url: str | None = None, retry_after: float) -> None:
        super().__init__(message, source=source, url=url)
        self.retry_after = retry_after


class ParseError(SourceError, ValueError):
    """The fetched document is not what the source expects."""


class StoreError(BotError, RuntimeError):
    """The state database is unusable (e.g. written by a newer release-bot)."""


class RenderError(BotError, ValueError):
    """A template failed to render (undefined variable, syntax error, sandbox violation)."""


class DeliveryError(BotError, ConnectionError):
    """A sink could not deliver a message. `permanent` says whether retrying can help."""

    def __init__(self, message: str, *, sink: str, permanent: bool = False) -> None:
        self.sink = sink
        self.permanent = permanent
        super().__init__(f"sink {sink!r}: {message}")


class AuthenticationFailed(DeliveryError):
    """The server refused the sink's credentials: retrying with the same ones risks a lock-out."""
