"""The source registry: each `kind` maps to one object that knows its documents, how to fetch them
and how to parse them (`bot.sources.base.SourceKind`).

Adding a kind: one module in `bot/sources/kinds/` and one entry in `KINDS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.sources.base import KnownDocument, ReleaseFetch, RoadmapFetch, Sleep, SourceFetch, SourceKind
from bot.sources.http import HttpFetcher
from bot.sources.kinds.feed import FEED
from bot.sources.kinds.flatcar import FLATCAR
from bot.sources.kinds.github_issues import GITHUB_ISSUES
from bot.sources.kinds.github_project import GITHUB_PROJECT
from bot.sources.kinds.roadmap_feed import ROADMAP_FEED

if TYPE_CHECKING:
    from bot.config import SourceConfig

__all__ = [
    "KINDS",
    "ReleaseFetch",
    "RoadmapFetch",
    "SourceFetch",
    "SourceKind",
    "fetch_roadmap",
    "fetch_source",
    "kind_of",
]

KINDS: Mapping[str, SourceKind] = {
    kind.kind: kind for kind in (FLATCAR, FEED, GITHUB_PROJECT, GITHUB_ISSUES, ROADMAP_FEED)
}


def kind_of(source: SourceConfig) -> SourceKind:
    try:
        return KINDS[source.kind]
    except KeyError:
        raise ValueError(f"source {source.name!r}: unknown kind {source.kind!r}") from None


async def fetch_source(
    fetcher: HttpFetcher,
    source: SourceConfig,
    states: Mapping[str, KnownDocument],
    *,
    sleep: Sleep = asyncio.sleep,
) -> SourceFetch:
    """Fetch every document of `source` (conditionally against `states`; `{}` fetches everything)."""
    return await kind_of(source).fetch(fetcher, source, states, sleep=sleep)


async def fetch_roadmap(
    fetcher: HttpFetcher,
    source: SourceConfig,
    states: Mapping[str, KnownDocument],
    *,
    sleep: Sleep = asyncio.sleep,
) -> RoadmapFetch:
    """`fetch_source` for a roadmap kind."""
    fetched = await fetch_source(fetcher, source, states, sleep=sleep)
    if not isinstance(fetched, RoadmapFetch):
        raise ValueError(f"source {source.name!r} (kind {source.kind!r}) is not a roadmap source")
    return fetched
