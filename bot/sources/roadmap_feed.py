"""A generic Atom/RSS feed as a roadmap (kind `roadmap_feed`): every entry is an item, its categories
are its labels. Parsing only (pure); the fetch is `bot.sources.kinds.roadmap_feed`."""

from __future__ import annotations

import calendar
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.errors import ParseError
from bot.model import RoadmapItem
from bot.sources.feed import entry_identity, entry_link

__all__ = ["parse_roadmap_feed"]

#: Longest entry summary kept (the bot shows titles; the body is context for templates).
MAX_BODY = 2000


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _feed_time(value: Any) -> datetime | None:
    if not isinstance(value, tuple) or len(value) < 6:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def parse_roadmap_feed(body: bytes, *, source: str, project: str, url: str) -> list[RoadmapItem]:
    """Every entry of an Atom/RSS feed as an open item; its id is the entry's id (else link, else a hash
    of title and date); its categories are its labels."""
    from bot.sources.atomfast import load_feedparser

    feedparser = load_feedparser()  # imported when a feed is read

    parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    entries = list(parsed.get("entries") or ())
    if not entries and (not parsed.get("version") or parsed.get("bozo")):
        raise ParseError("not an Atom/RSS feed", source=source, url=url)
    items: list[RoadmapItem] = []
    seen: set[str] = set()
    for entry in entries:
        ident = entry_identity(entry)
        if ident in seen:
            continue
        seen.add(ident)
        tags = tuple(_text(t.get("term")) for t in entry.get("tags") or () if isinstance(t, Mapping))
        published = _feed_time(entry.get("published_parsed")) or _feed_time(entry.get("updated_parsed"))
        items.append(
            RoadmapItem(
                source=source,
                project=project,
                id=ident,
                title=_text(entry.get("title")) or ident,
                url=entry_link(entry, base=url),
                labels=tuple(t for t in tags if t),
                kind="entry",
                updated=_feed_time(entry.get("updated_parsed")) or published,
                created=published,
                body=_text(entry.get("summary"))[:MAX_BODY],
            )
        )
    return items
