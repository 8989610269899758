"""Mail digests: everything announced since a list's previous digest, sent on a cron schedule.

The schedule logic is pure: `digest_due(last_sent, now, trigger)` says which period (if any) is due,
so the cron job, a start after downtime (a missed digest is sent once, at the next start) and the
tests with a controlled clock all take the same path. `digest_context` (in `bot.digest_render`)
groups events for the templates. `tick` records a period and queues its mail in one transaction
(`StateStore.record_digest`): a digest is identified by (output, period end), so it is never queued
twice, and it waits in the outbox like any message, so it is never lost.

The first time a digest output is seen, a silent baseline is recorded at the schedule's previous fire
time: the first digest then covers a whole period, not the whole history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from bot.config import Config, Filter
from bot.digest_render import (
    RELEASE_KINDS,
    SECTION_TITLES,
    digest_context,
    digest_message_id,
    section_title,
)
from bot.errors import BotError
from bot.model import AnyEvent
from bot.presentation import Renderer
from bot.routing import passes
from bot.store import OutboxMessage, StateStore

if TYPE_CHECKING:
    from bot.sinks import Sink
    from bot.sinks.mail import MailSink

log = logging.getLogger("release-bot")

__all__ = [
    "RELEASE_KINDS",
    "SECTION_TITLES",
    "DigestHost",
    "DigestPlan",
    "check_digests",
    "check_templates",
    "digest_context",
    "digest_due",
    "digest_message_id",
    "enqueue",
    "latest_fire",
    "local_time",
    "next_fire",
    "plan",
    "render",
    "routed",
    "schedule_digests",
    "section_title",
    "status_lines",
    "tick",
]


class DigestHost(Protocol):
    """What the digest jobs use of the running bot (`bot.app.Bot`)."""

    @property
    def sinks(self) -> Sequence[Sink]: ...

    @property
    def store(self) -> StateStore: ...

    @property
    def renderer(self) -> Renderer: ...

    def clock(self) -> datetime: ...


# -- the schedule (pure) ---------------------------------------------------------------------------


def _fire_times(trigger: Any, after: datetime, until: datetime) -> Iterable[datetime]:
    """Fire times of an APScheduler 3.x trigger in (after, until], in order."""
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    while fire is not None and fire <= until:
        yield fire
        fire = trigger.get_next_fire_time(fire, fire)


def latest_fire(trigger: Any, now: datetime, *, after: datetime | None = None) -> datetime | None:
    """The last fire time of `trigger` at or before `now` (and after `after`, if given)."""
    floor = after
    for span in (timedelta(days=2), timedelta(days=35), timedelta(days=400), timedelta(days=1500)):
        start = now - span if floor is None else max(floor, now - span)
        latest = None
        for latest in _fire_times(trigger, start, now):  # noqa: B007 - we want the last one
            pass
        if latest is not None:
            return latest
        if floor is not None and start == floor:
            return None
    return None


def digest_due(last_sent: datetime | None, now: datetime, trigger: Any) -> datetime | None:
    """The period end of the digest due at `now`, or None.

    `last_sent` is the end of the previous digest period (None: nothing recorded yet, so nothing is
    due). When several fire times passed since — the bot was down — only the latest is due: one
    digest covers everything since the previous one.
    """
    if last_sent is None or now <= last_sent:
        return None
    return latest_fire(trigger, now, after=last_sent)


def next_fire(trigger: Any, now: datetime) -> datetime | None:
    fire: datetime | None = trigger.get_next_fire_time(None, now)
    return fire


def routed(events: Iterable[tuple[int, AnyEvent]], route: Filter) -> list[tuple[int, AnyEvent]]:
    return [(i, e) for i, e in events if passes(route, e)]


# -- planning and queueing (store) -----------------------------------------------------------------


@dataclass(frozen=True)
class DigestPlan:
    """One digest of one output: the period and the events it covers."""

    output: str
    period_start: datetime | None
    period_end: datetime
    events: list[tuple[int, AnyEvent]]  # routed to this digest
    last_event_id: int  # every event up to this id is covered (routed or not)
    baseline: bool = False  # no digest was recorded before
    known_projects: tuple[str, ...] = ()  # of the sources the digest follows (the subject's tag)


def plan(store: StateStore, sink: MailSink, *, period_end: datetime) -> DigestPlan:
    """What the digest of `sink` ending at `period_end` covers: every event since the previous digest
    (with none recorded yet: since the schedule's previous fire time)."""
    digest = sink.mail.digest
    if digest is None:
        raise BotError(f"output {sink.name!r} has no [outputs.digest]")
    last = store.last_digest(sink.name)
    baseline = last is None
    if last is not None:
        start: datetime | None = last.period_end
        since = last.last_event_id
    else:
        start = latest_fire(digest.trigger(), period_end - timedelta(microseconds=1))
        since = store.event_id_at(start) if start else 0
    events = store.events(since_id=since)
    last_id = max((i for i, _ in events), default=since)
    return DigestPlan(
        output=sink.name,
        period_start=start,
        period_end=period_end,
        events=routed(events, digest.filter),
        last_event_id=last_id,
        baseline=baseline,
        known_projects=_known_projects(store, digest.filter),
    )


def _known_projects(store: StateStore, route: Filter) -> tuple[str, ...]:
    """The projects of the releases known from the sources `route` lets through, in order of name."""
    projects = {r.project for r in store.releases() if not route.sources or r.source in route.sources}
    return tuple(sorted(projects, key=str.casefold))


def render(sink: MailSink, digest_plan: DigestPlan, renderer: Renderer) -> OutboxMessage:
    digest = sink.mail.digest
    context = digest_context(
        digest_plan.events,
        output=sink.name,
        period_start=digest_plan.period_start,
        period_end=digest_plan.period_end,
        timezone=digest.timezone if digest else "UTC",
        known_projects=digest_plan.known_projects,
    )
    return OutboxMessage(
        sink=sink.name,
        message_id=digest_message_id(sink.name, digest_plan.period_end, domain=sink.mail.message_id_domain),
        payload=sink.render_digest(context, renderer),
        group=sink.group,
    )


def enqueue(
    store: StateStore,
    sink: MailSink,
    renderer: Renderer,
    *,
    now: datetime,
    period_end: datetime,
    force: bool = False,
) -> DigestPlan | None:
    """Record the digest period ending at `period_end` and queue its mail (unless it is empty and the
    list does not want empty digests, or `force`). None if that period was already recorded."""
    digest = sink.mail.digest
    assert digest is not None
    digest_plan = plan(store, sink, period_end=period_end)
    send = bool(digest_plan.events) or digest.send_empty or force
    message = render(sink, digest_plan, renderer) if send else None
    recorded = store.record_digest(
        sink.name,
        now=now,
        period_start=digest_plan.period_start,
        period_end=period_end,
        last_event_id=digest_plan.last_event_id,
        count=len(digest_plan.events),
        status="queued" if send else "empty",
        message=message,
    )
    if not recorded:
        return None
    if send:
        log.info(
            "output %s: digest for %s – %s queued (%d announcement(s))",
            sink.name,
            digest_plan.period_start.isoformat() if digest_plan.period_start else "the beginning",
            period_end.isoformat(),
            len(digest_plan.events),
        )
    else:
        log.info("output %s: digest period ending %s had nothing to send", sink.name, period_end.isoformat())
    return digest_plan


def tick(store: StateStore, sink: MailSink, renderer: Renderer, *, now: datetime) -> DigestPlan | None:
    """Queue the digest due at `now`, if any — the cron job and the start-up check both call this.
    The first call for an output records a silent baseline at the schedule's previous fire time."""
    digest = sink.mail.digest
    if digest is None:
        return None
    trigger = digest.trigger()
    last = store.last_digest(sink.name)
    if last is None:
        start = latest_fire(trigger, now) or now
        store.record_digest(
            sink.name,
            now=now,
            period_start=None,
            period_end=start,
            last_event_id=store.event_id_at(start),
            count=0,
            status="baseline",
        )
        log.info(
            "output %s: digest baseline recorded at %s; next digest %s",
            sink.name,
            start.isoformat(),
            _when(next_fire(trigger, now)),
        )
        last = store.last_digest(sink.name)
    due = digest_due(last.period_end if last else None, now, trigger)
    if due is None:
        return None
    return enqueue(store, sink, renderer, now=now, period_end=due)


def _when(when: datetime | None) -> str:
    return when.isoformat() if when else "never"


def local_time(when: datetime | None, timezone: str) -> str:
    """`when` for people, in the digest's time zone: "2025-03-24 09:00 CET"."""
    if when is None:
        return "never"
    return when.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


# -- wiring into the Bot ---------------------------------------------------------------------------


def digest_sinks(sinks: Iterable[Sink]) -> list[MailSink]:
    from bot.sinks.mail import MailSink

    return [s for s in sinks if s.has_digest and isinstance(s, MailSink)]


def check_digests(bot: DigestHost) -> int:
    """Queue every digest due now (a missed one included); returns how many were queued."""
    queued = 0
    for sink in digest_sinks(bot.sinks):
        try:
            result = tick(bot.store, sink, bot.renderer, now=bot.clock())
        except BotError as exc:
            log.error("output %s: digest failed: %s", sink.name, exc)
            continue
        if result is not None:
            queued += 1
    return queued


def schedule_digests(bot: DigestHost, scheduler: Any, *, on_queued: Callable[[], None]) -> None:
    """At start: queue a digest missed while the bot was down; then one cron job per digest output."""
    if check_digests(bot):
        on_queued()
    for sink in digest_sinks(bot.sinks):
        digest = sink.mail.digest
        assert digest is not None

        async def job(sink: MailSink = sink) -> None:
            try:
                result = tick(bot.store, sink, bot.renderer, now=bot.clock())
            except BotError as exc:
                log.error("output %s: digest failed: %s", sink.name, exc)
                return
            except Exception:
                log.exception("output %s: digest failed", sink.name)
                return
            if result is not None:
                on_queued()

        scheduler.add_job(
            job,
            digest.trigger(),
            id=f"digest:{sink.name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        log.info(
            "output %s: digest on %s, next %s",
            sink.name,
            digest.describe(),
            _when(next_fire(digest.trigger(), bot.clock())),
        )


def check_templates(sinks: Iterable[Sink], renderer: Renderer) -> None:
    """Render the digest templates of every digest output once (with sample events, and empty)."""
    from bot.presentation import sample_events

    events = list(enumerate(sample_events(), start=1))
    end = datetime(2025, 4, 14, 7, 0, tzinfo=UTC)
    for sink in digest_sinks(sinks):
        timezone = sink.mail.digest.timezone if sink.mail.digest else "UTC"
        for sample in (events, []):
            context = digest_context(
                sample,
                output=sink.name,
                period_start=end - timedelta(days=7),
                period_end=end,
                timezone=timezone,
            )
            sink.render_digest(context, renderer)  # raises RenderError naming the template


def status_lines(config: Config, store: StateStore) -> list[str]:
    """What `release-bot status` says about each digest: schedule, last period, next run."""
    lines = []
    for output in config.outputs:
        digest = output.mail.digest if output.kind == "mail" else None
        if digest is None:
            continue
        last = store.last_digest(output.name)
        zone = digest.timezone
        upcoming = next_fire(digest.trigger(), datetime.now(UTC))
        lines.append(f"output {output.name} digest: {digest.describe()}; next {local_time(upcoming, zone)}")
        if last is None:
            lines.append("  last digest:  none yet (the first start records a baseline)")
        elif last.status == "baseline":
            lines.append(f"  last digest:  none yet; baseline at {local_time(last.period_end, zone)}")
        else:
            what = f"{last.events} announcement(s)" + (", not sent (empty)" if last.status == "empty" else "")
            lines.append(f"  last digest:  period ending {local_time(last.period_end, zone)} ({what})")
    return lines
