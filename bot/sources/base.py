"""What every source kind shares: the fetch outcome types, the kind protocol, and the one
conditional-fetch step (validators in, validators out).

Sources never import the store: they read what the store remembers about a document through the
`KnownDocument` protocol and hand back `DocumentUpdate`s the pipeline records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Protocol, TypeVar

from bot.fetched import DocumentUpdate, ReleaseFetch, RoadmapFetch, SourceFetch
from bot.sources.http import FetchResult, HttpFetcher, Validators

if TYPE_CHECKING:
    from bot.config import SourceConfig

__all__ = [
    "DocumentUpdate",
    "KnownDocument",
    "ReleaseFetch",
    "RoadmapFetch",
    "Sleep",
    "SourceFetch",
    "SourceKind",
    "conditional_fetch",
    "own",
    "previous_validators",
    "update_of",
]

Sleep = Callable[[float], Awaitable[None]]

S = TypeVar("S")


def own(source: SourceConfig, kind: type[S]) -> S:
    """`source` as its kind's own config class. The registry dispatches by `source.kind`, so this
    holds; a mismatch is a programming error and says which source and kind it was."""
    if not isinstance(source, kind):
        raise TypeError(f"source {source.name!r} (kind {source.kind!r}) is not a {kind.__name__}")
    return source


class KnownDocument(Protocol):
    """What the store remembers about a fetched document (the store's DocumentState fits)."""

    @property
    def url(self) -> str: ...
    @property
    def etag(self) -> str | None: ...
    @property
    def last_modified(self) -> str | None: ...
    @property
    def body_sha256(self) -> str | None: ...
    @property
    def entries(self) -> bytes | None:
        """The memo of the entries at the last reading (`bot.sources.feedmemo`)."""
        ...


class SourceKind(Protocol):
    """One kind of source: which documents it has, how to fetch and parse them."""

    @property
    def kind(self) -> str: ...

    @property
    def roadmap(self) -> bool:
        """True for kinds that watch plans (roadmap items) rather than releases."""
        ...

    def documents(self, source: SourceConfig) -> list[tuple[str, str]]:
        """(document name, URL) pairs the source fetches, in a fixed order."""
        ...

    async def fetch(
        self,
        fetcher: HttpFetcher,
        source: SourceConfig,
        states: Mapping[str, KnownDocument],
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> SourceFetch:
        """Fetch (conditionally, against `states`) and parse every document. Never raises a
        SourceError: errors are collected in the result."""
        ...


def previous_validators(state: KnownDocument | None, url: str) -> Validators | None:
    """The validators to send with a fetch of `url`: only those stored for the same URL."""
    if state is None or state.url != url:
        return None
    return Validators(state.etag, state.last_modified, state.body_sha256)


def update_of(name: str, url: str, result: FetchResult, *, changed: bool) -> DocumentUpdate:
    v = result.validators
    return DocumentUpdate(name, url, v.etag, v.last_modified, v.body_sha256, changed)


async def conditional_fetch(
    fetcher: HttpFetcher,
    *,
    source: str,
    name: str,
    url: str,
    state: KnownDocument | None,
    headers: Mapping[str, str] | None = None,
) -> tuple[FetchResult, DocumentUpdate]:
    """GET `url` with the stored validators; the update to record (changed=False for a 304 or an
    identical body). When not modified, the result has no body."""
    previous = previous_validators(state, url)
    result = await fetcher.fetch(url, source=source, previous=previous, headers=headers)
    return result, update_of(name, url, result, changed=not result.not_modified)
