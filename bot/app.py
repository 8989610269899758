"""Wiring: sources → plan (pure) → record (state + outbox in one transaction) → delivery → sinks.

`Bot.poll` fetches, plans and records one source; `Bot.deliver` empties the outbox into the sinks
(`bot.delivery`); `Bot.run` schedules both until stopped (`bot.daemon`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot import __version__
from bot.backoff import Streaks
from bot.config import Config, SourceConfig
from bot.cputurn import INLINE_RENDERS, RENDER_SLICE, cpu_turn, freeze_startup
from bot.delivery import Deliverer, DeliveryResult
from bot.errors import ParseError
from bot.failures import describe_store_error, summarise_errors
from bot.fetched import ReleaseFetch, SourceFetch
from bot.model import AnyEvent
from bot.pipeline import Known, PollPlan, PollResult, detect_poll, render_plan, render_steps
from bot.planner import Planner
from bot.presentation import Renderer
from bot.quietpolls import QuietPolls, is_quiet
from bot.recording import load_known, record
from bot.sinks import Sink, build_sinks
from bot.sources import fetch_source, kind_of
from bot.sources.http import HttpFetcher
from bot.store import OutboxItem, OutboxMessage, StateStore, ThreadStart
from bot.store.backend import open_state
from bot.web import metrics

if TYPE_CHECKING:  # the commands load when a channel first asks one (`state_view`)
    from bot.commands import StateView

log = logging.getLogger("release-bot")

Clock = Callable[[], datetime]

#: polls between their fetch and their commit at once (at least; twice `[http] concurrency` if more)
POLLS_IN_FLIGHT = 8
#: a poll that read up to this many releases is detected on the loop (540 releases: ~5–18 ms)
INLINE_RELEASES = 1000


def utcnow() -> datetime:
    return datetime.now(UTC)


def http_fetcher(config: Config) -> HttpFetcher:
    """The fetcher the config asks for (user agent, deadline, byte cap, concurrency)."""
    return HttpFetcher(
        user_agent=config.http.user_agent.format(version=__version__),
        timeout=config.http.timeout,
        max_bytes=config.http.max_bytes,
        concurrency=config.http.concurrency,
    )


class Bot:
    def __init__(
        self,
        config: Config,
        *,
        store: StateStore | None = None,
        fetcher: HttpFetcher | None = None,
        sinks: Sequence[Sink] | None = None,
        renderer: Renderer | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.config = config
        self.store: StateStore = store or open_state(config)
        self.fetcher = fetcher or http_fetcher(config)
        self.sinks = list(sinks) if sinks is not None else build_sinks(config.outputs)
        self.renderer = renderer or Renderer(override_dir=config.templates)
        self.clock = clock
        self.streaks = Streaks(initial=config.http.retry_initial, cap=config.http.retry_max)
        self.deliverer = Deliverer(self.store, self.sinks, clock=lambda: self.clock())
        self.wake = asyncio.Event()
        self._state_view: StateView | None = None
        #: the daemon retries failed sources on its own; `once` does not (its log says no "retrying in")
        self.retrying = False
        self._next_prune = 0.0  # time.monotonic() of the next pruning of delivered bodies
        #: the planning thread: detection and rendering of one poll at a time, off the event loop
        self._planner = Planner()
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        #: the status of polls that found nothing new, written for many sources in one transaction
        self._quiet = QuietPolls(self._write_quiet)
        for sink in self.sinks:
            sink.attach(self)

    async def aclose(self) -> None:
        self._quiet.flush_logged()  # the status of the last quiet polls
        await self.deliverer.close()  # closes the sinks, releases the delivery lock
        await self.fetcher.aclose()
        self._planner.close()  # a plan in flight records nothing
        self.store.close()

    # -- polling ---------------------------------------------------------------------------------

    def _messages(self, events: Sequence[AnyEvent]) -> list[tuple[AnyEvent, list[OutboxMessage]]]:
        return [(event, self.render(event)) for event in events]

    def render(self, event: AnyEvent) -> list[OutboxMessage]:
        """The outbox message of `event` for every sink that wants it."""
        return [sink.format(event, self.renderer) for sink in self.sinks if sink.wants(event)]

    def _plan(self, source: SourceConfig, fetched: SourceFetch, known: Known) -> PollPlan:
        """Detection and rendering of one poll, in the planning thread (`self._planner`), or on the
        loop when nothing was read."""
        return render_plan(detect_poll(source, fetched, known), self._render_paused)

    async def _planned(self, source: SourceConfig, fetched: SourceFetch, known: Known) -> PollPlan:
        """`_plan` where it costs least: a small poll (the usual one: a few new releases) is detected
        and rendered on the loop in its CPU turn (`bot.cputurn`); a large one, or one with many
        messages to render, in the planning thread."""
        read = sum(len(d.releases) for d in fetched.documents) if isinstance(fetched, ReleaseFetch) else None
        if read is not None and read <= INLINE_RELEASES:
            async with cpu_turn():
                detected = detect_poll(source, fetched, known)
                renders = sum(1 for event in detected.events for sink in self.sinks if sink.wants(event))
            if renders > INLINE_RENDERS:
                return await self._planner.run(lambda: render_plan(detected, self._render_paused))
            steps = render_steps(detected, self.render, RENDER_SLICE)  # a turn per slice of events
            while True:
                async with cpu_turn():
                    try:
                        next(steps)
                    except StopIteration as done:
                        rendered: PollPlan = done.value
                        return rendered
        return await self._planner.run(lambda: self._plan(source, fetched, known))

    def _render_paused(self, event: AnyEvent) -> list[OutboxMessage]:
        self._planner.checkpoint()  # the loop's thread may be recording another poll: it goes first
        return self.render(event)

    def _poll_slots(self) -> asyncio.Semaphore:
        """The polls of this loop between their fetch and their commit, at most `POLLS_IN_FLIGHT` (or
        twice the fetch concurrency): fetches that outrun the planning thread would otherwise keep
        every fetched document in memory while they wait for it (1,000 feeds under `once`)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(max(POLLS_IN_FLIGHT, 2 * self.config.http.concurrency)))
        return self._slots[1]

    async def poll(self, source: SourceConfig) -> PollResult:
        """Fetch one source, plan what is new, and record state + outbox in one transaction.

        The CPU work of a poll — detection (reading every new release's notes) and rendering each
        event for each sink — runs one poll at a time: a small poll on the loop in its CPU turn (one
        per loop iteration), a large one in the planning thread, so that no poll holds the event loop
        long (IRC PINGs, delivery, commands go on) and polls finishing together do not pile their
        work up on it. The store is read and written on the loop's thread only
        (`thread_starts` hops there); reading what is known and the one commit are short."""
        async with self._poll_slots():
            return await self._poll(source)

    async def _poll(self, source: SourceConfig) -> PollResult:
        with metrics.time_poll(source.name) as done:
            now = self.clock()
            roadmap = kind_of(source).roadmap
            stored = self.store.documents(source.name)
            fetched = await fetch_source(self.fetcher, source, stored)
            metrics.count_fetch(source.name, fetched)
            if not self._quiet.failing and is_quiet(fetched, stored):
                # nothing new and nothing to store but the status: no planning, no transaction of its
                # own (`bot.quietpolls`)
                plan = PollPlan(source.name, updates=tuple(fetched.updates))
                self._quiet.add(source.name, now)
                self._note_success(source)
                done(True)
                return PollResult.of(plan)
            if isinstance(fetched, ReleaseFetch) and not fetched.documents:
                # nothing was read (all 304 or unchanged bodies): nothing to detect against known
                # releases, nothing to render — planned here, without a trip to the planning thread
                known = Known(documents=self.store.document_baselines(source.name))
                plan = self._plan(source, fetched, known)
            else:
                with self._planner.exclusive():
                    known = load_known(self.store, source.name, roadmap=roadmap)
                plan = await self._planned(source, fetched, known)
            self._state_view = None
            self._quiet.discard(source.name)  # an older quiet poll must not overwrite this one
            async with cpu_turn():  # a large commit starts in a loop iteration of its own
                with self._planner.exclusive():
                    record(self.store, plan, now=now)
            if any(messages for _, messages in plan.messages):
                self.wake.set()  # something to deliver: `run`'s delivery job, `once`'s early passes
            if self._quiet.failing:  # the store takes writes again: the quiet polls left over too
                self._quiet.flush_logged()
            self._log(source, plan)
            result = PollResult.of(plan)
            if not plan.render_failed:
                metrics.count_events(event.kind for event in plan.events)
            done(result.ok)
            return result

    def _log(self, source: SourceConfig, plan: PollPlan) -> None:
        if plan.render_failed:
            self._note_failure(source, plan.error or "rendering failed")
            return
        for warning in plan.warnings:
            log.warning("%s", warning)
        if plan.baselined:
            log.info(
                "source %s: baseline recorded for %s (%d %s, nothing old announced)",
                source.name,
                ", ".join(plan.baselined),
                plan.silent,
                "items" if plan.roadmap else "releases",
            )
        if plan.fetch_errors:
            self._note_failure(source, summarise_errors(source.name, plan.fetch_errors))
        elif plan.retry_after is None:
            self._note_success(source)
        if plan.retry_after is not None:
            # not a failure: the source said when to come back; the next poll is pushed to that time
            log.info(
                "source %s: %s; next poll in %s", source.name, plan.rate_limited, _human(plan.retry_after)
            )
        for summary in plan.summaries:
            log.warning(
                "source %s: %d new releases in document %s, more than flood_limit %d: announced as one "
                "summary (%s), not one by one",
                source.name,
                summary.count,
                summary.document,
                source.flood_limit,
                summary.key,
            )
        for event in plan.events:
            log.info("source %s: %s", source.name, event.key)

    def _note_failure(self, source: SourceConfig, error: str) -> None:
        streak = self.streaks.failed(source.name)
        if streak == 1:
            retry = f"; retrying in {_human(self.retry_delay(source))}" if self.retrying else ""
            log.warning("%s%s (logged once until it recovers)", error, retry)
        else:
            log.debug("source %s still failing (%d in a row): %s", source.name, streak, error)

    def _note_success(self, source: SourceConfig) -> None:
        streak = self.streaks.succeeded(source.name)
        if streak:
            log.info("source %s recovered after %d failed poll(s)", source.name, streak)

    def next_poll_delay(self, source: SourceConfig, result: PollResult) -> float:
        """Seconds until the source's next poll: its interval; after a failure the backoff; when it was
        rate limited, the time until the limit resets."""
        if result.retry_after is not None:
            return max(result.retry_after, 1.0)
        return source.interval if result.ok else self.retry_delay(source)

    def retry_delay(self, source: SourceConfig) -> float:
        """Exponential backoff with jitter after consecutive failures, capped by http.retry_max."""
        return self.streaks.delay(source.name, otherwise=source.interval)

    def _write_quiet(self, polls: list[tuple[str, datetime]]) -> None:
        with self._planner.exclusive():
            self.store.record_quiet_polls(polls)
        self._state_view = None

    async def poll_all(self) -> list[PollResult]:
        results = await asyncio.gather(*(self.poll(s) for s in self.config.sources), return_exceptions=True)
        quiet = set(self._quiet.sources())
        try:
            self._quiet.flush()  # the cycle's quiet polls, in one transaction
        except Exception as exc:  # noqa: BLE001 - reported per source below, as a failed commit is
            for name in quiet:
                self._quiet.discard(name)
            results = [exc if isinstance(r, PollResult) and r.source in quiet else r for r in results]
        out: list[PollResult] = []
        for source, result in zip(self.config.sources, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                cause = describe_store_error(result)  # read-only state, disk full: one line, no traceback
                if cause is None:
                    log.error("source %s: unexpected error", source.name, exc_info=result)
                else:
                    log.error("source %s: %s (%s)", source.name, cause, self.config.state)
                error = cause or f"{type(result).__name__}: {result}"
                out.append(PollResult(source.name, ok=False, error=error))
            else:
                out.append(result)
        return out

    # -- delivery --------------------------------------------------------------------------------

    async def deliver(self) -> DeliveryResult:
        """Deliver every due outbox message (see `bot.delivery.Deliverer`); then, at most hourly, drop
        the bodies of messages delivered longer ago than `[bot] outbox_retention`."""
        result = await self.deliverer.deliver()
        if self.deliverer.lock.held and time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + 3600.0
            self.store.prune_delivered(before=self.clock() - timedelta(seconds=self.config.outbox_retention))
        return result

    def _claim_delivery(self) -> bool:
        return self.deliverer.lock.claim()

    # -- what sinks may use (BotHooks) -----------------------------------------------------------

    def state_view(self) -> StateView:
        """The known state for answering commands; loaded once and again only after a poll recorded
        something, so a busy channel does not read the whole database per question."""
        if self._state_view is None:
            from bot.commands import load_state_view

            self._state_view = load_state_view(self.store)
        return self._state_view

    def request_delivery(self) -> None:
        self.wake.set()

    def thread_starts(self, sink: str, *, source: str, major: str) -> list[ThreadStart]:
        if self._planner.in_thread:
            # asked while rendering in the planning thread: the store is used on the loop's thread only
            return self._planner.on_loop(lambda: self._thread_starts(sink, source, major))
        return self.store.thread_starts(sink, source=source, major=major)

    async def _thread_starts(self, sink: str, source: str, major: str) -> list[ThreadStart]:
        return self.store.thread_starts(sink, source=source, major=major)

    def backlog(self, sink: str) -> list[OutboxItem]:
        return self.store.pending(sink, now=self.clock(), limit=100)

    async def once(self) -> tuple[list[PollResult], DeliveryResult]:
        freeze_startup()
        if not any(sink.has_digest for sink in self.sinks):
            return await self.poll_and_deliver()  # no digest output: bot.digest (zoneinfo) not imported
        from bot.digest import check_digests

        # mail digests due now (a missed one included) go out with the last delivery pass
        return await self.poll_and_deliver(before_last_pass=lambda: check_digests(self))

    async def poll_and_deliver(
        self, *, before_last_pass: Callable[[], object] | None = None
    ) -> tuple[list[PollResult], DeliveryResult]:
        """Poll every source and deliver, as `run` does: what a poll queues goes out while the other
        sources are still being polled (their CPU work overlaps the outputs' round trips); then one
        last pass for the rest. Once an early pass fails a message, the early passes stop: a failing
        output is tried again only in the last pass, as a single pass would."""
        done = DeliveryResult()
        polling = True

        async def early() -> None:
            while True:
                await self.wake.wait()
                self.wake.clear()
                if not polling:
                    return
                part = await self.deliver()
                done.delivered += part.delivered
                done.failed += part.failed
                done.errors.extend(part.errors)
                if part.failed:
                    return

        self.wake.clear()
        delivering = asyncio.create_task(early(), name="early delivery")
        try:
            polls = await self.poll_all()
        except BaseException:
            delivering.cancel()  # stopped (a signal): a pass in flight is cancelled as `run`'s jobs are
            raise
        polling = False
        self.wake.set()
        await delivering  # a pass in flight ends first: the last pass then starts from where it left off
        if before_last_pass is not None:
            before_last_pass()
        last = await self.deliver()
        last.delivered += done.delivered
        last.failed += done.failed
        last.errors[:0] = done.errors
        return polls, last

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every source on its interval (with backoff after failures) and deliver, until `stop`."""
        from bot.daemon import run

        await run(self, stop)


def _human(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


__all__ = ["Bot", "DeliveryResult", "ParseError", "PollResult", "http_fetcher", "utcnow"]
