"""Channel commands as pure functions over state: a line in, reply lines out. No I/O.

The IRC client and `release-bot query` both call `answer`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.messages import key_packages, stream_label
from bot.model import CHANNEL_ORDER, Release, version_key
from bot.text import sanitize

HELP = (
    "commands: {p}release — current version of every channel; {p}release <channel> "
    "(alpha, beta, stable, lts, lts-YYYY) — version, date, key packages, link; "
    "{p}release <version> — where and when it was released; {p}help — this text"
)


@dataclass(frozen=True)
class StateView:
    """What commands may look at: every known release."""

    releases: tuple[Release, ...]

    @classmethod
    def of(cls, releases: Iterable[Release]) -> StateView:
        return cls(tuple(releases))


def _date(release: Release) -> str:
    return release.published.strftime("%Y-%m-%d") if release.published else "unknown date"


def _newest(releases: Iterable[Release]) -> Release | None:
    return max(releases, key=lambda r: version_key(r.version), default=None)


def _stream_order(stream: str) -> tuple[int, int, str]:
    """alpha, beta, stable, then LTS streams newest first, then anything else by name."""
    channel = "lts" if stream.startswith("lts") else stream
    rank = CHANNEL_ORDER.index(channel) if channel in CHANNEL_ORDER else len(CHANNEL_ORDER)
    year = int(stream[4:]) if stream[4:].isdigit() else 0
    return (rank, -year, stream)


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
            current.items(), key=lambda kv: (kv[0][0], _stream_order(kv[0][1]))
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
        return [describe(r) for r in sorted(found, key=lambda r: _stream_order(r.stream))]
    matches = [
        r
        for (_p, stream), r in current.items()
        if stream == wanted or r.channel == wanted or stream_label(r.channel, stream).lower() == wanted
    ]
    if not matches:
        names = sorted({s for (_p, s) in current} | {r.channel for r in current.values()}, key=_stream_order)
        return [f"unknown channel {wanted[:30]!r}; known: {', '.join(names)}"]
    return [describe(r) for r in sorted(matches, key=lambda r: (r.project, _stream_order(r.stream)))]


def answer(line: str, state: StateView, *, prefix: str = "!") -> list[str] | None:
    """The reply to a command line, or None when the line is not a command. Replies are sanitised."""
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
    elif command == "help":
        replies = [HELP.format(p=prefix)]
    else:
        return [f"unknown command {sanitize(command)[:30]!r}; try {prefix}help"]
    return [sanitize(r) for r in replies]
