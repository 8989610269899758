"""The daemon: APScheduler jobs that poll each source on its interval (with backoff after failures,
and at the time a rate limit resets) and deliver, until stopped."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.errors import BotError
from bot.pipeline import PollResult
from bot.store.files import describe_error

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.config import SourceConfig

__all__ = ["run"]

log = logging.getLogger("release-bot")


class _Coalesced(logging.Filter):
    """A job still running when its next run comes is coalesced (max_instances=1, coalesce=True):
    expected when a poll outlasts its interval, not worth a warning each time."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in str(record.msg)


#: APScheduler's messages, without the one above (a child of "apscheduler": the CLI's level applies).
SCHEDULER_LOG = logging.getLogger("apscheduler.scheduler.release-bot")
SCHEDULER_LOG.addFilter(_Coalesced())


def make_scheduler() -> Any:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    return AsyncIOScheduler(timezone=UTC, logger=SCHEDULER_LOG)


class StateStreak:
    """Errors of the state database (disk full, locked): one log line when a streak starts and one
    when it ends, not a traceback per attempt."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0

    def failed(self, path: str, exc: sqlite3.Error) -> None:
        self.failures += 1
        if self.failures == 1:
            log.error("%s: %s (said once until it recovers)", self.what, describe_error(path, exc))

    def ok(self) -> None:
        if self.failures:
            log.info(
                "%s: the state database works again after %d failed attempt(s)", self.what, self.failures
            )
        self.failures = 0


async def run(bot: Bot, stop: asyncio.Event) -> None:
    """Poll every source on its interval (with backoff after failures) and deliver, until `stop`."""
    from bot.digest import schedule_digests

    scheduler = make_scheduler()
    wake = bot.wake
    state = str(bot.config.state)
    bot.deliverer.lock.claim()  # at start: a second process on this state says it is a standby
    await bot.deliverer.open_sinks()
    streaks: dict[str, StateStreak] = {}

    async def poll_job(source: SourceConfig) -> None:
        streak = streaks.setdefault(source.name, StateStreak(f"source {source.name}"))
        try:
            result = await bot.poll(source)
            streak.ok()
        except sqlite3.Error as exc:
            streak.failed(state, exc)
            bot.streaks.failed(source.name)
            result = PollResult(source.name, ok=False)
        except Exception:
            log.exception("source %s: unexpected error while polling", source.name)
            bot.streaks.failed(source.name)
            result = PollResult(source.name, ok=False)
        job = scheduler.get_job(f"poll:{source.name}")
        if job is not None:
            delay = bot.next_poll_delay(source, result)
            job.modify(next_run_time=bot.clock() + timedelta(seconds=delay))
        if result.events:
            wake.set()

    delivery_streak = StateStreak("delivery")

    async def deliver_job() -> None:
        try:
            await bot.deliver()
            delivery_streak.ok()
        except sqlite3.Error as exc:
            delivery_streak.failed(state, exc)
        except BotError as exc:
            log.error("delivery: %s", exc)
        except Exception:
            log.exception("delivery: unexpected error")

    for source in bot.config.sources:
        scheduler.add_job(
            poll_job,
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
        deliver_job,
        "interval",
        seconds=bot.config.deliver_interval,
        id="deliver",
        next_run_time=bot.clock(),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    schedule_digests(bot, scheduler, on_queued=wake.set)  # mail digests: cron jobs + a missed one
    scheduler.start()
    log.info(
        "release-bot %s running: %d source(s), %d output(s); state %s",
        __version__,
        len(bot.config.sources),
        len(bot.sinks),
        bot.config.state,
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
                    job.modify(next_run_time=bot.clock())
    finally:
        scheduler.shutdown(wait=False)
        log.info("release-bot stopping")
