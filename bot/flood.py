"""A flood summarised (issue 9, item 5): when one poll brings more new releases from one document than
the source's `flood_limit`, they are announced as one `SummaryEvent` instead of one by one. Pure.

The decision (`floods`) applies to documents already baselined; a baseline (first run, a channel added
later) announces exactly its `announce_on_first_run` newest releases, whatever the limit: that number
is the operator's own choice. The summarised releases are recorded as known like any other, so they
are never announced later one by one, and a re-poll finds nothing new to summarise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.model import SUMMARY_NEWEST, Event, SummaryEvent, SummaryRoute
from bot.security_index import release_security

__all__ = ["DEFAULT_FLOOD_LIMIT", "floods", "summarise"]

#: New releases of one document in one poll announced one by one; more become one summary.
DEFAULT_FLOOD_LIMIT = 20


def floods(count: int, limit: int) -> bool:
    """True when `count` new releases of one document are too many to announce one by one. A limit of
    0 turns summaries off."""
    return limit > 0 and count > limit


def summarise(document: str, events: Sequence[Event], *, newest: int = SUMMARY_NEWEST) -> SummaryEvent:
    """One summary of the release events one document brought, `events` oldest first (as detection
    orders them). It names the newest `newest` of them (notes left out: the summary stays small
    however long the notes were) and keeps where each would have been routed."""
    if not events:
        raise ValueError(f"document {document!r}: nothing to summarise")
    top = [replace(e.release, notes="") for e in reversed(events[-newest:])]
    routes: dict[SummaryRoute, None] = {}
    for event in events:
        release = event.release
        fixes = len(release_security(release))
        routes.setdefault(SummaryRoute(release.channel, release.stream, event.kind, fixes > 0), None)
    dated = [e.release.published for e in events if e.release.published is not None]
    first = events[0].release
    return SummaryEvent(
        source=first.source,
        project=first.project,
        document=document,
        count=len(events),
        newest=tuple(top),
        oldest_published=min(dated) if dated else None,
        routes=tuple(routes),
    )
