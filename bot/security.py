"""Security answers over the security index of release notes (`bot.security_index`). Pure.

`summary_line` (chat: "security: 43 CVEs in Linux, 2 in openssl"), `mail_lines` (the full list with
links), `cve_answer` (`!cve CVE-…`: per channel and LTS stream, the first release whose notes list the
id; streams that ship it with a newer major without listing it; streams that do not have it yet) and
`security_answer` (`!security [channel|version]`) are pure functions over a sequence of `Release`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

from bot.channels import stream_label, stream_sort_key
from bot.model import Release
from bot.model import version_key as _version_key
from bot.security_index import (
    SecurityFix,
    SecurityIndex,
    extract_security,
    id_link,
    normalize_id,
    release_security,
)
from bot.text import sanitize, truncate_utf8

__all__ = [
    "CveStatus",
    "SecurityFix",
    "SecurityIndex",
    "StreamStatus",
    "cve_answer",
    "cve_status",
    "extract_security",
    "id_link",
    "mail_lines",
    "normalize_id",
    "release_security",
    "security_answer",
    "summary_line",
    "template_vars",
]

version_key = lru_cache(maxsize=16384)(_version_key)

#: Lines of one answer at most.
MAX_LINES = 5
#: Ids shown per package in `!security <channel>`, and packages shown.
IDS_SHOWN = 3
PACKAGES_SHOWN = 6


# -- summaries --------------------------------------------------------------------------------------


def summary_line(index: SecurityIndex, budget: int = 120) -> str:
    """'security: 43 CVEs in Linux, 2 in openssl and 3 more packages' in at most `budget` UTF-8 bytes
    ("" for a release without security fixes)."""
    if not len(index):
        return ""
    cves = all(i.startswith("CVE-") for i in index.ids)
    parts = [(f"in {p}", n) for p, n in index.packages()]
    parts += [("other", len(index.unattributed))] if index.unattributed else []

    def unit(n: int) -> str:
        return ("CVE" if cves else "fix") + ("" if n == 1 else ("s" if cves else "es"))

    def render(shown: int) -> str:
        total = f"security: {len(index)} {unit(len(index))}"
        if not shown or not index.fixes:
            return f"{total} in {len(parts)} packages" if len(parts) > 1 and index.fixes else total
        bits = [f"{n} {unit(n)} {p}" if k == 0 else f"{n} {p}" for k, (p, n) in enumerate(parts[:shown])]
        rest = len(parts) - shown
        more = f" and {rest} more package{'' if rest == 1 else 's'}" if rest else ""
        return "security: " + ", ".join(bits) + more

    for shown in range(len(parts), -1, -1):
        text = render(shown)
        if len(text.encode()) <= budget:
            return text
    return truncate_utf8(f"security: {len(index)} {unit(len(index))}", budget) if budget >= 4 else ""


def mail_lines(index: SecurityIndex) -> list[str]:
    """The full list for a mail body: one line per package, then each id with its link."""
    lines: list[str] = []
    for package, ids in index.ranked():
        lines += [f"{package} ({len(ids)}):", *(f"  {i} {id_link(i)}" for i in ids)]
    return lines


# -- !cve -------------------------------------------------------------------------------------------

Indexer = Callable[[Release], SecurityIndex]


@dataclass(frozen=True)
class StreamStatus:
    """One stream's answer for one id: the first release whose notes list it; else the first release
    of a newer major published after a release that lists it (`inherited`); else neither (not yet)."""

    project: str
    stream: str
    current: Release
    first: Release | None = None
    inherited: Release | None = None


@dataclass(frozen=True)
class CveStatus:
    """Where one CVE or GHSA id stands: the packages it was fixed in, per stream."""

    ident: str
    packages: tuple[str, ...]
    streams: tuple[StreamStatus, ...]

    @property
    def listed(self) -> bool:
        return any(s.first for s in self.streams)


def _date(release: Release) -> str:
    return release.published.strftime("%Y-%m-%d") if release.published else "unknown date"


def _label(release: Release) -> str:
    return stream_label(release.channel, release.stream)


#: The grouping of the last release tuple asked about (the state view's releases are one immutable
#: tuple until the next poll), so a burst of questions sorts the releases once, not once per question.
_last_groups: tuple[tuple[Release, ...], dict[tuple[str, str], list[Release]]] | None = None


def _groups(releases: Iterable[Release]) -> dict[tuple[str, str], list[Release]]:
    global _last_groups
    if isinstance(releases, tuple):
        if _last_groups is not None and _last_groups[0] is releases:
            return _last_groups[1]
        groups = _grouped(releases)
        _last_groups = (releases, groups)
        return groups
    return _grouped(releases)


_last_listed: tuple[Sequence[Release], Indexer, dict[str, set[tuple[str, str, str]]]] | None = None


def _listed_by(releases: Sequence[Release], index_of: Indexer) -> dict[str, set[tuple[str, str, str]]]:
    """id → the keys of the releases whose notes list it; kept for the last (tuple, indexer) asked."""
    global _last_listed
    if _last_listed is not None and _last_listed[0] is releases and _last_listed[1] is index_of:
        return _last_listed[2]
    listed: dict[str, set[tuple[str, str, str]]] = {}
    for release in releases:
        for ident in index_of(release).id_set:
            listed.setdefault(ident, set()).add(release.key)
    if isinstance(releases, tuple):
        _last_listed = (releases, index_of, listed)
    return listed


def _grouped(releases: Iterable[Release]) -> dict[tuple[str, str], list[Release]]:
    groups: dict[tuple[str, str], list[Release]] = {}
    for release in releases:
        groups.setdefault((release.project, release.stream), []).append(release)
    for items in groups.values():
        items.sort(key=lambda r: version_key(r.version))
    return dict(sorted(groups.items(), key=lambda kv: (kv[0][0], stream_sort_key(kv[0][1]))))


def _ships(listed: Iterable[Release]) -> Callable[[Release], bool]:
    """Whether a release ships what `listed` fixed: its major is at least as new as one of them and it
    was published later."""
    points = sorted((int(r.major), r.published) for r in listed if r.major.isdigit() and r.published)
    majors = [major for major, _ in points]
    earliest = list(accumulate((p for _, p in points), min))

    def ships(release: Release) -> bool:
        if not (release.major.isdigit() and release.published):
            return False
        k = bisect_right(majors, int(release.major))
        return k > 0 and earliest[k - 1] < release.published

    return ships


def cve_status(ident: str, releases: Sequence[Release], *, index_of: Indexer = release_security) -> CveStatus:
    """Per (project, stream): where `ident` (already normalised) is first listed (see StreamStatus)."""
    groups = _groups(releases)
    keys = _listed_by(releases, index_of).get(ident, set())
    listing = {key: [r for r in items if r.key in keys] for key, items in groups.items()}
    packages: dict[str, None] = {}
    streams: list[StreamStatus] = []
    ships: dict[str, Callable[[Release], bool]] = {}
    for (project, stream), items in groups.items():
        found = listing[(project, stream)]
        first = found[0] if found else None
        inherited = None
        if first is None:
            if project not in ships:
                ships[project] = _ships(r for (p, _s), rs in listing.items() if p == project for r in rs)
            inherited = next((r for r in items if ships[project](r)), None)
        else:
            index = index_of(first)
            packages.update(dict.fromkeys(f.package for f in index.fixes if ident in f.ids))
        streams.append(StreamStatus(project, stream, items[-1], first, inherited))
    return CveStatus(ident, tuple(packages), tuple(streams))


def _reference(status: StreamStatus, streams: Sequence[StreamStatus]) -> StreamStatus | None:
    """The stream to name as fixed next to one that is not: the nearest earlier on the ladder."""
    fixed = [s for s in streams if s.first and s.project == status.project]
    before = [s for s in fixed if stream_sort_key(s.stream) < stream_sort_key(status.stream)]
    return before[-1] if before else (fixed[0] if fixed else None)


def cve_answer(
    ident: str, releases: Sequence[Release], *, index_of: Indexer = release_security, prefix: str = "!"
) -> list[str]:
    """The reply to `!cve <id>`: per channel and LTS stream, the first release whose notes list it."""
    wanted = normalize_id(ident)
    if not ident.strip():
        return [f"usage: {prefix}cve CVE-YYYY-NNNN or {prefix}cve GHSA-xxxx-xxxx-xxxx"]
    if wanted is None:
        shown = sanitize(ident)[:40]
        return [f"not a CVE or GHSA id: {shown!r} (expected CVE-YYYY-NNNN or GHSA-xxxx-xxxx-xxxx)"]
    if not releases:
        return ["no releases known yet — the first poll has not completed"]
    status = cve_status(wanted, releases, index_of=index_of)
    if not status.listed:
        return [f"no {' or '.join(sorted({r.project for r in releases}))} release notes mention {wanted}"]
    projects = {s.project for s in status.streams if s.first}  # other projects' streams say nothing
    many = len(projects) > 1

    def name(s: StreamStatus, r: Release) -> str:
        return f"{s.project + ' ' if many else ''}{_label(r)} {r.version}"

    head = wanted + (f" ({', '.join(status.packages)})" if status.packages else "")
    fixed = [f"{name(s, s.first)} ({_date(s.first)})" for s in status.streams if s.first]
    lines = [f"{head} is first listed in the notes of {', '.join(fixed)}"]
    inherited = [s for s in status.streams if s.inherited]
    if inherited:
        shown = ", ".join(f"{name(s, s.inherited)} ({_date(s.inherited)})" for s in inherited)  # type: ignore[arg-type]
        lines.append(f"also shipped, without a mention, by {shown} (same or newer major, released later)")
    missing = [s for s in status.streams if not s.first and not s.inherited and s.project in projects]
    room = MAX_LINES - len(lines)
    for k, s in enumerate(missing):
        if k == room - 1 and len(missing) > room:
            rest = ", ".join(name(m, m.current) for m in missing[k:])
            lines.append(f"not yet in {rest}")
            break
        ref = _reference(s, status.streams)
        where = f"; fixed in {name(ref, ref.first)} ({_date(ref.first)})" if ref and ref.first else ""
        lines.append(f"not yet in {name(s, s.current)}{where}")
    return lines


# -- !security --------------------------------------------------------------------------------------


def _fixes_line(release: Release, index: SecurityIndex, budget: int = 400) -> str:
    head = f"{release.project} {_label(release)} {release.version} ({_date(release)})"
    tail = f" — {release.link}" if release.link else ""
    if not len(index):
        return f"{head}: no security fixes listed in its notes{tail}"
    groups = index.ranked()
    parts = [
        f"{p} {len(ids)} ({', '.join(ids[:IDS_SHOWN])}{', …' if len(ids) > IDS_SHOWN else ''})"
        for p, ids in groups
    ]
    start = f"{head}: {len(index)} security fixes — "
    for shown in range(min(len(parts), PACKAGES_SHOWN), 0, -1):
        rest = len(parts) - shown
        body = start + "; ".join(parts[:shown]) + (f"; and {rest} more packages" if rest else "")
        if len((body + tail).encode()) <= budget:
            return body + tail
    return truncate_utf8(start + parts[0], budget - len(tail.encode())) + tail


def security_answer(
    args: Sequence[str],
    releases: Sequence[Release],
    *,
    index_of: Indexer = release_security,
    prefix: str = "!",
) -> list[str]:
    """The reply to `!security [channel|version]`: the security fixes of the current release."""
    groups = _groups(releases)
    if not groups:
        return ["no releases known yet — the first poll has not completed"]
    current = {key: items[-1] for key, items in groups.items()}
    if not args:
        by_project: dict[str, list[str]] = {}
        for (project, _stream), r in current.items():
            by_project.setdefault(project, []).append(f"{_label(r)} {r.version}: {len(index_of(r))}")
        lines = [
            f"{p} security fixes in the current releases: {' | '.join(v)}" for p, v in by_project.items()
        ]
        return [
            *lines[: MAX_LINES - 1],
            f"details: {prefix}security <channel> (alpha, beta, stable, lts, lts-YYYY) or <version>",
        ]
    wanted = sanitize(args[0]).lower()[:40]
    if re.match(r"^\d+(\.\d+)*$", wanted):
        found = [r for items in groups.values() for r in items if r.version == wanted]
        if not found:
            return [f"no release {wanted} is known"]
    else:
        found = [r for (_p, stream), r in current.items() if wanted in (stream, r.channel, _label(r).lower())]
        if not found:
            names = sorted(
                {s for (_p, s) in current} | {r.channel for r in current.values()}, key=stream_sort_key
            )
            return [f"unknown channel {wanted[:30]!r}; known: {', '.join(names)}"]
    return [_fixes_line(r, index_of(r)) for r in found[:MAX_LINES]]


def template_vars(index: SecurityIndex, *, budget: int = 120) -> dict[str, object]:
    """The variables announcement templates get: `security` (the index), `security_summary` (the chat
    summary within `budget` bytes, "" without fixes) and `security_list` (the mail lines with links)."""
    return {
        "security": index,
        "security_summary": summary_line(index, budget),
        "security_list": mail_lines(index),
    }
