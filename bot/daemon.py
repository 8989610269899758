"""The daemon: APScheduler jobs that poll each source on its interval (with backoff after failures,
and at the time a rate limit resets) and deliver, until stopped.

It speaks sd_notify (`bot.sdnotify`): READY=1 once config and state are open, STATUS= with the last
poll and the queue depth, WATCHDOG=1 from the event loop when the unit has `WatchdogSec=`, and
STOPPING=1 on the way out. Stopping is prompt: every running job (a fetch, an IRC connect, a delivery
pass) is a task the daemon tracks and cancels, so SIGTERM ends it within a second and without noise.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.coordination import claim_poll, listen_for_outbox
from bot.cputurn import freeze_startup
from bot.errors import BotError
from bot.pipeline import PollResult
from bot.sdnotify import Notifier, watchdog_interval, watchdog_loop
from bot.store.files import describe_failure

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.config import SourceConfig

__all__ = ["STOP_GRACE", "freeze_startup", "run", "status_line"]

log = logging.getLogger("release-bot")

#: How long running jobs get to finish after being cancelled on stop (seconds).
STOP_GRACE = 0.5


def status_line(bot: Bot, last_poll: dict[str, tuple[datetime, bool]]) -> str:
    """The STATUS= text: when the last poll ran and how it went, and how many messages are queued."""
    queued = sum(states.get("queued", 0) for states in bot.store.outbox_counts().values())
    if not last_poll:
        return f"started, first poll running; {queued} queued"
    when = max(at for at, _ in last_poll.values())
    failing = sorted(name for name, (_, ok) in last_poll.items() if not ok)
    health = f"failing: {', '.join(failing)}" if failing else "all sources ok"
    return f"last poll {when:%Y-%m-%d %H:%M:%S}Z, {health}; {queued} queued"


class _Coalesced(logging.Filter):
    """A job still running when its next run comes is coalesced (max_instances=1, coalesce=True):
    expected when a poll outlasts its interval, not worth a warning each time."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in str(record.msg)


#: APScheduler's messages, without the one above (a child of "apscheduler": the CLI's level applies).
SCHEDULER_LOG = logging.getLogger("apscheduler.scheduler.release-bot")
SCHEDULER_LOG.addFilter(_Coalesced())


class StateStreak:
    """Errors of the state database (read-only, disk full, locked): one log line when a streak starts
    or its cause changes, one when it ends — not a traceback per attempt."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0
        self.cause: str | None = None

    def failed(self, path: str, exc: BaseException) -> bool:
        """Count and log (once) an expected state failure; False when `exc` is not one."""
        cause = describe_failure(path, exc)
        if cause is None:
            return False
        self.failures += 1
        if cause != self.cause:
            log.error("%s: %s (%s; said once until it recovers)", self.what, cause, path)
            self.cause = cause
        return True

    def ok(self) -> None:
        if self.failures:
            log.info(
                "%s: the state database works again after %d failed attempt(s)", self.what, self.failures
            )
        self.failures = 0
        self.cause = None


def make_scheduler() -> Any:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    return AsyncIOScheduler(timezone=UTC, logger=SCHEDULER_LOG)


async def run(bot: Bot, stop: asyncio.Event, *, notifier: Notifier | None = None) -> None:
    """Poll every source on its interval (with backoff after failures) and deliver, until `stop`."""
    from bot.digest import schedule_digests

    notifier = notifier if notifier is not None else Notifier.from_env()
    bot.retrying = True  # failed sources are polled again with backoff: the log says when
    scheduler = make_scheduler()
    bot.deliverer.lock.claim()  # at start: a second process on this state says it is a standby
    wake = bot.wake
    running: set[asyncio.Task[Any]] = set()
    last_poll: dict[str, tuple[datetime, bool]] = {}
    streaks: dict[str, StateStreak] = {}

    def tracked(fn: Callable[..., Coroutine[None, None, None]]) -> Callable[..., Coroutine[None, None, None]]:
        """A job the daemon can cancel on stop; cancellation ends it quietly (no scheduler traceback)."""

        async def job(*args: object) -> None:
            task = asyncio.current_task()
            if task is not None:
                running.add(task)
            try:
                await fn(*args)
            except asyncio.CancelledError:
                return  # stopping: the daemon cancelled it
            finally:
                if task is not None:
                    running.discard(task)

        return job

    def store_failed(where: str, exc: BaseException) -> bool:
        """Log an expected state-file failure once per streak, without a traceback."""
        return streaks.setdefault(where, StateStreak(where)).failed(bot.config.state_label, exc)

    def store_ok(where: str) -> None:
        streak = streaks.get(where)
        if streak is not None:
            streak.ok()

    async def poll_job(source: SourceConfig) -> None:
        try:
            if not claim_poll(bot.store, source.name, now=bot.clock(), interval=source.interval):
                return  # another instance (same PostgreSQL state) polled it within its interval
            result = await bot.poll(source)
            store_ok(f"source {source.name}")
        except (sqlite3.Error, OSError) as exc:
            if not store_failed(f"source {source.name}", exc):
                log.exception("source %s: unexpected error while polling", source.name)
            bot.streaks.failed(source.name)
            result = PollResult(source.name, ok=False)
        except Exception:
            log.exception("source %s: unexpected error while polling", source.name)
            bot.streaks.failed(source.name)
            result = PollResult(source.name, ok=False)
        last_poll[source.name] = (bot.clock(), result.ok)
        job = scheduler.get_job(f"poll:{source.name}")
        if job is not None:
            delay = bot.next_poll_delay(source, result)
            job.modify(next_run_time=bot.clock() + timedelta(seconds=delay))
        if result.announced:
            wake.set()
        notify_status()

    async def deliver_job() -> None:
        try:
            await bot.deliver()
            store_ok("delivery")
        except BotError as exc:
            log.error("delivery: %s", exc)
        except (sqlite3.Error, OSError) as exc:
            if not store_failed("delivery", exc):
                log.exception("delivery: unexpected error")
        except Exception:
            log.exception("delivery: unexpected error")

    def status() -> str | None:
        try:
            return status_line(bot, last_poll)
        except sqlite3.Error:
            return None

    def notify_status() -> None:
        if notifier.enabled:
            text = status()
            if text:
                notifier.status(text)

    async def open_sinks() -> None:
        # an IRC network may take its whole connect_timeout: the polls and the other sinks do not wait
        if bot.deliverer.lock.claim():  # a standby opens no connection: one voice per output
            await bot.deliverer.open_sinks()

    for source in bot.config.sources:
        scheduler.add_job(
            tracked(poll_job),
            "interval",
            args=[source],
            seconds=source.interval,
            id=f"poll:{source.name}",
            next_run_time=bot.clock(),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    scheduler.add_job(
        tracked(deliver_job),
        "interval",
        seconds=bot.config.deliver_interval,
        id="deliver",
        next_run_time=bot.clock(),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    schedule_digests(bot, scheduler, on_queued=wake.set)  # mail digests: cron jobs + a missed one
    web = None
    if bot.config.http_server is not None:  # [http_server]: health, metrics, API, feed, status page
        from bot.web.server import WebServer

        web = WebServer(bot, bot.config.http_server)
        await web.start()
    helpers: list[asyncio.Task[None]] = [asyncio.create_task(tracked(open_sinks)(), name="open-sinks")]
    helpers.append(asyncio.create_task(listen_for_outbox(bot.store, wake), name="listen"))  # PostgreSQL
    interval = watchdog_interval()
    if notifier.enabled and interval is not None:
        helpers.append(asyncio.create_task(watchdog_loop(notifier, interval, status), name="watchdog"))
    freeze_startup()
    scheduler.start()
    log.info(
        "release-bot %s running: %d source(s), %d output(s); state %s",
        __version__,
        len(bot.config.sources),
        len(bot.sinks),
        bot.config.state_label,
    )
    notifier.ready(f"running: {len(bot.config.sources)} source(s), {len(bot.sinks)} output(s)")
    try:
        while not stop.is_set():
            waiter = asyncio.ensure_future(wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            if wake.is_set() and not stop.is_set():
                wake.clear()
                job = scheduler.get_job("deliver")
                if job is not None:
                    job.modify(next_run_time=bot.clock())
    finally:
        notifier.stopping("stopping")
        log.info("release-bot stopping")
        scheduler.shutdown(wait=False)
        if web is not None:
            await web.stop()
        tasks = [*running, *helpers]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE)
