"""Kind `roadmap_feed`: any Atom/RSS feed as a roadmap (every entry an item)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.config import RoadmapFeedSource
from bot.roadmap import RoadmapDocument
from bot.sources.base import KnownDocument, RoadmapFetch, Sleep, conditional_fetch, own
from bot.sources.http import HttpFetcher
from bot.sources.kinds.listing import ListingKind
from bot.sources.roadmap_feed import parse_roadmap_feed

if TYPE_CHECKING:
    from bot.config import SourceConfig

__all__ = ["ROADMAP_FEED", "RoadmapFeedKind"]


class RoadmapFeedKind(ListingKind):
    kind = "roadmap_feed"

    def documents(self, source: SourceConfig) -> list[tuple[str, str]]:
        source = own(source, RoadmapFeedSource)
        return [("feed", source.url)]

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
        source = own(source, RoadmapFeedSource)
        result, update = await conditional_fetch(fetcher, source=source.name, name=name, url=url, state=state)
        if not update.changed:
            out.updates.append(update)
            return
        assert result.body is not None
        items = await asyncio.to_thread(
            parse_roadmap_feed, result.body, source=source.name, project=source.project, url=url
        )
        out.documents.append(RoadmapDocument(name, tuple(items), complete=True))
        out.updates.append(update)


ROADMAP_FEED = RoadmapFeedKind()
