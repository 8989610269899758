"""The source registry: each `kind` maps to one object that knows its documents, how to fetch them
and how to parse them (`bot.sources.base.SourceKind`).

Adding a kind: one module in `bot/sources/kinds/` and one entry in `_KIND_OBJECTS`. A kind's module
(and its parser) is imported the first time a source of that kind is looked up: a config of feeds
does not load the GitHub or Flatcar readers.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from bot.sources.base import KnownDocument, ReleaseFetch, RoadmapFetch, Sleep, SourceFetch, SourceKind
from bot.sources.http import HttpFetcher

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

#: kind → "module:object" of its `SourceKind`
_KIND_OBJECTS = {
    "flatcar": "bot.sources.kinds.flatcar:FLATCAR",
    "feed": "bot.sources.kinds.feed:FEED",
    "github_project": "bot.sources.kinds.github_project:GITHUB_PROJECT",
    "github_issues": "bot.sources.kinds.github_issues:GITHUB_ISSUES",
    "roadmap_feed": "bot.sources.kinds.roadmap_feed:ROADMAP_FEED",
}


class _Kinds(Mapping[str, SourceKind]):
    """The registry: a kind's module is imported when the kind is first looked up."""

    def __init__(self, targets: Mapping[str, str]) -> None:
        self._targets = dict(targets)
        self._loaded: dict[str, SourceKind] = {}

    def __getitem__(self, kind: str) -> SourceKind:
        loaded = self._loaded.get(kind)
        if loaded is None:
            module, _, name = self._targets[kind].partition(":")
            loaded = self._loaded[kind] = getattr(importlib.import_module(module), name)
        return loaded

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)


KINDS: Mapping[str, SourceKind] = _Kinds(_KIND_OBJECTS)


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
