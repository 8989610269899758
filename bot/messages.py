"""From an event to what templates see, and the stable identity of each message. Pure."""

from __future__ import annotations

import re
from typing import Any

from bot.model import KEY_PACKAGES, Event

_UNSAFE = re.compile(r"[^A-Za-z0-9.+_-]+")


def key_packages(packages: dict[str, str] | Any) -> list[tuple[str, str]]:
    """(name, version) of the packages an announcement names, in KEY_PACKAGES order."""
    return [(name, packages[name]) for name in KEY_PACKAGES if name in packages]


def stream_label(channel: str, stream: str) -> str:
    """How people name a stream: 'stable', 'LTS-2024', or a feed's stream name."""
    if stream.startswith("lts-"):
        return "LTS-" + stream[4:]
    if stream == "lts":
        return "LTS"
    return channel


def event_context(event: Event) -> dict[str, Any]:
    """Everything a template may use. Text fields are untrusted: templates pass them through filters."""
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


def message_id(event: Event, sink: str, *, domain: str = "release-bot.invalid") -> str:
    """An RFC 5322 Message-ID that is the same every time for this event and sink."""
    source, stream, version = event.release.key
    local = ".".join(_UNSAFE.sub("_", part) for part in (event.kind, source, stream, version, sink))
    return f"<{local}@{domain}>"


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
