"""What a mail digest says (pure): its sections by event kind, grouped by project and channel, and
its stable Message-ID. `bot.digest` decides when a digest is due and queues it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from bot.channels import stream_label, stream_order
from bot.model import KEY_PACKAGES, AnyEvent, Event, version_key
from bot.presentation import event_context
from bot.presentation.ids import fit_message_id
from bot.presentation.mailcontext import safe_link
from bot.security import release_security, summary_line

#: Section titles of the kinds we know; any other kind gets a section titled after it.
SECTION_TITLES = {"release": "Releases", "deprecation": "Deprecations", "roadmap": "Roadmap"}
#: Kinds shown together in the "Releases" section (a promotion is a release that opens a channel).
RELEASE_KINDS = ("release", "promotion")
_UNSAFE = re.compile(r"[^A-Za-z0-9.+_-]+")


def digest_message_id(output: str, period_end: datetime, *, domain: str) -> str:
    """Stable per (output, period): a retried or re-queued digest keeps its Message-ID.

    Unique per recorded period too: a period end with a fraction of a second (`digest --send-now`)
    keeps it, so it never shares its Message-ID with a scheduled digest ending in the same second — a
    list server would drop the second mail as a duplicate."""
    end = period_end.astimezone(UTC)
    stamp = end.strftime("%Y%m%dT%H%M%S") + (f".{end.microsecond:06d}" if end.microsecond else "") + "Z"
    return fit_message_id(f"digest.{_UNSAFE.sub('_', output)}.{stamp}", domain)


def section_title(kind: str) -> str:
    return SECTION_TITLES.get(kind) or kind.replace("_", " ").replace("-", " ").capitalize()


def _first_attr(obj: object, paths: Sequence[str]) -> Any:
    """The first non-empty attribute of `obj` along dotted `paths` (e.g. "notice.summary")."""
    for path in paths:
        value: Any = obj
        for name in path.split("."):
            value = getattr(value, name, None)
        if value:
            return value
    return None


def _item(event: Any) -> dict[str, Any]:
    """One line of the digest. Releases and promotions get the full announcement context; any other
    kind (deprecations, roadmap changes, kinds added later) a generic one from what every event has."""
    if isinstance(event, Event):
        context = event_context(event)
        key_changes = [c for c in event.changes if c.name in KEY_PACKAGES]
        others = len(event.changes) - len(key_changes)
        said = [f"{c.name} {c.old or '(new)'} -> {c.new or '(removed)'}" for c in key_changes]
        if others:
            said.append(f"{others} other package{'s' if others != 1 else ''} changed")
        context.update(
            key=event.key,
            link_href=safe_link(event.release.link),
            other_changes=others,
            packages_text=", ".join(f"{name} {version}" for name, version in context["packages"]),
            changes_text=", ".join(said) if said else "no package changed",
            title=event.release.title,
            generic=False,
        )
        return context
    title = _first_attr(event, ("summary", "title", "notice.summary", "item.title", "release.title"))
    link = _first_attr(event, ("link", "url", "reach.link", "notice.link", "item.url", "release.link"))
    return {
        "event": event,
        "kind": event.kind,
        "key": event.key,
        "project": event.project,
        "source": event.source,
        "channel": event.channel,
        "stream": event.stream,
        "label": stream_label(event.channel, event.stream),
        "version": event.version,
        "published": event.published,
        "title": str(title) if title else event.key,
        "change": _first_attr(event, ("stage", "change")),
        "link": link if isinstance(link, str) else None,
        "link_href": safe_link(link),
        "packages": [],
        "packages_text": "",
        "key_changes": [],
        "other_changes": 0,
        "changes_text": "",
        "promoted_from": None,
        "generic": True,
    }


def security_section(events: Sequence[tuple[int, AnyEvent]]) -> list[dict[str, Any]]:
    """The security fixes of the period, per project and channel/stream: each release (or promotion)
    whose notes list fixes, with its count and summary, and the distinct ids of the channel in all."""
    groups: dict[tuple[str, str, str], list[Event]] = {}
    for _, event in events:
        if isinstance(event, Event) and len(release_security(event.release)):
            groups.setdefault((event.project, event.channel, event.stream), []).append(event)
    out = []
    for project, channel, stream in sorted(groups, key=lambda k: (k[0].casefold(), stream_order(k[1], k[2]))):
        items = sorted(groups[(project, channel, stream)], key=lambda e: version_key(e.version))
        ids = {i for e in items for i in release_security(e.release).ids}
        out.append(
            {
                "project": project,
                "channel": channel,
                "stream": stream,
                "label": stream_label(channel, stream),
                "total": len(ids),
                "releases": [
                    {
                        "version": e.version,
                        "count": len(release_security(e.release)),
                        "summary": summary_line(release_security(e.release), 210).removeprefix("security: "),
                        "link": e.release.link,
                    }
                    for e in items
                ],
            }
        )
    return out


def digest_context(
    events: Sequence[tuple[int, AnyEvent]],
    *,
    output: str,
    period_start: datetime | None,
    period_end: datetime,
    timezone: str = "UTC",
    known_projects: Sequence[str] = (),
) -> dict[str, Any]:
    """What the digest templates see: sections by event kind (releases and promotions together, then
    one per other kind, e.g. deprecations), each grouped by project and channel/stream."""
    zone: tzinfo = ZoneInfo(timezone)
    sections: dict[str, dict[tuple[str, str, str], list[AnyEvent]]] = {}
    for _, event in events:
        section = "release" if event.kind in RELEASE_KINDS else event.kind
        key = (event.project, event.channel, event.stream)
        sections.setdefault(section, {}).setdefault(key, []).append(event)
    ordered = sorted(sections, key=lambda k: (k != "release", k))
    out_sections = []
    projects_seen: list[str] = []
    for kind in ordered:
        groups = sections[kind]
        projects: dict[str, list[dict[str, Any]]] = {}
        for project, channel, stream in sorted(
            groups, key=lambda k: (k[0].casefold(), stream_order(k[1], k[2]))
        ):
            items = sorted(groups[(project, channel, stream)], key=lambda e: version_key(e.version))
            projects.setdefault(project, []).append(
                {
                    "channel": channel,
                    "stream": stream,
                    "label": stream_label(channel, stream),
                    "entries": [_item(e) for e in items],
                }
            )
            if project not in projects_seen:
                projects_seen.append(project)
        out_sections.append(
            {
                "kind": kind,
                "title": section_title(kind),
                "projects": [{"project": p, "channels": chans} for p, chans in projects.items()],
            }
        )
    start = period_start.astimezone(zone) if period_start else None
    end = period_end.astimezone(zone)
    return {
        "output": output,
        "count": len(events),
        "empty": not events,
        "projects": projects_seen,
        "known_projects": list(known_projects),
        "sections": out_sections,
        "security": security_section(events),
        "timezone": timezone,
        "period_start": start,
        "period_end": end,
        "period_start_text": start.strftime("%Y-%m-%d %H:%M %Z") if start else "the beginning",
        "period_end_text": end.strftime("%Y-%m-%d %H:%M %Z"),
        "period_start_date": start.strftime("%Y-%m-%d") if start else "",
        "period_end_date": end.strftime("%Y-%m-%d"),
    }
