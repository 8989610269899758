"""The daemon: APScheduler jobs that poll each source on its interval (with backoff after failures,
and at the time a rate limit resets) and deliver, until stopped."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from bot import __version__
from bot.errors import BotError
from bot.pipeline import PollResult

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.config import SourceConfig

__all__ = ["run"]

log = logging.getLogger("release-bot")


async def run(bot: Bot, stop: asyncio.Event) -> None:
    """Poll every source on its interval (with backoff after failures) and deliver, until `stop`."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.digest import schedule_digests

    scheduler = AsyncIOScheduler(timezone=UTC)
    wake = bot.wake
    await bot.deliverer.open_sinks()

    async def poll_job(source: SourceConfig) -> None:
        try:
            result = await bot.poll(source)
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

    async def deliver_job() -> None:
        try:
            await bot.deliver()
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
