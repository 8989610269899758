"""What the release kinds (flatcar, feed) share: fetch every document conditionally and in parallel,
parse each changed body (a large one off the event loop: `bot.cputurn`), keep the configured order."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.cputurn import INLINE_PARSE_BYTES, cpu_turn
from bot.errors import SourceError
from bot.model import Document
from bot.sources.base import KnownDocument, ReleaseFetch, Sleep, conditional_fetch
from bot.sources.http import HttpFetcher

if TYPE_CHECKING:
    from bot.config import SourceConfig

__all__ = ["ReleaseKind"]


class ReleaseKind(ABC):
    """A kind of source that lists releases: documents of releases, each parsed into a Document."""

    kind: str
    roadmap = False
    deprecation_notes = False  # the release notes announce deprecations

    @abstractmethod
    def documents(self, source: SourceConfig) -> list[tuple[str, str]]: ...

    @abstractmethod
    def parse(self, source: SourceConfig, name: str, url: str, body: bytes) -> tuple[Document, list[str]]:
        """One fetched body → (document, parser warnings). CPU-bound: a large body is parsed in a
        worker thread, a small one on the loop in its CPU turn."""

    def read(
        self, source: SourceConfig, name: str, url: str, body: bytes, remembered: bytes | None
    ) -> tuple[Document, list[str], bytes | None]:
        """`parse`, given the memo stored from the document's last reading and giving the memo of
        this one (`bot.sources.feedmemo`); kinds without one keep none."""
        document, notes = self.parse(source, name, url, body)
        return document, notes, None

    async def fetch(
        self,
        fetcher: HttpFetcher,
        source: SourceConfig,
        states: Mapping[str, KnownDocument],
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> ReleaseFetch:
        out = ReleaseFetch(deprecation_notes=self.deprecation_notes)
        parsed: list[Document] = []

        async def one(name: str, url: str) -> None:
            try:
                result, update = await conditional_fetch(
                    fetcher, source=source.name, name=name, url=url, state=states.get(name)
                )
                if not update.changed:
                    out.updates.append(update)
                    return
                body = result.body
                assert body is not None
                state = states.get(name)
                remembered = state.entries if state is not None and state.url == url else None
                if len(body) <= INLINE_PARSE_BYTES:  # cheaper on the loop than a hop to a thread
                    async with cpu_turn():
                        document, notes, entries = self.read(source, name, url, body, remembered)
                else:
                    document, notes, entries = await asyncio.to_thread(
                        self.read, source, name, url, body, remembered
                    )
                if entries is not None:
                    update = replace(update, entries=entries)
            except SourceError as exc:
                out.errors.append(str(exc))
                return
            parsed.append(document)
            out.updates.append(update)
            out.warnings.extend(f"source {source.name!r} ({url}): {w}" for w in notes)

        pairs = self.documents(source)
        if len(pairs) == 1:
            await one(*pairs[0])  # a feed: no task of its own
        else:
            await asyncio.gather(*(one(name, url) for name, url in pairs))
        # keep the configured order so detection is deterministic
        order = {name: i for i, (name, _) in enumerate(pairs)}
        out.documents = sorted(parsed, key=lambda d: order[d.name])
        return out
