"""Wiring: sources → snapshot → detect → (state + outbox in one transaction) → sinks.

`Bot.poll` fetches and records one source; `Bot.deliver` empties the outbox into the sinks;
`Bot.run` schedules both with APScheduler until stopped.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot import __version__
from bot.commands import StateView, load_state_view
from bot.config import Config, ReleaseSource, RoadmapSource, SourceConfig
from bot.deprecations import DeprecationDetection, detect_deprecations
from bot.detect import Detection, detect
from bot.errors import BotError, DeliveryError, ParseError, RenderError, SourceError
from bot.model import AnyEvent, Document, Event, Snapshot
from bot.render import Renderer
from bot.roadmap import detect_roadmap
from bot.sinks import Sink, build_sinks
from bot.sources.feed import parse_feed
from bot.sources.flatcar import parse_releases_json
from bot.sources.github import fetch_roadmap
from bot.sources.http import FetchResult, HttpFetcher, Validators
from bot.store import (
    DocumentState,
    DocumentUpdate,
    OutboxItem,
    OutboxMessage,
    PollRecord,
    StateStore,
    Store,
    ThreadStart,
)

log = logging.getLogger("release-bot")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PollResult:
    source: str
    ok: bool
    error: str | None = None
    events: list[AnyEvent] = field(default_factory=list)
    new_releases: int = 0
    baselined: tuple[str, ...] = ()
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)
    retry_after: float | None = None  # rate limited: seconds until the source may be asked again


@dataclass
class DeliveryResult:
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def parse_document(source: ReleaseSource, name: str, url: str, body: bytes) -> tuple[Document, list[str]]:
    """Parse one fetched body with the source's parser (CPU-bound: call it off the event loop)."""
    if source.kind == "flatcar":
        document = parse_releases_json(
            body,
            source=source.name,
            project=source.project,
            url=url,
            doc_name=name,
            release_link=source.release_link,
        )
        return document, []
    result = parse_feed(
        body,
        source=source.name,
        project=source.project,
        stream=source.stream,
        url=url,
        version_pattern=source.version_pattern,
        doc_name=name,
    )
    return result.document, list(result.warnings)


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
        self.store: StateStore = store or Store(config.state)
        self.fetcher = fetcher or HttpFetcher(
            user_agent=config.http.user_agent.format(version=__version__),
            timeout=config.http.timeout,
            max_bytes=config.http.max_bytes,
            concurrency=config.http.concurrency,
        )
        self.sinks = list(sinks) if sinks is not None else build_sinks(config.outputs)
        self.renderer = renderer or Renderer(override_dir=config.templates)
        self.clock = clock
        self._streaks: dict[str, int] = {}
        self._sinks_open = False
        self._sink_locks: dict[str, asyncio.Lock] = {}
        self._wake = asyncio.Event()
        self._lock_fd: int | None = None
        self._state_view: StateView | None = None
        self._lock_warned = False
        for sink in self.sinks:
            sink.attach(self)

    async def aclose(self) -> None:
        if self._sinks_open:
            for sink in self.sinks:
                try:
                    await sink.close()
                except Exception:
                    log.exception("closing sink %s failed", sink.name)
        await self.fetcher.aclose()
        self.store.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the delivery lock
            self._lock_fd = None

    # -- polling ---------------------------------------------------------------------------------

    async def _fetch_documents(
        self, source: ReleaseSource, states: Mapping[str, DocumentState]
    ) -> tuple[list[Document], list[DocumentUpdate], list[str], list[str]]:
        documents: list[Document] = []
        updates: list[DocumentUpdate] = []
        errors: list[str] = []
        warnings: list[str] = []

        async def one(name: str, url: str) -> None:
            state = states.get(name)
            previous = None
            if state is not None and state.url == url:
                previous = Validators(state.etag, state.last_modified, state.body_sha256)
            try:
                result: FetchResult = await self.fetcher.fetch(url, source=source.name, previous=previous)
                if result.not_modified:
                    v = result.validators
                    updates.append(DocumentUpdate(name, url, v.etag, v.last_modified, v.body_sha256, False))
                    return
                assert result.body is not None
                document, notes = await asyncio.to_thread(parse_document, source, name, url, result.body)
            except SourceError as exc:
                errors.append(str(exc))
                return
            v = result.validators
            documents.append(document)
            updates.append(DocumentUpdate(name, url, v.etag, v.last_modified, v.body_sha256, True))
            warnings.extend(f"source {source.name!r} ({url}): {w}" for w in notes)

        pairs = source.documents()
        await asyncio.gather(*(one(name, url) for name, url in pairs))
        # keep the configured order so detection is deterministic
        order = {name: i for i, (name, _) in enumerate(pairs)}
        documents.sort(key=lambda d: order[d.name])
        return documents, updates, errors, warnings

    def _messages(self, events: Sequence[AnyEvent]) -> list[tuple[AnyEvent, list[OutboxMessage]]]:
        out = []
        for event in events:
            out.append(
                (event, [sink.format(event, self.renderer) for sink in self.sinks if sink.wants(event)])
            )
        return out

    async def poll(self, source: SourceConfig) -> PollResult:
        """Fetch one source, detect what is new, and record state + outbox in one transaction."""
        now = self.clock()
        if isinstance(source, RoadmapSource):
            return await self._poll_roadmap(source, now)
        states = self.store.documents(source.name)  # validators, and which documents are baselined
        documents, updates, errors, warnings = await self._fetch_documents(source, states)
        known = self.store.known_releases(source.name)
        baselined = set(states)
        detection: Detection = detect(
            Snapshot(source.name, tuple(documents)),
            known,
            baselined_documents=baselined,
            announce_on_baseline=source.announce_on_first_run,
        )
        error = "; ".join(errors) if errors else None
        deprecations = await self._deprecations(source, detection)
        events = _in_order([*detection.events, *deprecations.events])
        try:
            messages = self._messages(events)
        except RenderError as exc:
            # Nothing is recorded, so the same releases are detected again once the template is fixed.
            error = f"source {source.name!r}: rendering failed: {exc}"
            self._note_failure(source, error)
            self.store.record_failure(source.name, now=now, error=error)
            return PollResult(source.name, ok=False, error=error)
        self._state_view = None
        self.store.commit_poll(
            PollRecord(
                source.name,
                now=now,
                documents=updates,
                new_releases=detection.new,
                events=messages,
                error=error,
                notices=deprecations.notices,
                reaches=deprecations.reaches,
            )
        )
        for warning in warnings:
            log.warning("%s", warning)
        if detection.baselined:
            log.info(
                "source %s: baseline recorded for %s (%d releases, nothing old announced)",
                source.name,
                ", ".join(detection.baselined),
                len(detection.new) - len(detection.events),
            )
        if error:
            self._note_failure(source, error)
        else:
            self._note_success(source)
        for event in events:
            log.info("source %s: %s", source.name, event.key)
        return PollResult(
            source.name,
            ok=error is None,
            error=error,
            events=events,
            new_releases=len(detection.new),
            baselined=detection.baselined,
            unchanged=sum(1 for u in updates if not u.changed),
            warnings=warnings,
        )

    async def _deprecations(self, source: SourceConfig, detection: Detection) -> DeprecationDetection:
        """Deprecation notices in the new releases' notes, and notices reaching a later channel with
        them (Flatcar sources only). A release recorded silently records its notices silently. Reading
        every release's notes (a first poll: the whole history) is CPU work: off the event loop."""
        if source.kind != "flatcar" or not detection.new:
            return DeprecationDetection((), (), ())
        announced = {(e.release.stream, e.release.version) for e in detection.events}
        reached = {(r.notice_id, r.channel) for r in self.store.reaches(source.name)}
        return await asyncio.to_thread(
            detect_deprecations,
            [(r, (r.stream, r.version) in announced) for r in detection.new],
            self.store.notices(source.name),
            reached,
        )

    async def _poll_roadmap(self, source: RoadmapSource, now: datetime) -> PollResult:
        """Poll a roadmap source (GitHub Project, labelled issues, feed) and record its changes."""
        fetched = await fetch_roadmap(self.fetcher, source, self.store.documents(source.name))
        known = {item.id: item for item in self.store.roadmap_items(source.name)}
        detection = detect_roadmap(
            fetched.documents,
            known,
            baselined_documents=self.store.document_baselines(source.name),
            known_notices={n.id for n in self.store.notices(source.name)},
            statuses=source.statuses,
            deprecation_labels=source.deprecation_labels,
            announce_on_baseline=source.announce_on_first_run,
            every_document=[name for name, _ in source.documents()],
        )
        error = "; ".join(fetched.errors) if fetched.errors else None
        if fetched.rate_limited:
            error = "; ".join(e for e in (error, fetched.rate_limited) if e)
        events: list[AnyEvent] = list(detection.events)
        try:
            messages = self._messages(events)
        except RenderError as exc:
            error = f"source {source.name!r}: rendering failed: {exc}"
            self._note_failure(source, error)
            self.store.record_failure(source.name, now=now, error=error)
            return PollResult(source.name, ok=False, error=error)
        self._state_view = None
        self.store.commit_poll(
            PollRecord(
                source.name,
                now=now,
                documents=fetched.updates,
                events=messages,
                error=error,
                notices=detection.notices,
                reaches=detection.reaches,
                roadmap_items=detection.items,
                roadmap_absent=detection.absent,
            )
        )
        if detection.baselined:
            log.info(
                "source %s: baseline recorded for %s (%d items, nothing old announced)",
                source.name,
                ", ".join(detection.baselined),
                len(detection.items),
            )
        if fetched.errors:
            self._note_failure(source, "; ".join(fetched.errors))
        elif fetched.retry_after is None:
            self._note_success(source)
        if fetched.retry_after is not None:
            # not a failure: the source said when to come back; the next poll is pushed to that time
            log.info(
                "source %s: %s; next poll in %s",
                source.name,
                fetched.rate_limited,
                _human(fetched.retry_after),
            )
        for event in events:
            log.info("source %s: %s", source.name, event.key)
        return PollResult(
            source.name,
            ok=error is None,
            error=error,
            events=events,
            baselined=detection.baselined,
            unchanged=sum(1 for u in fetched.updates if not u.changed),
            retry_after=fetched.retry_after,
        )

    def _note_failure(self, source: SourceConfig, error: str) -> None:
        streak = self._streaks.get(source.name, 0) + 1
        self._streaks[source.name] = streak
        if streak == 1:
            log.warning(
                "%s — retrying in %s (further failures are logged at debug level until it recovers)",
                error,
                _human(self.retry_delay(source)),
            )
        else:
            log.debug("source %s still failing (%d in a row): %s", source.name, streak, error)

    def _note_success(self, source: SourceConfig) -> None:
        streak = self._streaks.pop(source.name, 0)
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
        streak = self._streaks.get(source.name, 0)
        if streak == 0:
            return source.interval
        base: float = min(self.config.http.retry_initial * 2.0 ** (streak - 1), self.config.http.retry_max)
        return min(base * random.uniform(0.8, 1.2), self.config.http.retry_max)

    async def poll_all(self) -> list[PollResult]:
        results = await asyncio.gather(*(self.poll(s) for s in self.config.sources), return_exceptions=True)
        out: list[PollResult] = []
        for source, result in zip(self.config.sources, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                log.error("source %s: unexpected error", source.name, exc_info=result)
                out.append(PollResult(source.name, ok=False, error=f"{type(result).__name__}: {result}"))
            else:
                out.append(result)
        return out

    # -- delivery --------------------------------------------------------------------------------

    async def _open_sinks(self) -> None:
        if not self._sinks_open:
            for sink in self.sinks:
                await sink.open()
            self._sinks_open = True

    async def deliver(self) -> DeliveryResult:
        """Deliver every due outbox message: sinks in parallel, each in order; a failing sink keeps
        its remaining messages queued and does not hold up the others."""
        result = DeliveryResult()
        if not self._claim_delivery():
            return result
        await self._open_sinks()
        await asyncio.gather(*(self._deliver_sink(sink, result) for sink in self.sinks))
        return result

    def _claim_delivery(self) -> bool:
        """Only one process delivers from a state file: a daemon and a `once` or `digest --send-now`
        beside it would otherwise send the same queued message twice. The lock (a file beside the
        state, holding the pid) is taken at the first delivery and kept until `aclose`."""
        if self._lock_fd is not None:
            return True
        if self.store.path == ":memory:":
            return True
        path = self.store.path + ".deliver.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            if not self._lock_warned:
                log.warning(
                    "another release-bot process (pid %s) delivers from %s; queued messages are left to it",
                    holder,
                    self.store.path,
                )
                self._lock_warned = True
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        return True

    async def _deliver_sink(self, sink: Sink, result: DeliveryResult) -> None:
        lock = self._sink_locks.setdefault(sink.name, asyncio.Lock())
        if lock.locked():
            return  # a delivery pass for this sink is already running; it will see new rows too
        async with lock:
            while sink.ready():
                items = self.store.pending(sink.name, now=self.clock(), limit=100)
                if not items:
                    return
                for item in items:
                    if not sink.ready():
                        return
                    try:
                        await sink.deliver(item)
                    except DeliveryError as exc:
                        if not exc.permanent and not sink.ready():
                            # The sink went down mid-delivery (IRC disconnected): the message stays
                            # queued as it is, first in line once the sink is ready again.
                            result.failed += 1
                            result.errors.append(str(exc))
                            log.info("delivery of %s interrupted, stays queued: %s", item.event_key, exc)
                            return
                        retry = None
                        if not exc.permanent:
                            delay = min(30 * 2 ** min(item.attempts, 10), 3600)
                            retry = self.clock() + timedelta(seconds=delay)
                        self.store.mark_attempt_failed(
                            item.id, error=str(exc), permanent=exc.permanent, retry_at=retry
                        )
                        result.failed += 1
                        result.errors.append(str(exc))
                        log.warning("delivery of %s failed: %s", item.event_key, exc)
                        if not exc.permanent:
                            return  # keep order: the rest of this sink waits for the retry
                        continue
                    self.store.mark_delivered(item.id, now=self.clock())
                    result.delivered += 1

    # -- what sinks may use (BotHooks) -----------------------------------------------------------

    def state_view(self) -> StateView:
        """The known state for answering commands; loaded once and again only after a poll recorded
        something, so a busy channel does not read the whole database per question."""
        if self._state_view is None:
            self._state_view = load_state_view(self.store)
        return self._state_view

    def request_delivery(self) -> None:
        self._wake.set()

    def thread_starts(self, sink: str, *, source: str, major: str) -> list[ThreadStart]:
        return self.store.thread_starts(sink, source=source, major=major)

    def backlog(self, sink: str) -> list[OutboxItem]:
        return self.store.pending(sink, now=self.clock(), limit=100)

    async def once(self) -> tuple[list[PollResult], DeliveryResult]:
        polls = await self.poll_all()
        from bot.digest import check_digests

        check_digests(self)  # mail digests due now (a missed one included) go out with this delivery
        delivery = await self.deliver()
        return polls, delivery

    # -- daemon ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every source on its interval (with backoff after failures) and deliver, until `stop`."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone=UTC)
        wake = self._wake
        await self._open_sinks()

        async def poll_job(source: SourceConfig) -> None:
            try:
                result = await self.poll(source)
            except Exception:
                log.exception("source %s: unexpected error while polling", source.name)
                self._streaks[source.name] = self._streaks.get(source.name, 0) + 1
                result = PollResult(source.name, ok=False)
            job = scheduler.get_job(f"poll:{source.name}")
            if job is not None:
                delay = self.next_poll_delay(source, result)
                job.modify(next_run_time=self.clock() + timedelta(seconds=delay))
            if result.events:
                wake.set()

        async def deliver_job() -> None:
            try:
                await self.deliver()
            except BotError as exc:
                log.error("delivery: %s", exc)
            except Exception:
                log.exception("delivery: unexpected error")

        for source in self.config.sources:
            scheduler.add_job(
                poll_job,
                "interval",
                args=[source],
                seconds=source.interval,
                id=f"poll:{source.name}",
                next_run_time=self.clock(),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        scheduler.add_job(
            deliver_job,
            "interval",
            seconds=self.config.deliver_interval,
            id="deliver",
            next_run_time=self.clock(),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        from bot.digest import schedule_digests

        schedule_digests(self, scheduler, on_queued=wake.set)  # mail digests: cron jobs + a missed one
        scheduler.start()
        log.info(
            "release-bot %s running: %d source(s), %d output(s); state %s",
            __version__,
            len(self.config.sources),
            len(self.sinks),
            self.config.state,
        )
        try:
            while not stop.is_set():
                waiter = asyncio.ensure_future(wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                if wake.is_set():
                    wake.clear()
                    job = scheduler.get_job("deliver")
                    if job is not None:
                        job.modify(next_run_time=self.clock())
        finally:
            scheduler.shutdown(wait=False)
            log.info("release-bot stopping")


def _in_order(events: Sequence[AnyEvent]) -> list[AnyEvent]:
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


def _human(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


__all__ = ["Bot", "DeliveryResult", "ParseError", "PollResult", "parse_document", "utcnow"]
