"""`!changes <channel|version>`: what changed since the previous release of its stream."""

from __future__ import annotations

from collections.abc import Sequence

from bot.channels import stream_label
from bot.commands.releases import find_releases, release_date
from bot.commands.state import StateView
from bot.detect import StreamIndex, package_changes
from bot.model import KEY_PACKAGES, Release


def describe_changes(release: Release, previous: Release | None, *, max_other: int = 8) -> str:
    """One line: what changed in `release` against the previous release of its stream."""
    label = stream_label(release.channel, release.stream)
    head = f"{release.project} {label} {release.version} ({release_date(release)})"
    if previous is None:
        text = f"{head}: the first known release of its stream"
    else:
        changes = package_changes(previous.packages, release.packages)
        since = f"{head} since {previous.version} ({release_date(previous)})"
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


def changes_reply(args: Sequence[str], state: StateView, prefix: str) -> list[str]:
    if not state.releases:
        return ["no releases known yet — the first poll has not completed"]
    if not args:
        return [f"usage: {prefix}changes <channel|version>, e.g. {prefix}changes stable"]
    found = find_releases(args[0].lower(), state)
    if isinstance(found, str):
        return [found]
    out = []
    for release in found:
        index = StreamIndex(r for r in state.releases if r.source == release.source)
        out.append(describe_changes(release, index.previous(release)))
    return out
