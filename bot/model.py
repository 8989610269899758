"""Plain model objects that flow source → snapshot → events → outbox. No I/O here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

EventKind = Literal["release", "promotion"]
#: Every event kind an output may route on: release events (`Event`), deprecation notices
#: (`DeprecationEvent`), roadmap changes (`RoadmapEvent`) and summaries of a flood (`SummaryEvent`).
EVENT_KINDS: tuple[str, ...] = ("release", "promotion", "deprecation", "roadmap", "summary")

#: Packages an announcement names, in this order, when the source reports them.
KEY_PACKAGES: tuple[str, ...] = ("kernel", "systemd", "docker", "containerd", "ignition")


@dataclass(frozen=True)
class Release:
    """One release of one stream, as a source reported it. Text fields are untrusted."""

    source: str
    project: str
    stream: str
    channel: str
    version: str
    title: str = ""
    published: datetime | None = None
    link: str | None = None
    packages: Mapping[str, str] = field(default_factory=dict)
    notes: str = ""
    notes_format: Literal["markdown", "html", "text"] = "text"
    architectures: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.stream, self.version)

    @property
    def major(self) -> str:
        return self.version.split(".", 1)[0]


@dataclass(frozen=True)
class Document:
    """One fetched and parsed document of a source (e.g. releases-beta.json)."""

    name: str
    releases: tuple[Release, ...]


@dataclass(frozen=True)
class Snapshot:
    """What one poll of one source returned. Only documents that changed are present."""

    source: str
    documents: tuple[Document, ...]


@dataclass(frozen=True)
class PackageChange:
    """A package whose version changed in a release: old → new (None: added or removed)."""

    name: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class Event:
    """Something worth announcing. `key` is built from meaning, never from feed ids or text."""

    kind: EventKind
    release: Release
    previous: Release | None = None
    promoted_from: str | None = None
    changes: tuple[PackageChange, ...] = ()

    @property
    def key(self) -> str:
        source, stream, version = self.release.key
        return f"{self.kind}:{source}/{stream}/{version}"

    # What every kind of event has (see AnyEvent): routing, the events table and mail headers use these.
    @property
    def source(self) -> str:
        return self.release.source

    @property
    def project(self) -> str:
        return self.release.project

    @property
    def channel(self) -> str:
        return self.release.channel

    @property
    def stream(self) -> str:
        return self.release.stream

    @property
    def version(self) -> str:
        return self.release.version

    @property
    def published(self) -> datetime | None:
        return self.release.published


_NUM = re.compile(r"\d+|[^\d.]+")


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for dotted versions: numeric parts compare as numbers ('4593.2.10' > '4593.2.9')."""
    parts: list[tuple[int, int | str]] = []
    for token in _NUM.findall(version):
        if token.isdigit():
            parts.append((1, int(token)))
        else:
            parts.append((0, token))
    return tuple(parts)


# -- deprecations and roadmap (issue 5) -------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """A deprecation or removal notice, as first seen: in a release's notes (`version` is that release)
    or on a roadmap item labelled as a deprecation (`channel` "roadmap", `version` None).

    `id` is built from meaning: the release it first appeared in and a hash of its normalised text
    (release notes), or the item's identity (roadmap). Text fields are plain text, not yet sanitised.
    """

    source: str
    project: str
    id: str
    text: str  # the whole notice, plain text (may span lines: sub-items)
    summary: str  # one line: the heading (when it says something) and the notice's first line
    channel: str  # where it first appeared
    stream: str
    version: str | None
    published: datetime | None = None
    link: str | None = None  # the release notes (or the roadmap item)
    heading: str = ""  # the section it was found in ("Deprecation", "Breaking changes", …)
    links: tuple[str, ...] = ()  # links inside the notice

    @property
    def major(self) -> str | None:
        return self.version.split(".", 1)[0] if self.version else None


@dataclass(frozen=True)
class Reach:
    """A notice present in a channel: the channel it first appeared in, or one it reached later with
    a release of a later major (Flatcar's channels ship every earlier alpha major's changes)."""

    source: str
    notice_id: str
    channel: str
    stream: str
    version: str | None
    published: datetime | None = None
    link: str | None = None


@dataclass(frozen=True)
class DeprecationEvent:
    """A notice first seen (`stage` "new") or reaching a later channel (`stage` "reached")."""

    notice: Notice
    reach: Reach
    kind: Literal["deprecation"] = "deprecation"

    @property
    def stage(self) -> Literal["new", "reached"]:
        return "new" if self.reach.channel == self.notice.channel else "reached"

    @property
    def summary(self) -> str:
        """One line (untrusted text): the notice, and where it first appeared when it reached a channel."""
        if self.stage == "new" or not self.notice.version:
            return self.notice.summary
        return f"{self.notice.summary} (first in {self.notice.channel} {self.notice.version})"

    @property
    def key(self) -> str:
        return f"deprecation:{self.notice.source}/{self.notice.id}/{self.reach.channel}"

    @property
    def source(self) -> str:
        return self.notice.source

    @property
    def project(self) -> str:
        return self.notice.project

    @property
    def channel(self) -> str:
        return self.reach.channel

    @property
    def stream(self) -> str:
        return self.reach.stream

    @property
    def version(self) -> str:
        return self.reach.version or self.notice.id

    @property
    def published(self) -> datetime | None:
        return self.reach.published


RoadmapChange = Literal["new", "status", "closed"]


@dataclass(frozen=True)
class RoadmapItem:
    """One item of a project's plans: a GitHub Project item, a labelled issue, or a feed entry.

    `id` is its identity by meaning: "owner/repo#number" for issues and pull requests (the same on a
    project board and in an issue listing), the project item's node id for draft items, the entry id for
    feed entries. Text fields are untrusted.
    """

    source: str
    project: str
    id: str
    title: str
    url: str | None = None
    status: str = ""  # the project's status field ("Planned", "In progress", …); "" when none
    state: Literal["open", "closed"] = "open"
    labels: tuple[str, ...] = ()
    number: int | None = None
    repo: str | None = None
    kind: str = "issue"  # issue, pull_request, draft, entry
    updated: datetime | None = None
    body: str = ""
    created: datetime | None = None  # when the item was opened (or added to the board)

    @property
    def stage(self) -> str:
        """What an announcement of this item's current state is keyed by: its status, else open/closed."""
        if self.state == "closed":
            return "closed"
        return self.status or "open"


@dataclass(frozen=True)
class RoadmapEvent:
    """A new roadmap item, a status change (Planned → In progress → Done), or an item closed."""

    change: RoadmapChange
    item: RoadmapItem
    previous_status: str | None = None
    kind: Literal["roadmap"] = "roadmap"

    @property
    def key(self) -> str:
        # keyed by project, not source: a board and an issue listing that both show an item announce
        # its change once
        return f"roadmap:{self.item.project}/{self.item.id}/{stage_slug(self.item.stage)}"

    @property
    def summary(self) -> str:
        """One line (untrusted text): the item and what changed."""
        if self.change == "status":
            return f"{self.item.title}: {self.previous_status or 'no status'} → {self.item.status}"
        if self.change == "new" and self.item.status:
            return f"{self.item.title} [{self.item.status}]"
        return self.item.title

    @property
    def source(self) -> str:
        return self.item.source

    @property
    def project(self) -> str:
        return self.item.project

    @property
    def channel(self) -> str:
        return "roadmap"

    @property
    def stream(self) -> str:
        return "roadmap"

    @property
    def version(self) -> str:
        return self.item.id

    @property
    def published(self) -> datetime | None:
        return self.item.updated


# -- a flood summarised (issue 9, item 5) ------------------------------------------------------------

#: How many of the newest items a summary names (the others are only counted).
SUMMARY_NEWEST = 5


@dataclass(frozen=True)
class SummaryRoute:
    """Where one of the summarised releases would have been routed: a summary reaches every output
    that would have received at least one of them (`bot.routing.passes`)."""

    channel: str
    stream: str
    kind: EventKind
    security: bool  # its notes list a security fix (an output with `filter.security`)


@dataclass(frozen=True)
class SummaryEvent:
    """One poll brought more new releases from one document than the source's `flood_limit`: one
    announcement instead of a flood. The releases are recorded as known all the same, so none of them
    is announced later one by one, and a re-poll finds nothing new.

    Keyed by meaning: the source, the document and the newest release it names. `newest` holds the
    newest few (newest first, notes left out); `count` how many there were in all."""

    source: str
    project: str
    document: str
    count: int
    newest: tuple[Release, ...]
    oldest_published: datetime | None = None
    routes: tuple[SummaryRoute, ...] = ()
    kind: Literal["summary"] = "summary"

    def __post_init__(self) -> None:
        if not self.newest:
            raise ValueError("a summary names at least its newest release")

    @property
    def key(self) -> str:
        top = self.newest[0]
        return f"summary:{self.source}/{self.document}/{top.stream}/{top.version}"

    @property
    def summary(self) -> str:
        """One line (untrusted text): how many, where, and the newest versions."""
        names = ", ".join(r.version for r in self.newest)
        more = ", …" if self.count > len(self.newest) else ""
        return f"{self.count} new releases in {self.document}; newest: {names}{more}"

    @property
    def link(self) -> str | None:
        return self.newest[0].link

    @property
    def channel(self) -> str:
        return self.newest[0].channel

    @property
    def stream(self) -> str:
        return self.newest[0].stream

    @property
    def version(self) -> str:
        return self.newest[0].version

    @property
    def published(self) -> datetime | None:
        return self.newest[0].published


#: Every kind of event: all have kind, key, source, project, channel, stream, version and published.
AnyEvent = Event | DeprecationEvent | RoadmapEvent | SummaryEvent


def stage_slug(status: str) -> str:
    """'In progress' → 'in-progress': how a status appears in event keys and in `!roadmap` arguments."""
    return re.sub(r"[^a-z0-9]+", "-", status.lower()).strip("-") or "none"
