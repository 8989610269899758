"""`!release`: the current version of every channel, one channel's release, where a version went."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from bot.channels import channel_of, stream_label, stream_sort_key
from bot.commands.state import StateView
from bot.model import Release, version_key
from bot.presentation.contexts import key_packages


def release_date(release: Release) -> str:
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
    parts = [f"{head} ({release_date(release)})"]
    packages = key_packages(release.packages)
    if packages:
        parts.append(", ".join(f"{name} {ver}" for name, ver in packages))
    if release.link:
        parts.append(release.link)
    return " — ".join(parts)


def _status(release: Release, state: StateView, current: dict[tuple[str, str], Release]) -> str:
    """ " — end of life" / " — superseded by …" for a release that is not its stream's current one."""
    notes = []
    now = current.get((release.project, release.stream))
    if now is not None and now.version != release.version:
        label = stream_label(now.channel, now.stream)
        notes.append(f"superseded by {now.version} ({label} since {release_date(now)})")
    if release.stream in state.end_of_life:
        notes.append(f"{stream_label(release.channel, release.stream)} is past its end of life")
    return "".join(f" — {n}" for n in notes)


def lts_line(state: StateView, *, show_all: bool) -> list[str]:
    """`!release lts`: one line per project, every LTS stream newest first; end-of-life streams only
    with `show_all` (and marked)."""
    current = current_by_stream(state)
    by_project: dict[str, list[Release]] = {}
    for (project, stream), release in sorted(
        current.items(), key=lambda kv: (kv[0][0], stream_sort_key(kv[0][1]))
    ):
        if release.channel != "lts" and channel_of(stream) != "lts":
            continue
        if stream in state.end_of_life and not show_all:
            continue
        by_project.setdefault(project, []).append(release)
    lines = []
    for project, releases in by_project.items():
        parts = []
        for r in releases:
            kernel = dict(key_packages(r.packages)).get("kernel")
            extra = f", kernel {kernel}" if kernel else ""
            extra += ", end of life" if r.stream in state.end_of_life else ""
            link = f" {r.link}" if r.link else ""
            parts.append(f"{stream_label(r.channel, r.stream)} {r.version} ({release_date(r)}{extra}){link}")
        lines.append(f"{project} LTS, newest first: " + " | ".join(parts))
    if not lines:
        return ["no supported LTS stream is known" + ("" if show_all else "; try !release lts all")]
    return lines


def release_reply(args: Sequence[str], state: StateView) -> list[str]:
    current = current_by_stream(state)
    if not current:
        return ["no releases known yet — the first poll has not completed"]
    eol = state.end_of_life
    if not args:
        by_project: dict[str, list[Release]] = {}
        for (project, stream), release in sorted(
            current.items(), key=lambda kv: (kv[0][0], stream_sort_key(kv[0][1]))
        ):
            if stream not in eol:
                by_project.setdefault(project, []).append(release)
        return [
            f"{project}: "
            + " | ".join(
                f"{stream_label(r.channel, r.stream)} {r.version} ({release_date(r)})" for r in releases
            )
            for project, releases in by_project.items()
        ]
    wanted = args[0].lower()
    if wanted == "lts":
        return lts_line(state, show_all=len(args) > 1 and args[1].lower() == "all")
    if re.match(r"^\d+(\.\d+)*$", wanted):
        found = [r for r in state.releases if r.version == wanted]
        if not found:
            return [f"no release {wanted} is known"]
        return [
            describe(r) + _status(r, state, current)
            for r in sorted(found, key=lambda r: stream_sort_key(r.stream))
        ]
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
    return [
        describe(r) + _status(r, state, current)
        for r in sorted(matches, key=lambda r: (r.project, stream_sort_key(r.stream)))
    ]


def find_releases(wanted: str, state: StateView) -> list[Release] | str:
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
