"""Change detection: a snapshot plus what is already known → new releases and events. Pure: no I/O.

Events are keyed by meaning — (source, stream, version) — so a re-rendered feed, edited notes,
reordered entries or entries that leave and come back announce nothing new, while an older release
that appears late (an LTS-2022 point release after an LTS-2024 one) is announced.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from bot.channels import LADDER
from bot.flood import floods, summarise
from bot.model import KEY_PACKAGES, Event, PackageChange, Release, Snapshot, SummaryEvent, version_key

StreamVersion = tuple[str, str]
VersionKey = tuple[tuple[int, int | str], ...]


@dataclass(frozen=True)
class Detection:
    """`new` are releases to record; `events` the subset announced one by one, oldest first;
    `summaries` one per document that brought more new releases than the flood limit (those
    releases are in `new`, not in `events`)."""

    new: tuple[Release, ...]
    events: tuple[Event, ...]
    baselined: tuple[str, ...]  # names of documents recorded silently for the first time
    summaries: tuple[SummaryEvent, ...] = ()


def package_changes(previous: Mapping[str, str], current: Mapping[str, str]) -> tuple[PackageChange, ...]:
    """What changed between two package maps: key packages first (in KEY_PACKAGES order), then the rest."""
    names = [n for n in KEY_PACKAGES if n in previous or n in current]
    names += sorted((set(previous) | set(current)) - set(KEY_PACKAGES))
    return tuple(
        PackageChange(name, previous.get(name), current.get(name))
        for name in names
        if previous.get(name) != current.get(name)
    )


class StreamIndex:
    """Releases grouped by stream and sorted by version, for the lookups detection makes per event."""

    def __init__(self, pool: Iterable[Release]) -> None:
        groups: dict[str, list[tuple[VersionKey, Release]]] = {}
        for release in pool:
            groups.setdefault(release.stream, []).append((version_key(release.version), release))
        self._streams = {stream: sorted(items, key=lambda kv: kv[0]) for stream, items in groups.items()}
        self._keys = {stream: [k for k, _ in items] for stream, items in self._streams.items()}

    def previous(self, release: Release) -> Release | None:
        """The highest release of the same stream with a lower version."""
        keys = self._keys.get(release.stream, [])
        index = bisect_left(keys, version_key(release.version))
        return self._streams[release.stream][index - 1][1] if index > 0 else None

    def promoted_from(self, release: Release) -> str | None:
        """The channel a major version came from when `release` is the first of its major in its stream.

        Flatcar's ladder: N.0.x alpha → N.1.x beta → N.2.x stable → N.3.x lts. A channel outside the
        ladder (a feed's stream, edge) is never a promotion.
        """
        if release.channel not in LADDER:
            return None
        index = LADDER.index(release.channel)
        if index == 0:
            return None
        previous = self.previous(release)
        if previous is not None and previous.major == release.major:
            return None
        return LADDER[index - 1]


def previous_release(release: Release, pool: Iterable[Release]) -> Release | None:
    """The highest release of the same stream with a lower version."""
    return StreamIndex(pool).previous(release)


def promoted_from(release: Release, pool: Iterable[Release]) -> str | None:
    """See StreamIndex.promoted_from."""
    return StreamIndex(pool).promoted_from(release)


def _sort_key(release: Release) -> tuple[object, ...]:
    published = release.published.timestamp() if release.published else 0.0
    return (published, release.stream, version_key(release.version))


def detect(
    snapshot: Snapshot,
    known: Mapping[StreamVersion, Release],
    *,
    baselined_documents: Collection[str],
    announce_on_baseline: int = 0,
    flood_limit: int = 0,
) -> Detection:
    """Compare a snapshot with the known releases of its source.

    A document never parsed before (first run, or a channel newly added to the config) is a baseline:
    its releases are recorded silently, except the newest `announce_on_baseline` of them. A baselined
    document that brings more than `flood_limit` new releases (0: no limit) is announced as one
    summary (`bot.flood`).
    """
    seen: dict[StreamVersion, Release] = {}
    announce: set[StreamVersion] = set()
    flooded: dict[StreamVersion, str] = {}  # release → the document it is summarised in
    baselined: list[str] = []
    for document in snapshot.documents:
        fresh = [
            r
            for r in document.releases
            if (r.stream, r.version) not in known and (r.stream, r.version) not in seen
        ]
        for release in fresh:
            seen[(release.stream, release.version)] = release
        if document.name in baselined_documents:
            announce.update((r.stream, r.version) for r in fresh)
            if floods(len(fresh), flood_limit):
                flooded.update(((r.stream, r.version), document.name) for r in fresh)
        else:
            baselined.append(document.name)
            if announce_on_baseline > 0:
                newest = sorted(fresh, key=_sort_key)[-announce_on_baseline:]
                announce.update((r.stream, r.version) for r in newest)

    index = StreamIndex([*known.values(), *seen.values()])
    events: list[Event] = []
    summarised: dict[str, list[Event]] = {}
    for release in sorted(seen.values(), key=_sort_key):
        if (release.stream, release.version) not in announce:
            continue
        previous = index.previous(release)
        origin = index.promoted_from(release)
        summarised_in = flooded.get((release.stream, release.version))
        # a summarised release needs only its kind: no package changes worked out
        changes: tuple[PackageChange, ...] = ()
        if previous is not None and summarised_in is None:
            changes = package_changes(previous.packages, release.packages)
        event = Event(
            kind="promotion" if origin else "release",
            release=release,
            previous=previous,
            promoted_from=origin,
            changes=changes,
        )
        if summarised_in is None:
            events.append(event)
        else:
            summarised.setdefault(summarised_in, []).append(event)
    new = tuple(sorted(seen.values(), key=_sort_key))
    summaries = tuple(summarise(name, found) for name, found in summarised.items())
    return Detection(new=new, events=tuple(events), baselined=tuple(baselined), summaries=summaries)
