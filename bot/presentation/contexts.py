"""From an event to what templates see. Pure."""

from __future__ import annotations

from typing import Any

from bot.channels import stream_label
from bot.model import KEY_PACKAGES, AnyEvent, DeprecationEvent, RoadmapEvent, SummaryEvent

#: Bytes of the security summary in a one-line announcement (shortened further when the line is long).
SECURITY_SUMMARY_BYTES = 120


def key_packages(packages: dict[str, str] | Any) -> list[tuple[str, str]]:
    """(name, version) of the packages an announcement names, in KEY_PACKAGES order."""
    return [(name, packages[name]) for name in KEY_PACKAGES if name in packages]


def event_context(event: AnyEvent, *, summary_bytes: int = SECURITY_SUMMARY_BYTES) -> dict[str, Any]:
    """Everything a template may use. Text fields are untrusted: templates pass them through filters.
    A release's security fixes: `security` (the index), `security_summary` (at most `summary_bytes`),
    `security_list` (one line per package, then each id with its link)."""
    if isinstance(event, DeprecationEvent):
        return deprecation_context(event)
    if isinstance(event, RoadmapEvent):
        return roadmap_context(event)
    if isinstance(event, SummaryEvent):
        return summary_context(event)
    # the security answers load when an event is first rendered (`key_packages` alone, for `!release`,
    # does not need them)
    from bot.security import release_security, template_vars

    release = event.release
    return {
        "event": event,
        "kind": event.kind,
        "release": release,
        "project": release.project,
        "source": release.source,
        "channel": release.channel,
        "stream": release.stream,
        "version": release.version,
        "major": release.major,
        "label": stream_label(release.channel, release.stream),
        "published": release.published,
        "link": release.link,
        "packages": key_packages(release.packages),
        "all_packages": sorted(release.packages.items()),
        "previous": event.previous,
        "promoted_from": event.promoted_from,
        "changes": list(event.changes),
        "key_changes": [c for c in event.changes if c.name in KEY_PACKAGES],
        **template_vars(release_security(release), budget=summary_bytes),
    }


def deprecation_context(event: DeprecationEvent) -> dict[str, Any]:
    """What deprecation templates see: the notice, where it first appeared, and the channel and release
    this event is about (the same, for a notice first seen)."""
    from bot.deprecations import shorten

    notice, reach = event.notice, event.reach
    return {
        "event": event,
        "kind": event.kind,
        "stage": event.stage,  # "new" or "reached"
        "notice": notice,
        "project": notice.project,
        "source": notice.source,
        "channel": reach.channel,
        "stream": reach.stream,
        "label": stream_label(reach.channel, reach.stream),
        "version": reach.version,
        "major": reach.version.split(".", 1)[0] if reach.version else None,
        "published": reach.published,
        "link": reach.link or notice.link,
        "text": notice.text,
        "summary": notice.summary,
        "short": shorten(notice.summary, 220),
        "heading": notice.heading,
        "notice_links": list(notice.links),
        "first_channel": notice.channel,
        "first_label": stream_label(notice.channel, notice.stream),
        "first_version": notice.version,
        "first_published": notice.published,
        "first_link": notice.link,
    }


def roadmap_context(event: RoadmapEvent) -> dict[str, Any]:
    """What roadmap templates see: the item, what changed, and its previous status."""
    from bot.deprecations import shorten

    item = event.item
    return {
        "event": event,
        "kind": event.kind,
        "change": event.change,  # "new", "status" or "closed"
        "item": item,
        "project": item.project,
        "source": item.source,
        "channel": "roadmap",
        "stream": "roadmap",
        "label": "roadmap",
        "version": item.id,
        "title": item.title,
        "short": shorten(item.title, 200),
        "status": item.status,
        "previous_status": event.previous_status,
        "state": item.state,
        "labels": list(item.labels),
        "number": item.number,
        "repo": item.repo,
        "published": item.updated,
        "link": item.url,
    }


def summary_context(event: SummaryEvent) -> dict[str, Any]:
    """What summary templates see: how many new releases one document brought (`count`), where
    (`document`, and `where`: "releases-stable.json", or "feed NAME" for a feed source), the newest few
    (`newest`: each with version, title, label, published and link, newest first), how many more
    (`more`) and the oldest release date (`oldest_published`)."""
    newest = [
        {
            "version": r.version,
            "title": r.title,
            "label": stream_label(r.channel, r.stream),
            "channel": r.channel,
            "stream": r.stream,
            "published": r.published,
            "link": r.link,
            "release": r,
        }
        for r in event.newest
    ]
    return {
        "event": event,
        "kind": event.kind,
        "project": event.project,
        "source": event.source,
        "document": event.document,
        "where": f"feed {event.source}" if event.document == "feed" else event.document,
        "count": event.count,
        "newest": newest,
        "more": event.count - len(newest),
        "oldest_published": event.oldest_published,
        "channel": event.channel,
        "stream": event.stream,
        "label": stream_label(event.channel, event.stream),
        "version": event.version,
        "published": event.published,
        "link": event.link,
        "summary": event.summary,
    }
