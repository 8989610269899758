"""Whether an event passes a routing filter (`filter` of an output, an IRC channel, a digest). Pure.

`Filter` (bot.config) matches on what every event has; the `security` flag also needs the security
fixes a release's notes list, which this module reads (`bot.security_index`)."""

from __future__ import annotations

from bot.config import Filter
from bot.model import AnyEvent, Event
from bot.security_index import release_security


def passes(route: Filter, event: AnyEvent) -> bool:
    """True if `event` passes `route`."""
    fixes = len(release_security(event.release)) if isinstance(event, Event) else None
    return route.matches(
        source=event.source, channel=event.channel, stream=event.stream, kind=event.kind, fixes=fixes
    )
