"""Delivery: empty the outbox into the sinks — sinks in parallel, each in order — under a lock that
lets one process deliver from a state file; what to do after a failed attempt is `RetryPolicy`."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

from bot.backoff import Uniform, backoff
from bot.coordination import Lock, claim_pending, delivery_lock
from bot.errors import AuthenticationFailed, DeliveryError
from bot.sinks import Sink
from bot.store import OutboxItem, StateStore
from bot.store.queues import auth_streak, queue_facts, stop_output, stopped
from bot.web import metrics

__all__ = ["Deliverer", "DeliveryLock", "DeliveryResult", "Retry", "RetryPolicy"]

log = logging.getLogger("release-bot")
#: the `cause` label of release_bot_delivery_failures_total, per retry action
_CAUSES = {"interrupted": "interrupted", "later": "transient", "give_up": "permanent"}


#: The error of an authentication failure starts with this and the count of them in a row.
AUTH_FAILURE = "authentication failure "


@runtime_checkable
class PassAware(Protocol):
    """A sink that keeps something open during a delivery pass (an SMTP session) and closes it after."""

    async def end_pass(self) -> None: ...


@dataclass
class DeliveryResult:
    """What a delivery pass did: delivered, failed (with the errors) and held back per output."""

    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    #: messages left queued after this pass because of failures (waiting for a retry, or their output
    #: stopped), per output
    held: dict[str, int] = field(default_factory=dict)


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
                    "standby: another release-bot process (pid %s) delivers from %s; queued messages are "
                    "left to it, and this process waits for its delivery lock (taken over when it stops)",
                    holder,
                    self.state_path,
                )
                self._warned = True
            return False
        if self._warned:
            log.info("the delivery lock of %s is free again: this process delivers now", self.state_path)
            self._warned = False
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
        self.lock: Lock = delivery_lock(store, DeliveryLock)  # a lock file; on PostgreSQL an advisory lock
        self._open = False
        self._sink_locks: dict[str, asyncio.Lock] = {}

    async def open_sinks(self) -> None:
        if not self._open:
            for sink in self.sinks:
                await sink.open()
            self._open = True

    async def close_sinks(self) -> None:
        if self._open:
            self._open = False
            for sink in self.sinks:
                try:
                    await sink.close()
                except Exception:
                    log.exception("closing sink %s failed", sink.name)

    async def close(self) -> None:
        await self.close_sinks()
        self.lock.release()

    async def deliver(self) -> DeliveryResult:
        """Deliver every due outbox message: sinks in parallel, each in order; a failing sink keeps
        its remaining messages queued and does not hold up the others."""
        result = DeliveryResult()
        if not self.lock.claim():
            if self._open and getattr(self.lock, "other_holder", False):
                await self.close_sinks()  # another instance delivers now: one voice (bot.coordination)
            return result
        await self.open_sinks()
        await asyncio.gather(*(self._deliver_sink(sink, result) for sink in self.sinks))
        for group in dict.fromkeys(sink.group for sink in self.sinks):
            facts = queue_facts(self.store, group)
            waiting = facts.queued if facts.attempts else 0
            if facts.stopped is not None:
                sinks = self.store.outbox_groups().get(group, {})
                waiting += sum(counts.get("failed", 0) for counts in sinks.values())
            if waiting:
                result.held[group] = waiting
        return result

    async def _deliver_sink(self, sink: Sink, result: DeliveryResult) -> None:
        lock = self._sink_locks.setdefault(sink.name, asyncio.Lock())
        if lock.locked():
            return  # a delivery pass for this sink is already running; it will see new rows too
        async with lock:
            try:
                await self._sink_pass(sink, result)
            finally:
                if isinstance(sink, PassAware):
                    try:
                        await sink.end_pass()
                    except Exception:
                        log.exception("ending the delivery pass of %s failed", sink.name)

    def _stopped(self, sink: Sink) -> bool:
        """A stopped output (refused credentials) keeps what is queued for it as failed, unsent."""
        reason = stopped(self.store, sink.group)
        if reason is None:
            return False
        stop_output(self.store, sink.group, reason)  # messages queued since the stop
        return True

    def _auth_failed(self, sink: Sink, item: OutboxItem, exc: AuthenticationFailed) -> bool:
        """Count an authentication failure; True when it stopped the output."""
        limit = int(getattr(sink, "max_auth_failures", 3))
        streak = auth_streak(self.store, item.id, AUTH_FAILURE) + 1
        if streak < limit:
            retry = self.policy.after_failure(
                permanent=False, sink_ready=True, attempts=item.attempts, now=self.clock()
            )
            self.store.mark_attempt_failed(
                item.id,
                error=f"{AUTH_FAILURE}{streak} of {limit} in a row: {exc}",
                permanent=False,
                retry_at=retry.at,
            )
            log.warning(
                "delivery of %s failed (%d of %d authentication failures in a row): %s",
                item.event_key,
                streak,
                limit,
                exc,
            )
            return False
        self.store.mark_attempt_failed(item.id, error=str(exc), permanent=False, retry_at=None)
        reason = (
            f"{limit} authentication failures in a row ({exc}); fix the credentials, then "
            f"`release-bot retry {sink.group}`"
        )
        held = stop_output(self.store, sink.group, reason)
        log.error("output %s stopped, %d message(s) held: %s", sink.group, held, reason)
        return True

    async def _sink_pass(self, sink: Sink, result: DeliveryResult) -> None:
        if self._stopped(sink):
            return
        # Marks are batched only where a resend after a crash is harmless (an idempotent sink); a mail
        # is marked delivered as soon as the server took it (per-message durability).
        async with _Marks(self.store, self.clock, batch=sink.idempotent) as marks:
            await self._sink_items(sink, result, marks)

    async def _sink_items(self, sink: Sink, result: DeliveryResult, marks: _Marks) -> None:
        while sink.ready():
            items = claim_pending(self.store, sink.name, now=self.clock(), limit=100)  # PostgreSQL: claimed
            if not items:
                return
            for item in items:
                if not sink.ready():
                    return
                marks.flush_if_due()  # a slow send does not leave older marks waiting
                try:
                    await sink.deliver(item)
                except AuthenticationFailed as exc:
                    marks.flush()
                    result.failed += 1
                    result.errors.append(str(exc))
                    self._auth_failed(sink, item, exc)
                    metrics.count_delivery(sink.group, cause="authentication")
                    return  # no more logins in this pass
                except DeliveryError as exc:
                    marks.flush()
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
                marks.add(item.id)
                metrics.count_delivery(sink.group)
                result.delivered += 1
            marks.flush()  # before the next `pending` read


class _Marks:
    """Delivery marks of a sink's pass. For an idempotent sink (`batch`) they are written in few
    transactions (`mark_delivered_many`): flushed before a send once the oldest unwritten mark is
    `FLUSH_AFTER` seconds old, every `FLUSH_COUNT` messages, before a failure is recorded, and when the
    pass ends — however it ends; a crash then makes it deliver again what its own idempotency drops.
    For any other sink each mark is written at once."""

    FLUSH_AFTER = 0.05
    FLUSH_COUNT = 100

    def __init__(self, store: StateStore, clock: Callable[[], datetime], *, batch: bool) -> None:
        self.store = store
        self.clock = clock
        self.batch = batch
        self.ids: list[int] = []
        self.since = 0.0

    def add(self, item_id: int) -> None:
        if not self.ids:
            self.since = time.monotonic()
        self.ids.append(item_id)
        if not self.batch or len(self.ids) >= self.FLUSH_COUNT:
            self.flush()

    def flush_if_due(self) -> None:
        if self.ids and time.monotonic() - self.since >= self.FLUSH_AFTER:
            self.flush()

    def flush(self) -> None:
        if self.ids:
            ids, self.ids = self.ids, []
            self.store.mark_delivered_many(ids, now=self.clock())

    async def __aenter__(self) -> _Marks:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.flush()
