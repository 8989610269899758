"""Whether an event passes a routing filter (`filter` of an output, an IRC channel, a digest). Pure.

`Filter` (bot.config) matches on what every event has; the `security` flag also needs the security
fixes a release's notes list, which this module reads (`bot.security_index`). A summary of a flood
(`SummaryEvent`) passes where at least one of the releases it summarises would have passed, or
where `filter.kinds` names "summary"."""

from __future__ import annotations

from bot.config import Filter
from bot.model import AnyEvent, Event, SummaryEvent
from bot.security_index import release_security


def passes(route: Filter, event: AnyEvent) -> bool:
    """True if `event` passes `route`."""
    if isinstance(event, SummaryEvent):
        named = "summary" in route.kinds
        return any(
            route.matches(
                source=event.source,
                channel=r.channel,
                stream=r.stream,
                kind="summary" if named else r.kind,
                fixes=int(r.security),
            )
            for r in event.routes
        )
    # (the notes are read only for a filter that asks for security fixes)
    fixes = len(release_security(event.release)) if route.security and isinstance(event, Event) else None
    return route.matches(
        source=event.source, channel=event.channel, stream=event.stream, kind=event.kind, fixes=fixes
    )
