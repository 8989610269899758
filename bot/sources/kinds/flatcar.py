"""Kind `flatcar`: one `releases-<channel>.json` per channel and LTS stream under `base_url`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import FlatcarSource
from bot.model import Document
from bot.sources.base import own
from bot.sources.flatcar import parse_releases_json
from bot.sources.kinds.releases import ReleaseKind

if TYPE_CHECKING:
    from bot.config import SourceConfig

__all__ = ["FLATCAR", "FlatcarKind"]


class FlatcarKind(ReleaseKind):
    kind = "flatcar"
    deprecation_notes = True

    def documents(self, source: SourceConfig) -> list[tuple[str, str]]:
        source = own(source, FlatcarSource)
        base = source.base_url if source.base_url.endswith("/") else source.base_url + "/"
        names = [f"releases-{c}.json" for c in (*source.channels, *source.lts_streams)]
        return [(name, base + name) for name in names]

    def parse(self, source: SourceConfig, name: str, url: str, body: bytes) -> tuple[Document, list[str]]:
        source = own(source, FlatcarSource)
        document = parse_releases_json(
            body,
            source=source.name,
            project=source.project,
            url=url,
            doc_name=name,
            release_link=source.release_link,
        )
        return document, []


FLATCAR = FlatcarKind()
