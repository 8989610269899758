"""Wiring: sources → snapshot → detect → (state + outbox in one transaction) → sinks.

`Bot.poll` fetches and records one source; `Bot.deliver` empties the outbox into the sinks;
`Bot.run` schedules both with APScheduler until stopped.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot import __version__
from bot.commands import StateView
from bot.config import Config, SourceConfig
from bot.detect import Detection, detect
from bot.errors import BotError, DeliveryError, ParseError, RenderError, SourceError
from bot.model import Document, Event, Snapshot
from bot.render import Renderer
from bot.sinks import Sink, build_sinks
from bot.sources.feed import parse_feed
from bot.sources.flatcar import parse_releases_json
from bot.sources.http import FetchResult, HttpFetcher, Validators
from bot.store import DocumentUpdate, OutboxMessage, Store

log = logging.getLogger("release-bot")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PollResult:
    source: str
    ok: bool
    error: str | None = None
    events: list[Event] = field(default_factory=list)
    new_releases: int = 0
    baselined: tuple[str, ...] = ()
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class DeliveryResult:
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def parse_document(source: SourceConfig, name: str, url: str, body: bytes) -> tuple[Document, list[str]]:
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
        store: Store | None = None,
        fetcher: HttpFetcher | None = None,
        sinks: Sequence[Sink] | None = None,
        renderer: Renderer | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.config = config
        self.store = store or Store(config.state)
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

    # -- polling ---------------------------------------------------------------------------------

    async def _fetch_documents(
        self, source: SourceConfig
    ) -> tuple[list[Document], list[DocumentUpdate], list[str], list[str]]:
        states = self.store.documents(source.name)
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

    def _messages(self, events: Sequence[Event]) -> list[tuple[Event, list[OutboxMessage]]]:
        out = []
        for event in events:
            out.append(
                (event, [sink.format(event, self.renderer) for sink in self.sinks if sink.wants(event)])
            )
        return out

    async def poll(self, source: SourceConfig) -> PollResult:
        """Fetch one source, detect what is new, and record state + outbox in one transaction."""
        now = self.clock()
        documents, updates, errors, warnings = await self._fetch_documents(source)
        known = self.store.known_releases(source.name)
        baselined = set(self.store.documents(source.name))
        detection: Detection = detect(
            Snapshot(source.name, tuple(documents)),
            known,
            baselined_documents=baselined,
            announce_on_baseline=source.announce_on_first_run,
        )
        error = "; ".join(errors) if errors else None
        try:
            messages = self._messages(detection.events)
        except RenderError as exc:
            # Nothing is recorded, so the same releases are detected again once the template is fixed.
            error = f"source {source.name!r}: rendering failed: {exc}"
            self._note_failure(source, error)
            self.store.record_failure(source.name, now=now, error=error)
            return PollResult(source.name, ok=False, error=error)
        self.store.commit_poll(
            source.name, now=now, documents=updates, new_releases=detection.new, events=messages, error=error
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
        for event in detection.events:
            log.info(
                "source %s: %s %s %s", source.name, event.kind, event.release.stream, event.release.version
            )
        return PollResult(
            source.name,
            ok=error is None,
            error=error,
            events=list(detection.events),
            new_releases=len(detection.new),
            baselined=detection.baselined,
            unchanged=sum(1 for u in updates if not u.changed),
            warnings=warnings,
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
        await self._open_sinks()
        result = DeliveryResult()
        await asyncio.gather(*(self._deliver_sink(sink, result) for sink in self.sinks))
        return result

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
        return StateView.of(self.store.releases())

    def request_delivery(self) -> None:
        self._wake.set()

    async def once(self) -> tuple[list[PollResult], DeliveryResult]:
        polls = await self.poll_all()
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
                delay = self.retry_delay(source) if not result.ok else source.interval
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


def _human(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


__all__ = ["Bot", "DeliveryResult", "ParseError", "PollResult", "parse_document", "utcnow"]
