"""The `!deprecations` and `!roadmap` answers: pure functions over known notices and roadmap items.

`bot.commands.answer` calls these with the state view's data; they never fetch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from bot.channels import LADDER, channel_label
from bot.deprecations import shorten
from bot.model import Notice, Reach, Release, RoadmapItem, stage_slug, version_key

__all__ = [
    "NoticeProgress",
    "active_notices",
    "deprecations_reply",
    "progress",
    "roadmap_reply",
]

#: Most notice or item lines in one answer (a longer list ends with "… and N more").
MAX_LINES = 5


@dataclass(frozen=True)
class NoticeProgress:
    """A notice and the channels it is in so far (its first channel included)."""

    notice: Notice
    reached: dict[str, Reach]

    @property
    def pending(self) -> tuple[str, ...]:
        """Later channels of the ladder it has not reached yet."""
        if self.notice.channel not in LADDER:
            return ()
        later = LADDER[LADDER.index(self.notice.channel) + 1 :]
        return tuple(c for c in later if c not in self.reached)


def progress(notices: Iterable[Notice], reaches: Iterable[Reach]) -> list[NoticeProgress]:
    by_notice: dict[tuple[str, str], dict[str, Reach]] = {}
    for reach in reaches:
        by_notice.setdefault((reach.source, reach.notice_id), {})[reach.channel] = reach
    return [NoticeProgress(n, by_notice.get((n.source, n.id), {})) for n in notices]


def _newest_first(items: Iterable[NoticeProgress]) -> list[NoticeProgress]:
    def key(p: NoticeProgress) -> tuple[float, tuple[tuple[int, int | str], ...]]:
        stamp = p.notice.published.timestamp() if p.notice.published else 0.0
        return (stamp, version_key(p.notice.version or ""))

    return sorted(items, key=key, reverse=True)


def active_notices(
    notices: Iterable[Notice], reaches: Iterable[Reach], roadmap: Iterable[RoadmapItem] = ()
) -> list[NoticeProgress]:
    """Notices still on their way: from release notes, those that have not reached every later channel
    of the ladder; from the roadmap, those whose item is still open. Newest first."""
    open_items = {(i.source, i.id) for i in roadmap if i.state == "open"}
    out = []
    for item in progress(notices, reaches):
        if item.notice.channel == "roadmap":
            if (item.notice.source, item.notice.id) in open_items:
                out.append(item)
        elif item.pending:
            out.append(item)
    return _newest_first(out)


def _label(channel: str) -> str:
    return channel_label(channel)


def _where(p: NoticeProgress) -> str:
    if p.notice.channel == "roadmap":
        return f"on the roadmap ({p.notice.heading})" if p.notice.heading else "on the roadmap"
    steps = [f"{_label(c)} {p.reached[c].version}" for c in LADDER if c in p.reached and p.reached[c].version]
    text = " → ".join(steps)
    if p.pending:
        text += f"; not yet in {', '.join(_label(c) for c in p.pending)}"
    return text


def _line(p: NoticeProgress, where: str, link: str | None = None) -> str:
    link = link or p.notice.link
    text = f"{shorten(p.notice.summary, 160)} — {where}"
    return f"{text} — {link}" if link else text


def _more(lines: list[str], total: int, hint: str) -> list[str]:
    if total > len(lines):
        lines.append(f"… and {total - len(lines)} more{hint}")
    return lines


def _current_major(channel: str, releases: Iterable[Release]) -> int | None:
    newest = max(
        (r for r in releases if r.channel == channel), key=lambda r: version_key(r.version), default=None
    )
    if newest is None:
        return None
    head = newest.version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def deprecations_reply(
    args: Sequence[str],
    *,
    notices: Sequence[Notice],
    reaches: Sequence[Reach],
    releases: Sequence[Release],
    roadmap: Sequence[RoadmapItem] = (),
    prefix: str = "!",
) -> list[str]:
    """`!deprecations`: the notices still on their way through the channels, where each is.
    `!deprecations <channel>`: for that channel, what is coming (seen in an earlier channel, not here
    yet) and what arrived with its current major."""
    if not notices:
        return ["no deprecation notices known yet"]
    if not args:
        active = active_notices(notices, reaches, roadmap)
        if not active:
            return ["no deprecation notice is on its way: every known one has reached every channel"]
        lines = [_line(p, _where(p)) for p in active[:MAX_LINES]]
        return _more(lines, len(active), f" — {prefix}deprecations <channel>")
    wanted = args[0].lower()
    if wanted.startswith("lts"):
        wanted = "lts"
    if wanted == "roadmap":
        active = [p for p in active_notices(notices, reaches, roadmap) if p.notice.channel == "roadmap"]
        if not active:
            return ["no deprecation is open on the roadmap"]
        lines = [_line(p, _where(p)) for p in active[:MAX_LINES]]
        return _more(lines, len(active), "")
    if wanted not in LADDER:
        return [f"unknown channel {wanted[:30]!r}; try one of {', '.join(LADDER)} or roadmap"]
    rank = LADDER.index(wanted)
    current = _current_major(wanted, releases)
    coming: list[tuple[NoticeProgress, str]] = []
    arrived: list[tuple[NoticeProgress, str]] = []
    for p in _newest_first(progress(notices, reaches)):
        first = p.notice.channel
        if first not in LADDER:
            continue
        here = p.reached.get(wanted)
        if here is None:
            if LADDER.index(first) < rank:
                last = max((c for c in p.reached if c in LADDER), key=LADDER.index)
                coming.append(
                    (p, f"coming to {_label(wanted)}: in {_label(last)} since {p.reached[last].version}")
                )
            continue
        major = here.version.split(".", 1)[0] if here.version else ""
        if current is not None and major.isdigit() and int(major) == current:
            since = "first seen" if first == wanted else "arrived"
            arrived.append((p, f"{since} in {_label(wanted)} {here.version}"))
    found = coming + arrived
    if not found:
        return [f"nothing on its way to {_label(wanted)}, and no notice arrived with its current major"]
    here_links = {id(p): p.reached[wanted].link for p, _ in arrived}
    lines = [_line(p, where, here_links.get(id(p))) for p, where in found[:MAX_LINES]]
    return _more(lines, len(found), "")


# -- roadmap ---------------------------------------------------------------------------------------


#: Most bytes of a board's status name in an answer (statuses are the board's own words).
MAX_STATUS_BYTES = 40


def _status(item: RoadmapItem) -> str:
    if item.state == "closed":
        return "closed"
    return shorten(item.status, MAX_STATUS_BYTES) or "open"


def _item_line(item: RoadmapItem) -> str:
    title = shorten(item.title, 160)
    ref = f"#{item.number} " if item.number is not None else ""
    text = f"[{_status(item)}] {ref}{title}"
    return f"{text} — {item.url}" if item.url else text


def _recent(items: Iterable[RoadmapItem]) -> list[RoadmapItem]:
    return sorted(items, key=lambda i: (i.updated.timestamp() if i.updated else 0.0, i.id), reverse=True)


def merged(items: Iterable[RoadmapItem]) -> list[RoadmapItem]:
    """One item per (project, id) when several sources list it (a board and an issue listing): the
    most recently updated one, keeping the other's board status when it has none."""
    chosen: dict[tuple[str, str], RoadmapItem] = {}
    for item in items:
        key = (item.project, item.id)
        other = chosen.get(key)
        if other is None:
            chosen[key] = item
            continue
        newer, older = (item, other) if _stamp(item) >= _stamp(other) else (other, item)
        if not newer.status and older.status:
            newer = replace(newer, status=older.status)
        chosen[key] = newer
    return list(chosen.values())


def _stamp(item: RoadmapItem) -> float:
    return item.updated.timestamp() if item.updated else 0.0


def roadmap_reply(args: Sequence[str], *, items: Sequence[RoadmapItem], prefix: str = "!") -> list[str]:
    """`!roadmap`: per project, how many open items in each status and the most recently updated ones.
    `!roadmap <status>` ("in-progress", "planned", "closed", …): the items in that status."""
    items = merged(items)
    if not items:
        return ["no roadmap items known yet"]
    if args:
        wanted = stage_slug(" ".join(args))
        if wanted == "closed":
            chosen = [i for i in items if i.state == "closed"]
        else:
            chosen = [i for i in items if i.state == "open" and stage_slug(_status(i)).startswith(wanted)]
        if not chosen:
            statuses = sorted({_status(i) for i in items if i.state == "open"}, key=str.casefold)
            return [f"no roadmap item is {' '.join(args)[:30]!r}; open items are: {', '.join(statuses)}"]
        ordered = _recent(chosen)
        return _more([_item_line(i) for i in ordered[:MAX_LINES]], len(ordered), "")
    open_items = [i for i in items if i.state == "open"]
    if not open_items:
        return [f"no open roadmap items ({len(items)} closed) — {prefix}roadmap closed"]
    lines: list[str] = []
    for project in sorted({i.project for i in open_items}, key=str.casefold):
        mine = [i for i in open_items if i.project == project]
        counts = Counter(_status(i) for i in mine)
        summary = ", ".join(
            f"{status} {n}" for status, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        lines.append(f"{project} roadmap: {len(mine)} open — {summary} ({prefix}roadmap <status>)")
    ordered = _recent(open_items)
    budget = max(1, MAX_LINES - len(lines))
    lines += [_item_line(i) for i in ordered[:budget]]
    return lines
