"""Following notices across channels: new releases + known notices → notices, reaches, events
(see `bot.deprecations`). Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from bot.channels import LADDER
from bot.deprecations.extract import extract_notices
from bot.deprecations.identity import _tokens, notice_id, similar
from bot.model import DeprecationEvent, Notice, Reach, Release, version_key

# -- following notices across channels ------------------------------------------------------------


@dataclass(frozen=True)
class DeprecationDetection:
    """`notices` and `reaches` are new state to record; `events` the ones worth announcing, in order."""

    notices: tuple[Notice, ...]
    reaches: tuple[Reach, ...]
    events: tuple[DeprecationEvent, ...]


def _rank(channel: str) -> int | None:
    return LADDER.index(channel) if channel in LADDER else None


def _major(version: str | None) -> int | None:
    if not version:
        return None
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def detect_deprecations(
    releases: Sequence[tuple[Release, bool]],
    known: Iterable[Notice],
    reached: Collection[tuple[str, str]],
    *,
    known_releases: Iterable[Release] = (),
) -> DeprecationDetection:
    """Notices and channel reaches caused by new releases, oldest release first.

    `releases` are the releases being recorded, each with whether it is announced (a release recorded
    silently — a baseline — records its notices and reaches silently too). `known` are the notices
    already stored for the source, `reached` its stored (notice id, channel) pairs, `known_releases`
    its stored releases. Only releases of the channel ladder (alpha, beta, stable, lts) are read; notes
    in Markdown only (Flatcar's).

    A channel that already shipped a notice's major before this poll was reached silently, by its
    first release of that major or later, whatever the order in which the documents were baselined:
    alpha failing on the first poll and baselined on a later one must not make the next beta release
    "bring" every old alpha notice (issue 9, item 3).
    """
    notices: dict[str, Notice] = {n.id: n for n in known}
    memory = _Memory(notices.values())
    done: set[tuple[str, str]] = set(reached)
    new_notices: list[Notice] = []
    new_reaches: list[Reach] = []
    events: list[DeprecationEvent] = []
    shipped = _Shipped(known_releases)

    def order(item: tuple[Release, bool]) -> tuple[object, ...]:
        release = item[0]
        stamp = release.published.timestamp() if release.published else 0.0
        return (stamp, _rank(release.channel) or 0, version_key(release.version))

    def reach(notice: Notice, release: Release, announce: bool) -> None:
        arrived = Reach(
            source=notice.source,
            notice_id=notice.id,
            channel=release.channel,
            stream=release.stream,
            version=release.version,
            published=release.published,
            link=release.link,
        )
        done.add((notice.id, release.channel))
        new_reaches.append(arrived)
        if announce:
            events.append(DeprecationEvent(notice=notice, reach=arrived))

    for release, announce in sorted(releases, key=order):
        rank = _rank(release.channel)
        major = _major(release.version)
        if rank is None or major is None:
            continue
        # 1. notices of earlier channels that this release's channel now ships
        for notice in list(notices.values()):
            first = _rank(notice.channel)
            notice_major = _major(notice.version)
            if first is None or notice_major is None or first >= rank or major < notice_major:
                continue
            if (notice.id, release.channel) not in done:
                earlier = shipped.first(release.channel, notice_major)
                if earlier is not None:  # shipped before this poll: recorded, not news
                    reach(notice, earlier, False)
                else:
                    reach(notice, release, announce)
        # 2. notices in this release's notes
        if release.notes_format != "markdown" or not release.notes.strip():
            continue
        for found in extract_notices(release.notes):
            same = memory.same_text(found.text)
            if same is not None:
                # the very words of an earlier channel's notice in an older major of this channel: a
                # backport (beta 1855.3.0 after alpha 1883.0.0) — the notice is here now
                first = _rank(same.channel)
                if first is not None and first < rank and (same.id, release.channel) not in done:
                    reach(same, release, announce)
                continue
            if memory.restates(found.text, release):
                continue
            ident = notice_id(release.version, found.text)
            notice = Notice(
                source=release.source,
                project=release.project,
                id=ident,
                text=found.text,
                summary=found.summary,
                channel=release.channel,
                stream=release.stream,
                version=release.version,
                published=release.published,
                link=release.link,
                heading=found.heading,
                links=found.links,
            )
            notices[ident] = notice
            memory.add(notice)
            new_notices.append(notice)
            reach(notice, release, announce)
            # later channels that already ship this major (their documents were read first)
            for channel in LADDER[rank + 1 :]:
                earlier = shipped.first(channel, major)
                if earlier is not None and (ident, channel) not in done:
                    reach(notice, earlier, False)
    return DeprecationDetection(tuple(new_notices), tuple(new_reaches), tuple(events))


class _Shipped:
    """The stored releases of each ladder channel, to find the first one of a major or later."""

    def __init__(self, releases: Iterable[Release]) -> None:
        self.by_channel: dict[str, list[tuple[float, tuple[tuple[int, int | str], ...], int, Release]]] = {}
        for release in releases:
            major = _major(release.version)
            if _rank(release.channel) is None or major is None:
                continue
            stamp = release.published.timestamp() if release.published else 0.0
            self.by_channel.setdefault(release.channel, []).append(
                (stamp, version_key(release.version), major, release)
            )
        for entries in self.by_channel.values():
            entries.sort(key=lambda entry: (entry[0], entry[1]))

    def first(self, channel: str, major: int) -> Release | None:
        """The oldest stored release of `channel` whose major is `major` or later."""
        return next((r for _, _, m, r in self.by_channel.get(channel, ()) if m >= major), None)


class _Memory:
    """The known notices, with what recognising a restatement needs: normalised texts and how many
    notices each significant word appears in."""

    def __init__(self, notices: Iterable[Notice]) -> None:
        self.notices: list[Notice] = []
        self.digests: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        for notice in notices:
            self.add(notice)

    def add(self, notice: Notice) -> None:
        self.notices.append(notice)
        self.digests[notice.id] = notice_id("", notice.text)
        self.counts.update(_tokens(notice.text))

    def same_text(self, text: str) -> Notice | None:
        """The known notice with this very text (markup, links, case and spacing aside), if any."""
        digest = notice_id("", text)
        return next((n for n in self.notices if self.digests[n.id] == digest), None)

    def restates(self, text: str, release: Release) -> bool:
        """A notice repeated or reworded: the same text, from any channel (a change backported to
        stable first and told again in the next beta and alpha — 2345.3.1 → 2411.1.1 → 2466.0.0 — is
        one notice); or, from the same or an earlier channel, similar text of the same or an earlier
        major, or text naming that notice's release ("From Alpha 3794.0.0 Torcx has been removed") and
        sharing a word with it."""
        rank = _rank(release.channel)
        major = _major(release.version)
        assert rank is not None and major is not None
        digest = notice_id("", text)
        words = _tokens(text)
        for notice in self.notices:
            first = _rank(notice.channel)
            notice_major = _major(notice.version)
            if first is None or notice_major is None:
                continue
            if self.digests[notice.id] == digest:
                return True
            if first > rank:
                continue
            theirs = _tokens(notice.text)
            if notice.version and notice.version in text and (words & theirs) - {notice.version}:
                return True
            if notice_major > major:
                continue
            rare = {w for w in words & theirs if self.counts[w] <= 1}
            if similar(text, notice.text, rare=rare):
                return True
        return False
