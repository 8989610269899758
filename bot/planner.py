"""The planning thread: the CPU work of polls (detection, rendering) off the event loop, one at a time.

One daemon thread takes jobs in order, so polls finishing together never pile their work up on the
loop, and at most one thread competes with the loop for the interpreter. A daemon thread, not a
`ThreadPoolExecutor`: the process stops at once on SIGTERM even when a large poll is being planned
(what it planned is simply not recorded). Code running in the thread may ask for something to be
done on the loop's thread (`on_loop`): the store is only ever used there.

The loop's own short work of a poll (reading what is known, the one commit) runs `exclusive()`: the
planning thread waits at its next `checkpoint()` (between two events it renders) meanwhile. Without
it, every SQLite call of the loop thread releases the interpreter lock and waits up to a switch
interval (5 ms) to get it back from the busy planning thread: a commit of a few hundred statements
then takes a second of wall time, with the loop stalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from bot.errors import BotError

__all__ = ["Planner", "PlannerStopped"]

T = TypeVar("T")
_Job = tuple[Callable[[], Any], "asyncio.Future[Any]"]

#: how often a job waiting for the loop checks that the planner is still running (seconds)
_WAIT_STEP = 0.25


class PlannerStopped(BotError):
    """The planner was closed while a job waited for the loop."""


class Planner:
    def __init__(self, name: str = "release-bot-plan") -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._gate = threading.Lock()  # held by the loop's thread while it works exclusively

    @property
    def in_thread(self) -> bool:
        """True when called from the planning thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    async def run(self, fn: Callable[[], T]) -> T:
        """`fn()` in the planning thread, after the jobs queued before it; its result or exception."""
        if self._closed:
            raise PlannerStopped("the planner is closed")
        self._loop = asyncio.get_running_loop()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()
        future: asyncio.Future[T] = self._loop.create_future()
        self._jobs.put((fn, future))
        return await future

    def on_loop(self, make: Callable[[], Awaitable[T]]) -> T:
        """From the planning thread: run the coroutine `make()` on the loop and wait for its result."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise PlannerStopped("the event loop is gone")

        async def call() -> T:
            return await make()

        done = asyncio.run_coroutine_threadsafe(call(), loop)
        while True:
            try:
                return done.result(timeout=_WAIT_STEP)
            except TimeoutError:
                if self._closed or loop.is_closed():
                    done.cancel()
                    raise PlannerStopped("stopped while waiting for the event loop") from None

    def checkpoint(self) -> None:
        """From the planning thread: wait here while the loop's thread works `exclusive()`."""
        with self._gate:
            pass

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """On the loop's thread: short work during which the planning thread pauses at its next
        checkpoint (the gate is only ever held an instant by the planning thread)."""
        with self._gate:
            yield

    def close(self) -> None:
        """Take no more jobs; the thread ends after the job in hand (its result is dropped)."""
        self._closed = True
        self._jobs.put(None)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, future = job
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task, as run_in_executor does
                self._settle(future, exc=exc)
            else:
                self._settle(future, result=result)

    def _settle(
        self, future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None
    ) -> None:
        loop = future.get_loop()

        def settle() -> None:
            if future.done():  # the poll was cancelled meanwhile
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle)
