"""From an event to what templates see, and the stable identity of each message. Pure."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from bot.channels import stream_label
from bot.model import KEY_PACKAGES, AnyEvent, DeprecationEvent, Event, RoadmapEvent

_UNSAFE = re.compile(r"[^A-Za-z0-9.+_-]+")


def key_packages(packages: dict[str, str] | Any) -> list[tuple[str, str]]:
    """(name, version) of the packages an announcement names, in KEY_PACKAGES order."""
    return [(name, packages[name]) for name in KEY_PACKAGES if name in packages]


def event_context(event: AnyEvent) -> dict[str, Any]:
    """Everything a template may use. Text fields are untrusted: templates pass them through filters."""
    if isinstance(event, DeprecationEvent):
        return deprecation_context(event)
    if isinstance(event, RoadmapEvent):
        return roadmap_context(event)
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
    }


def message_id(event: AnyEvent, sink: str, *, domain: str = "release-bot.invalid") -> str:
    """An RFC 5322 Message-ID that is the same every time for this event and sink."""
    if isinstance(event, Event):
        source, stream, version = event.release.key
        parts = [event.kind, source, stream, version]
    else:
        # "deprecation:flatcar/4722.0.0-20e239d3/beta", "roadmap:plans/flatcar/Flatcar#1234/in-progress"
        kind, _, rest = event.key.partition(":")
        parts = [kind, *rest.split("/")]
    local = ".".join(_id_part(part) for part in (*parts, sink))
    return f"<{local}@{domain}>"


def _id_part(part: str) -> str:
    """One dot-separated piece of a Message-ID's left side. Where characters had to be replaced (or the
    piece was empty), a short hash of the original keeps different values apart ("1.0 beta" vs
    "1.0/beta")."""
    clean = _UNSAFE.sub("_", part).strip(".")
    if clean == part and clean and ".." not in clean:
        return clean
    digest = hashlib.sha256(part.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{clean.replace('..', '.')}_{digest}" if clean else f"_{digest}"


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


def sample_events() -> list[Event]:
    """Events shaped like real Flatcar ones, used by `check-config` to render every template once."""
    from datetime import UTC, datetime

    from bot.model import PackageChange, Release

    previous = Release(
        source="sample",
        project="Flatcar",
        stream="beta",
        channel="beta",
        version="4230.1.0",
        title="4230.1.0",
        published=datetime(2025, 3, 20, 14, 5, tzinfo=UTC),
        link="https://www.flatcar.org/releases#release-4230.1.0",
        packages={"kernel": "6.6.83", "systemd": "256"},
    )
    release = Release(
        source="sample",
        project="Flatcar",
        stream="stable",
        channel="stable",
        version="4230.2.0",
        title="4230.2.0",
        published=datetime(2025, 4, 10, 12, 0, tzinfo=UTC),
        link="https://www.flatcar.org/releases#release-4230.2.0",
        packages={"kernel": "6.6.88", "systemd": "256", "docker": "27.4.1"},
        notes="## Changes\n\n- Linux ([CVE-2025-1](https://example.invalid))",
        notes_format="markdown",
    )
    changes = (PackageChange("kernel", "6.6.83", "6.6.88"), PackageChange("docker", None, "27.4.1"))
    lts = Release(
        source="sample",
        project="Flatcar",
        stream="lts-2024",
        channel="lts",
        version="4081.3.2",
        published=None,
        link=None,
        notes="<p>html <b>notes</b></p>",
        notes_format="html",
    )
    return [
        Event(kind="release", release=release, previous=previous, changes=changes),
        Event(kind="promotion", release=release, previous=previous, promoted_from="beta", changes=changes),
        Event(kind="release", release=lts),
    ]


def sample_plan_events() -> list[AnyEvent]:
    """Deprecation and roadmap events shaped like real ones (a notice from Flatcar 4722.0.0's notes, a
    project item), used by `check-config` to render those templates once."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from bot.model import Notice, Reach, RoadmapItem

    notice = Notice(
        source="sample",
        project="Flatcar",
        id="4722.0.0-20e239d3",
        text="Dropped support for Rackspace, including OnMetal. Rackspace-specific images are no longer "
        "built or published.",
        summary="Dropped support for Rackspace, including OnMetal. Rackspace-specific images are no longer "
        "built or published.",
        channel="alpha",
        stream="alpha",
        version="4722.0.0",
        published=datetime(2026, 6, 16, 11, 26, tzinfo=UTC),
        link="https://www.flatcar.org/releases#release-4722.0.0",
        heading="Changes",
    )
    first = Reach("sample", notice.id, "alpha", "alpha", "4722.0.0", notice.published, notice.link)
    beta = Reach(
        "sample",
        notice.id,
        "beta",
        "beta",
        "4722.1.0",
        datetime(2026, 7, 9, 12, 0, tzinfo=UTC),
        "https://www.flatcar.org/releases#release-4722.1.0",
    )
    item = RoadmapItem(
        source="sample",
        project="Flatcar",
        id="flatcar/Flatcar#1234",
        title="Sample roadmap item",
        url="https://github.com/flatcar/Flatcar/issues/1234",
        status="In progress",
        labels=("kind/feature",),
        number=1234,
        repo="flatcar/Flatcar",
        updated=datetime(2026, 7, 1, tzinfo=UTC),
    )
    roadmap_notice = Notice(
        source="sample",
        project="Flatcar",
        id="flatcar/Flatcar#1235",
        text="Deprecate the sample feature",
        summary="Deprecate the sample feature",
        channel="roadmap",
        stream="roadmap",
        version=None,
        link="https://github.com/flatcar/Flatcar/issues/1235",
        heading="kind/deprecation",
    )
    roadmap_reach = Reach("sample", roadmap_notice.id, "roadmap", "roadmap", None, None, roadmap_notice.link)
    return [
        DeprecationEvent(notice=notice, reach=first),
        DeprecationEvent(notice=notice, reach=beta),
        DeprecationEvent(notice=roadmap_notice, reach=roadmap_reach),
        RoadmapEvent(change="new", item=item),
        RoadmapEvent(change="status", item=item, previous_status="Planned"),
        RoadmapEvent(change="closed", item=replace(item, state="closed"), previous_status="In progress"),
    ]
