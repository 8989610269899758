"""Kind `feed`: one Atom/RSS feed of releases (one stream)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import FeedSource
from bot.model import Document
from bot.sources.base import own
from bot.sources.kinds.releases import ReleaseKind

if TYPE_CHECKING:
    from bot.config import SourceConfig

__all__ = ["FEED", "FeedKind"]


class FeedKind(ReleaseKind):
    kind = "feed"

    def documents(self, source: SourceConfig) -> list[tuple[str, str]]:
        source = own(source, FeedSource)
        return [("feed", source.url)]

    def parse(self, source: SourceConfig, name: str, url: str, body: bytes) -> tuple[Document, list[str]]:
        document, notes, _ = self.read(source, name, url, body, None)
        return document, notes

    def read(
        self, source: SourceConfig, name: str, url: str, body: bytes, remembered: bytes | None
    ) -> tuple[Document, list[str], bytes | None]:
        from bot.sources.feed import parse_feed  # the parser loads with the first body to read

        source = own(source, FeedSource)
        result = parse_feed(
            body,
            source=source.name,
            project=source.project,
            stream=source.stream,
            url=url,
            version_pattern=source.version_pattern,
            doc_name=name,
            remembered=remembered,
        )
        return result.document, list(result.warnings), result.entries


FEED = FeedKind()
