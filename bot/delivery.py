"""Delivery: empty the outbox into the sinks — sinks in parallel, each in order — under a lock that
lets one process deliver from a state file; what to do after a failed attempt is `RetryPolicy`."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from bot.backoff import Uniform, backoff
from bot.errors import DeliveryError
from bot.sinks import Sink
from bot.store import StateStore
from bot.web import metrics

__all__ = ["Deliverer", "DeliveryLock", "DeliveryResult", "Retry", "RetryPolicy"]

log = logging.getLogger("release-bot")
#: the `cause` label of release_bot_delivery_failures_total, per retry action
_CAUSES = {"interrupted": "interrupted", "later": "transient", "give_up": "permanent"}


@dataclass
class DeliveryResult:
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Retry:
    """What to do with a message whose delivery failed.

    - "interrupted": the sink went down mid-delivery; the message stays queued as it is (no attempt
      counted), first in line once the sink is ready again; the sink's pass stops.
    - "later": a transient failure; retry at `at`; the rest of the sink's queue waits (order is kept).
    - "give_up": a permanent failure; the message is kept as failed, the next one is tried.
    """

    action: Literal["interrupted", "later", "give_up"]
    at: datetime | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Pure: a failed attempt → `Retry`. Backoff from `initial` doubling per attempt up to `cap`."""

    initial: float = 30.0
    cap: float = 3600.0
    jitter: float = 0.2
    uniform: Uniform = random.uniform

    def after_failure(self, *, permanent: bool, sink_ready: bool, attempts: int, now: datetime) -> Retry:
        """`attempts`: the attempts recorded before this one."""
        if permanent:
            return Retry("give_up")
        if not sink_ready:
            return Retry("interrupted")
        delay = backoff(
            attempts + 1, initial=self.initial, cap=self.cap, jitter=self.jitter, uniform=self.uniform
        )
        return Retry("later", now + timedelta(seconds=delay))


class DeliveryLock:
    """Only one process delivers from a state file: a daemon and a `once` or `digest --send-now`
    beside it would otherwise send the same queued message twice. The lock (a file beside the
    state, holding the pid) is taken at the first delivery and kept until `release`."""

    def __init__(self, state_path: str) -> None:
        self.state_path = state_path
        self._fd: int | None = None
        self._warned = False

    @property
    def held(self) -> bool:
        return self._fd is not None

    def claim(self) -> bool:
        if self._fd is not None or self.state_path == ":memory:":
            return True
        fd = os.open(self.state_path + ".deliver.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            if not self._warned:
                log.warning(
                    "another release-bot process (pid %s) delivers from %s; queued messages are left to it",
                    holder,
                    self.state_path,
                )
                self._warned = True
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Deliverer:
    """Delivers due outbox messages to the sinks."""

    def __init__(
        self,
        store: StateStore,
        sinks: Sequence[Sink],
        *,
        clock: Callable[[], datetime],
        policy: RetryPolicy | None = None,
    ) -> None:
        self.store = store
        self.sinks = list(sinks)
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.lock = DeliveryLock(store.path)
        self._open = False
        self._sink_locks: dict[str, asyncio.Lock] = {}

    async def open_sinks(self) -> None:
        if not self._open:
            for sink in self.sinks:
                await sink.open()
            self._open = True

    async def close(self) -> None:
        if self._open:
            for sink in self.sinks:
                try:
                    await sink.close()
                except Exception:
                    log.exception("closing sink %s failed", sink.name)
        self.lock.release()

    async def deliver(self) -> DeliveryResult:
        """Deliver every due outbox message: sinks in parallel, each in order; a failing sink keeps
        its remaining messages queued and does not hold up the others."""
        result = DeliveryResult()
        if not self.lock.claim():
            return result
        await self.open_sinks()
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
                        result.failed += 1
                        result.errors.append(str(exc))
                        retry = self.policy.after_failure(
                            permanent=exc.permanent,
                            sink_ready=sink.ready(),
                            attempts=item.attempts,
                            now=self.clock(),
                        )
                        metrics.count_delivery(sink.group, cause=_CAUSES[retry.action])
                        if retry.action == "interrupted":
                            log.info("delivery of %s interrupted, stays queued: %s", item.event_key, exc)
                            return
                        self.store.mark_attempt_failed(
                            item.id, error=str(exc), permanent=exc.permanent, retry_at=retry.at
                        )
                        log.warning("delivery of %s failed: %s", item.event_key, exc)
                        if retry.action == "later":
                            return  # keep order: the rest of this sink waits for the retry
                        continue
                    self.store.mark_delivered(item.id, now=self.clock())
                    metrics.count_delivery(sink.group)
                    result.delivered += 1
