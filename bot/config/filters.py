"""`Filter`: which events an output (or an IRC channel, or a mail digest) receives — the `filter` table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.config.table import Table
from bot.model import EVENT_KINDS


@dataclass(frozen=True)
class Filter:
    """Which events an output receives. An empty tuple means 'all'."""

    sources: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()  # matches a release's channel or its stream (e.g. "lts" or "lts-2024")
    kinds: tuple[str, ...] = ()
    #: only releases and promotions whose notes list at least one security fix (CVE or GHSA id)
    security: bool = False

    def matches(self, *, source: str, channel: str, stream: str, kind: str, fixes: int | None = None) -> bool:
        """`fixes`: how many security fixes the release lists (None: not a release); `bot.routing.passes`
        works it out from an event."""
        return (
            (not self.sources or source in self.sources)
            and (not self.channels or channel in self.channels or stream in self.channels)
            and (not self.kinds or kind in self.kinds)
            and (not self.security or bool(fixes))
        )


def parse_filter(table: Table, source_names: Sequence[str]) -> Filter:
    """The `filter` sub-table of `table` (all events when it is absent)."""
    found = table.table("filter")
    result = Filter(
        sources=found.str_list("sources", choices=source_names),
        channels=found.str_list("channels"),
        kinds=found.str_list("kinds", choices=EVENT_KINDS),
        security=found.boolean("security", False),
    )
    found.finish()
    return result
