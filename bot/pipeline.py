"""The one poll pipeline, pure: what a fetch found + what is known → a `PollPlan` (detection,
deprecation notices, roadmap changes, ordering, rendering). No I/O: the store is read before
(`bot.recording.load_known`) and written after (`bot.recording.record`), by the caller.

`plan_poll` is used by the daemon, `once` and `preview` alike.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot.config import RoadmapSource
from bot.errors import RenderError
from bot.fetched import DocumentUpdate, ReleaseFetch, RoadmapFetch, SourceFetch
from bot.model import AnyEvent, Event, Notice, Reach, Release, RoadmapItem, Snapshot, SummaryEvent

if TYPE_CHECKING:
    from bot.config import SourceConfig
    from bot.store import OutboxMessage

# Detection (`bot.detect`, `bot.deprecations`, `bot.roadmap`) and the render batch are imported where
# a poll read something: a poll where every document answered 304 plans nothing and needs none of them.

__all__ = [
    "Known",
    "PollPlan",
    "PollResult",
    "Render",
    "detect_poll",
    "in_order",
    "plan_poll",
    "render_plan",
    "render_steps",
]

#: Renders one event for every sink that wants it (raises RenderError).
Render = Callable[[AnyEvent], "Sequence[OutboxMessage]"]


@dataclass(frozen=True)
class Known:
    """What the store knew about a source before this poll."""

    documents: Mapping[str, datetime | None] = field(default_factory=dict)  # read before → first read
    releases: Mapping[tuple[str, str], Release] = field(default_factory=dict)
    notices: tuple[Notice, ...] = ()
    reached: frozenset[tuple[str, str]] = frozenset()
    roadmap_items: Mapping[str, RoadmapItem] = field(default_factory=dict)


@dataclass(frozen=True)
class PollPlan:
    """Everything one poll records (in one transaction) and announces."""

    source: str
    updates: tuple[DocumentUpdate, ...] = ()
    new_releases: tuple[Release, ...] = ()
    events: tuple[AnyEvent, ...] = ()
    messages: tuple[tuple[AnyEvent, tuple[OutboxMessage, ...]], ...] = ()
    notices: tuple[Notice, ...] = ()
    reaches: tuple[Reach, ...] = ()
    roadmap_items: tuple[RoadmapItem, ...] = ()
    roadmap_absent: tuple[str, ...] = ()
    error: str | None = None  # recorded as the poll's error (fetch errors, a rate limit)
    fetch_errors: tuple[str, ...] = ()  # documents that could not be read (a failure of the source)
    render_failed: bool = False  # nothing but the error is recorded: the same events come again
    baselined: tuple[str, ...] = ()  # documents recorded silently for the first time
    silent: int = 0  # releases/items recorded silently with a baseline
    warnings: tuple[str, ...] = ()
    retry_after: float | None = None
    rate_limited: str | None = None
    roadmap: bool = False
    summaries: tuple[SummaryEvent, ...] = ()  # floods announced as one summary (also in `events`)

    @property
    def unchanged(self) -> int:
        return sum(1 for u in self.updates if not u.changed)


@dataclass
class PollResult:
    """What one poll did, as `once`, the daemon and the logs report it."""

    source: str
    ok: bool
    error: str | None = None
    #: the keys of the events recorded for announcement (not the events: a large poll's releases,
    #: notes and rendered messages are freed once it is recorded, not kept until every poll is done)
    announced: tuple[str, ...] = ()
    new_releases: int = 0
    baselined: tuple[str, ...] = ()
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)
    retry_after: float | None = None  # rate limited: seconds until the source may be asked again

    @classmethod
    def of(cls, plan: PollPlan) -> PollResult:
        if plan.render_failed:
            return cls(plan.source, ok=False, error=plan.error)
        return cls(
            plan.source,
            ok=plan.error is None,
            error=plan.error,
            announced=tuple(event.key for event in plan.events),
            new_releases=len(plan.new_releases),
            baselined=plan.baselined,
            unchanged=plan.unchanged,
            warnings=list(plan.warnings),
            retry_after=plan.retry_after,
        )


def in_order(events: Sequence[AnyEvent]) -> list[AnyEvent]:
    """Oldest first; a release's own announcement before the deprecation notices it brings."""
    indexed = list(enumerate(events))
    indexed.sort(
        key=lambda pair: (
            pair[1].published.timestamp() if pair[1].published else 0.0,
            0 if isinstance(pair[1], Event) else 1,
            pair[0],
        )
    )
    return [event for _, event in indexed]


def _releases(source: SourceConfig, fetched: ReleaseFetch, known: Known, announce: int) -> PollPlan:
    from bot.deprecations import DeprecationDetection, detect_deprecations
    from bot.detect import detect

    detection = detect(
        Snapshot(source.name, tuple(fetched.documents)),
        known.releases,
        baselined_documents=set(known.documents),
        announce_on_baseline=announce,
        flood_limit=source.flood_limit,
    )
    deprecations = DeprecationDetection((), (), ())
    if fetched.deprecation_notes and detection.new:
        # A release recorded silently records its notices silently.
        announced = {(e.release.stream, e.release.version) for e in detection.events}
        deprecations = detect_deprecations(
            [(r, (r.stream, r.version) in announced) for r in detection.new],
            known.notices,
            known.reached,
            known_releases=known.releases.values(),
        )
    events = in_order([*detection.events, *deprecations.events, *detection.summaries])
    return PollPlan(
        source.name,
        updates=tuple(fetched.updates),
        new_releases=detection.new,
        events=tuple(events),
        notices=deprecations.notices,
        reaches=deprecations.reaches,
        baselined=detection.baselined,
        silent=len(detection.new) - len(detection.events),
        warnings=tuple(fetched.warnings),
        summaries=detection.summaries,
    )


def _roadmap(source: RoadmapSource, fetched: RoadmapFetch, known: Known, announce: int) -> PollPlan:
    from bot.roadmap import detect_roadmap

    detection = detect_roadmap(
        fetched.documents,
        known.roadmap_items,
        baselined_documents=known.documents,
        known_notices={n.id for n in known.notices},
        statuses=source.statuses,
        deprecation_labels=source.deprecation_labels,
        announce_on_baseline=announce,
        every_document=fetched.every_document,
    )
    return PollPlan(
        source.name,
        updates=tuple(fetched.updates),
        events=detection.events,
        notices=detection.notices,
        reaches=detection.reaches,
        roadmap_items=detection.items,
        roadmap_absent=detection.absent,
        baselined=detection.baselined,
        silent=len(detection.items),
        warnings=tuple(fetched.warnings),
        roadmap=True,
    )


def detect_poll(
    source: SourceConfig, fetched: SourceFetch, known: Known, *, announce_on_baseline: int | None = None
) -> PollPlan:
    """Detection only (CPU work, may run off the event loop): the plan without rendered messages.
    `announce_on_baseline` overrides the source's `announce_on_first_run`."""
    announce = source.announce_on_first_run if announce_on_baseline is None else announce_on_baseline
    if isinstance(fetched, RoadmapFetch):
        if not isinstance(source, RoadmapSource):
            raise TypeError(f"source {source.name!r}: a roadmap fetch for a {source.kind} source")
        plan = _roadmap(source, fetched, known, announce)
    elif isinstance(fetched, ReleaseFetch):
        plan = _releases(source, fetched, known, announce)
    else:
        raise TypeError(f"source {source.name!r}: cannot plan a poll from {type(fetched).__name__}")
    error = "; ".join(fetched.errors) if fetched.errors else None
    if fetched.rate_limited:
        error = "; ".join(e for e in (error, fetched.rate_limited) if e)
    return replace(
        plan,
        error=error,
        fetch_errors=tuple(fetched.errors),
        retry_after=fetched.retry_after,
        rate_limited=fetched.rate_limited,
    )


def render_plan(plan: PollPlan, render: Render) -> PollPlan:
    """The plan with each event's outbox messages; a template error turns it into a failed poll that
    records nothing but the error (the same events are detected again once the template is fixed)."""
    steps = render_steps(plan, render, len(plan.events) or 1)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            rendered: PollPlan = done.value
            return rendered


def render_steps(plan: PollPlan, render: Render, size: int) -> Generator[None, None, PollPlan]:
    """`render_plan` in slices of `size` events: yields after each slice but the last (so the caller
    can let other work run between them) and returns the rendered — or failed — plan."""
    messages: list[tuple[AnyEvent, tuple[OutboxMessage, ...]]] = []
    events = plan.events
    for start in range(0, len(events), size):
        if start:
            yield
        from bot.presentation.batch import rendering

        try:
            with rendering(events):  # a release's mail carries the notices that arrive with it
                messages.extend((event, tuple(render(event))) for event in events[start : start + size])
        except RenderError as exc:
            return PollPlan(
                plan.source,
                error=f"source {plan.source!r}: rendering failed: {exc}",
                render_failed=True,
                roadmap=plan.roadmap,
            )
    return replace(plan, messages=tuple(messages))


def plan_poll(
    source: SourceConfig,
    fetched: SourceFetch,
    known: Known,
    *,
    render: Render,
    announce_on_baseline: int | None = None,
) -> PollPlan:
    """What one poll records and announces: `detect_poll`, then `render_plan`."""
    return render_plan(detect_poll(source, fetched, known, announce_on_baseline=announce_on_baseline), render)
