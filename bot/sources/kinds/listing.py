"""What the roadmap kinds share: read each listing in turn, collect errors per listing, stop the poll
(with `retry_after`) on a rate limit longer than `rate_limit_wait`."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.errors import SourceError
from bot.sources.base import KnownDocument, RoadmapFetch, Sleep
from bot.sources.github_api import Deferred
from bot.sources.http import HttpFetcher

if TYPE_CHECKING:
    from bot.config import SourceConfig

__all__ = ["ListingKind"]


class ListingKind(ABC):
    """A kind of source that lists plans (roadmap items)."""

    kind: str
    roadmap = True

    @abstractmethod
    def documents(self, source: SourceConfig) -> list[tuple[str, str]]: ...

    @abstractmethod
    async def fetch_one(
        self,
        fetcher: HttpFetcher,
        source: SourceConfig,
        name: str,
        url: str,
        state: KnownDocument | None,
        out: RoadmapFetch,
        *,
        sleep: Sleep,
    ) -> None:
        """Read one listing into `out`; raise SourceError, or Deferred for a long rate limit."""

    async def fetch(
        self,
        fetcher: HttpFetcher,
        source: SourceConfig,
        states: Mapping[str, KnownDocument],
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> RoadmapFetch:
        pairs = self.documents(source)
        out = RoadmapFetch(every_document=tuple(name for name, _ in pairs))
        for name, url in pairs:
            try:
                await self.fetch_one(fetcher, source, name, url, states.get(name), out, sleep=sleep)
            except Deferred as deferred:
                out.retry_after = deferred.error.retry_after
                out.rate_limited = str(deferred.error)
                break
            except SourceError as exc:
                out.errors.append(str(exc))
        return out
