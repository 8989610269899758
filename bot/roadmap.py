"""Roadmap change detection: the items a poll listed plus what is known → items to record and events.
Pure: no I/O.

Events are keyed by meaning — `roadmap:<source>/<item-id>/<status>` — so an item is announced once per
status it reaches: new on the board ("Planned"), moved ("In progress", "Done"), closed. An item that
moves back to a status it had is not announced again; a re-rendered or reordered listing announces
nothing.

- A document (listing) never read before is a baseline: its items are recorded silently (like the
  first poll of releases), except the newest `announce_on_first_run` open ones.
- A new item is announced when it is open, its status is worth announcing (`statuses`; empty: all),
  and it was created after the listing was baselined — an old issue that shows up late (updated, or
  beyond the pages read at baseline) is recorded silently.
- A known item whose status changed to one worth announcing: a "status" event (from → to).
- A known open item that is now closed: a "closed" event (a status change in the same poll is recorded
  silently: closing says it).
- An item carrying one of `deprecation_labels` is also a deprecation notice (kind "deprecation",
  channel "roadmap"), announced once when first seen open outside a baseline.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.model import DeprecationEvent, Notice, Reach, RoadmapEvent, RoadmapItem, stage_slug
from bot.text import sanitize

__all__ = ["RoadmapDetection", "RoadmapDocument", "detect_roadmap", "status_matches"]


@dataclass(frozen=True)
class RoadmapDocument:
    """The items one listing returned. `complete`: every page was read, so a known item missing from
    it is no longer listed."""

    name: str
    items: tuple[RoadmapItem, ...]
    complete: bool


@dataclass(frozen=True)
class RoadmapDetection:
    items: tuple[RoadmapItem, ...]  # every item listed (recorded; unchanged ones cost nothing)
    absent: tuple[str, ...]  # ids of known items no longer listed (only when every listing is complete)
    events: tuple[RoadmapEvent | DeprecationEvent, ...]
    notices: tuple[Notice, ...]
    reaches: tuple[Reach, ...]
    baselined: tuple[str, ...]  # documents recorded silently for the first time


def status_matches(status: str, wanted: Collection[str]) -> bool:
    """True when `wanted` is empty or names `status` (case, spaces and dashes do not matter)."""
    return not wanted or stage_slug(status) in {stage_slug(w) for w in wanted}


def _order(item: RoadmapItem) -> tuple[float, str]:
    return (item.updated.timestamp() if item.updated else 0.0, item.id)


def _is_deprecation(item: RoadmapItem, labels: Collection[str]) -> str | None:
    wanted = {label.casefold() for label in labels}
    for label in item.labels:
        if label.casefold() in wanted:
            return label
    return None


def detect_roadmap(
    documents: Sequence[RoadmapDocument],
    known: Mapping[str, RoadmapItem],
    *,
    baselined_documents: Mapping[str, datetime | None],
    known_notices: Collection[str] = (),
    statuses: Collection[str] = (),
    deprecation_labels: Collection[str] = (),
    announce_on_baseline: int = 0,
    every_document: Collection[str] = (),
) -> RoadmapDetection:
    """Compare what a poll listed with the known items of the source.

    `baselined_documents` maps the names of documents read before to when they were first read;
    `every_document` names all documents of the source: absence is only concluded when each of them was
    listed completely in this poll.
    """
    seen: dict[str, RoadmapItem] = {}
    origin: dict[str, str] = {}
    for document in documents:
        for item in document.items:
            if not item.id:
                continue
            current = seen.get(item.id)
            if current is None or _order(item) > _order(current):
                seen[item.id] = item
                origin.setdefault(item.id, document.name)
    baselined = tuple(d.name for d in documents if d.name not in baselined_documents)
    silent_docs = set(baselined)

    announce_new: set[str] = set()
    if announce_on_baseline > 0:
        fresh = [
            item
            for item in seen.values()
            if item.id not in known and origin[item.id] in silent_docs and item.state == "open"
        ]
        announce_new.update(i.id for i in sorted(fresh, key=_order)[-announce_on_baseline:])

    events: list[RoadmapEvent | DeprecationEvent] = []
    notices: list[Notice] = []
    reaches: list[Reach] = []
    for item in sorted(seen.values(), key=_order):
        previous = known.get(item.id)
        silent = origin[item.id] in silent_docs and item.id not in announce_new
        if previous is None:
            since = baselined_documents.get(origin[item.id])
            late = since is not None and item.created is not None and item.created < since
            if (
                not silent
                and item.state == "open"
                and not (late and item.id not in announce_new)
                and status_matches(item.status, statuses)
            ):
                events.append(RoadmapEvent(change="new", item=item))
        elif previous.state == "open" and item.state == "closed":
            if not silent:
                events.append(RoadmapEvent(change="closed", item=item, previous_status=previous.status))
        elif (
            item.state == "open"
            and item.status
            and stage_slug(item.status) != stage_slug(previous.status)
            and status_matches(item.status, statuses)
            and not silent
        ):
            events.append(RoadmapEvent(change="status", item=item, previous_status=previous.status or None))

        label = _is_deprecation(item, deprecation_labels)
        if label is not None and item.id not in known_notices:
            notice = Notice(
                source=item.source,
                project=item.project,
                id=item.id,
                text=sanitize(item.title),
                summary=sanitize(item.title),
                channel="roadmap",
                stream="roadmap",
                version=None,
                published=item.created or item.updated,
                link=item.url,
                heading=label,
                links=(item.url,) if item.url else (),
            )
            reach = Reach(
                source=item.source,
                notice_id=item.id,
                channel="roadmap",
                stream="roadmap",
                version=None,
                published=notice.published,
                link=item.url,
            )
            notices.append(notice)
            reaches.append(reach)
            if not silent and item.state == "open":
                events.append(DeprecationEvent(notice=notice, reach=reach))

    absent: tuple[str, ...] = ()
    complete = {d.name for d in documents if d.complete}
    if every_document and set(every_document) <= complete:
        absent = tuple(sorted(set(known) - set(seen)))
    return RoadmapDetection(
        items=tuple(sorted(seen.values(), key=_order)),
        absent=absent,
        events=tuple(events),
        notices=tuple(notices),
        reaches=tuple(reaches),
        baselined=baselined,
    )
