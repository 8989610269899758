"""Channel commands as pure functions over state: a line in, reply lines out. No I/O.

The IRC client and `release-bot query` both call `answer`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bot.channels import stream_label, stream_sort_key
from bot.detect import StreamIndex, package_changes
from bot.messages import key_packages
from bot.model import KEY_PACKAGES, Notice, Reach, Release, RoadmapItem, version_key
from bot.plans import deprecations_reply, roadmap_reply
from bot.text import sanitize

if TYPE_CHECKING:
    from bot.store import StateStore

HELP = (
    "commands: {p}release — current version of every channel; {p}release <channel> "
    "(alpha, beta, stable, lts, lts-YYYY) — version, date, key packages, link; "
    "{p}release <version> — where and when it was released; "
    "{p}changes <channel|version> — what changed since the previous release; "
    "{p}deprecations [channel] — deprecations and removals on their way, and where they are; "
    "{p}roadmap [status] — the project's plans; {p}help — this text"
)


@dataclass(frozen=True)
class StateView:
    """What commands may look at: every known release, deprecation notice (and the channels each has
    reached) and roadmap item still listed."""

    releases: tuple[Release, ...]
    notices: tuple[Notice, ...] = ()
    reaches: tuple[Reach, ...] = ()
    roadmap: tuple[RoadmapItem, ...] = ()

    @classmethod
    def of(
        cls,
        releases: Iterable[Release],
        *,
        notices: Iterable[Notice] = (),
        reaches: Iterable[Reach] = (),
        roadmap: Iterable[RoadmapItem] = (),
    ) -> StateView:
        return cls(tuple(releases), tuple(notices), tuple(reaches), tuple(roadmap))


def load_state_view(store: StateStore) -> StateView:
    """The state view of a state database (the bot's and `release-bot query`'s)."""
    return StateView.of(
        store.releases(),
        notices=store.notices(),
        reaches=store.reaches(),
        roadmap=store.roadmap_items(present_only=True),
    )


def _date(release: Release) -> str:
    return release.published.strftime("%Y-%m-%d") if release.published else "unknown date"


def _newest(releases: Iterable[Release]) -> Release | None:
    return max(releases, key=lambda r: version_key(r.version), default=None)


def current_by_stream(state: StateView) -> dict[tuple[str, str], Release]:
    """(project, stream) → newest release of that stream."""
    groups: dict[tuple[str, str], list[Release]] = {}
    for release in state.releases:
        groups.setdefault((release.project, release.stream), []).append(release)
    out = {key: _newest(items) for key, items in groups.items()}
    return {key: value for key, value in out.items() if value is not None}


def describe(release: Release, *, with_channel: bool = True) -> str:
    label = stream_label(release.channel, release.stream)
    head = (
        f"{release.project} {label} {release.version}"
        if with_channel
        else f"{release.project} {release.version}"
    )
    parts = [f"{head} ({_date(release)})"]
    packages = key_packages(release.packages)
    if packages:
        parts.append(", ".join(f"{name} {ver}" for name, ver in packages))
    if release.link:
        parts.append(release.link)
    return " — ".join(parts)


def _release(args: Sequence[str], state: StateView) -> list[str]:
    current = current_by_stream(state)
    if not current:
        return ["no releases known yet — the first poll has not completed"]
    if not args:
        by_project: dict[str, list[Release]] = {}
        for (project, _stream), release in sorted(
            current.items(), key=lambda kv: (kv[0][0], stream_sort_key(kv[0][1]))
        ):
            by_project.setdefault(project, []).append(release)
        return [
            f"{project}: "
            + " | ".join(f"{stream_label(r.channel, r.stream)} {r.version} ({_date(r)})" for r in releases)
            for project, releases in by_project.items()
        ]
    wanted = args[0].lower()
    if re.match(r"^\d+(\.\d+)*$", wanted):
        found = [r for r in state.releases if r.version == wanted]
        if not found:
            return [f"no release {wanted} is known"]
        return [describe(r) for r in sorted(found, key=lambda r: stream_sort_key(r.stream))]
    matches = [
        r
        for (_p, stream), r in current.items()
        if stream == wanted or r.channel == wanted or stream_label(r.channel, stream).lower() == wanted
    ]
    if not matches:
        names = sorted(
            {s for (_p, s) in current} | {r.channel for r in current.values()}, key=stream_sort_key
        )
        return [f"unknown channel {wanted[:30]!r}; known: {', '.join(names)}"]
    return [describe(r) for r in sorted(matches, key=lambda r: (r.project, stream_sort_key(r.stream)))]


def _find(wanted: str, state: StateView) -> list[Release] | str:
    """The releases a channel name (current release) or a version names, or why there are none."""
    current = current_by_stream(state)
    if re.match(r"^\d+(\.\d+)*$", wanted):
        found = [r for r in state.releases if r.version == wanted]
        return sorted(found, key=lambda r: stream_sort_key(r.stream)) or f"no release {wanted} is known"
    matches = [
        r
        for (_p, stream), r in current.items()
        if stream == wanted or r.channel == wanted or stream_label(r.channel, stream).lower() == wanted
    ]
    if not matches:
        names = sorted(
            {s for (_p, s) in current} | {r.channel for r in current.values()}, key=stream_sort_key
        )
        return f"unknown channel {wanted[:30]!r}; known: {', '.join(names)}"
    return sorted(matches, key=lambda r: (r.project, stream_sort_key(r.stream)))


def describe_changes(release: Release, previous: Release | None, *, max_other: int = 8) -> str:
    """One line: what changed in `release` against the previous release of its stream."""
    label = stream_label(release.channel, release.stream)
    head = f"{release.project} {label} {release.version} ({_date(release)})"
    if previous is None:
        text = f"{head}: the first known release of its stream"
    else:
        changes = package_changes(previous.packages, release.packages)
        since = f"{head} since {previous.version} ({_date(previous)})"
        if not changes:
            text = f"{since}: no package changes"
        else:
            key = [c for c in changes if c.name in KEY_PACKAGES]
            other = [c for c in changes if c not in key]
            parts = [f"{c.name} {c.old or '(new)'} → {c.new or '(removed)'}" for c in key]
            if other:
                names = ", ".join(c.name for c in other[:max_other])
                extra = f" and {len(other) - max_other} more" if len(other) > max_other else ""
                parts.append(f"{len(other)} other package(s) changed: {names}{extra}")
            text = f"{since}: " + "; ".join(parts)
    return f"{text} — {release.link}" if release.link else text


def _changes(args: Sequence[str], state: StateView, prefix: str) -> list[str]:
    if not state.releases:
        return ["no releases known yet — the first poll has not completed"]
    if not args:
        return [f"usage: {prefix}changes <channel|version>, e.g. {prefix}changes stable"]
    found = _find(args[0].lower(), state)
    if isinstance(found, str):
        return [found]
    out = []
    for release in found:
        index = StreamIndex(r for r in state.releases if r.source == release.source)
        out.append(describe_changes(release, index.previous(release)))
    return out


def answer(
    line: str, state: StateView, *, prefix: str = "!", unknown: Literal["hint", "silent"] = "hint"
) -> list[str] | None:
    """The reply to a command line, or None when the line is not a command (or an unknown command and
    `unknown` is "silent"). Replies are sanitised."""
    text = sanitize(line)
    if not text.startswith(prefix):
        return None
    words = text[len(prefix) :].split()
    if not words:
        return None
    command, args = words[0].lower(), words[1:]
    if not command[:1].isalpha():
        return None  # "!!!" or "! release" is chatter, not a command
    if command == "release":
        replies = _release(args, state)
    elif command == "changes":
        replies = _changes(args, state, prefix)
    elif command in ("deprecations", "deprecation"):
        replies = deprecations_reply(
            args,
            notices=state.notices,
            reaches=state.reaches,
            releases=state.releases,
            roadmap=state.roadmap,
            prefix=prefix,
        )
    elif command == "roadmap":
        replies = roadmap_reply(args, items=state.roadmap, prefix=prefix)
    elif command == "help":
        replies = [HELP.format(p=prefix)]
    elif unknown == "silent":
        return None
    else:
        return [f"unknown command {sanitize(command)[:30]!r}; try {prefix}help"]
    return [sanitize(r) for r in replies]
