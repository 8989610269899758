"""The planning thread (`bot.planner`): jobs in order off the loop's thread, results and errors handed
back, the loop reachable from a job, and the gate that pauses the thread while the loop records."""

from __future__ import annotations

import asyncio
import functools
import threading
import time

import pytest

from bot.planner import Planner, PlannerStopped


def test_jobs_run_in_order_in_one_thread_that_is_not_the_loops() -> None:
    async def main() -> None:
        planner = Planner()
        loop_thread = threading.get_ident()
        seen: list[tuple[int, int]] = []

        def job(n: int) -> int:
            assert planner.in_thread
            seen.append((n, threading.get_ident()))
            time.sleep(0.01 * (3 - n))  # the first is the slowest: order is kept anyway
            return n * 10

        try:
            results = await asyncio.gather(*(planner.run(functools.partial(job, n)) for n in range(3)))
        finally:
            planner.close()
        assert results == [0, 10, 20]
        assert [n for n, _ in seen] == [0, 1, 2]
        assert len({thread for _, thread in seen}) == 1 and seen[0][1] != loop_thread
        assert not planner.in_thread

    asyncio.run(main())


def test_an_error_in_a_job_reaches_the_awaiting_task_and_the_thread_goes_on() -> None:
    async def main() -> None:
        planner = Planner()

        def fail() -> int:
            raise ValueError("bad plan")

        try:
            with pytest.raises(ValueError, match="bad plan"):
                await planner.run(fail)
            assert await planner.run(lambda: 7) == 7
        finally:
            planner.close()
        with pytest.raises(PlannerStopped):
            await planner.run(lambda: 1)

    asyncio.run(main())


def test_a_job_asks_the_loop_and_gets_its_answer() -> None:
    async def main() -> None:
        planner = Planner()
        loop_thread = threading.get_ident()

        async def on_the_loop() -> int:
            assert threading.get_ident() == loop_thread
            await asyncio.sleep(0)
            return 42

        try:
            assert await planner.run(lambda: planner.on_loop(on_the_loop)) == 42
        finally:
            planner.close()

    asyncio.run(main())


def test_a_job_waiting_for_the_loop_gives_up_when_the_planner_closes() -> None:
    async def main() -> None:
        planner = Planner()
        started = threading.Event()
        outcome: list[BaseException] = []

        def job() -> None:
            started.set()
            try:
                planner.on_loop(asyncio.Event().wait)  # never answered: the loop is blocked below
            except PlannerStopped as exc:
                outcome.append(exc)

        task = asyncio.ensure_future(planner.run(job))
        await asyncio.sleep(0)
        started.wait(5)
        planner.close()
        time.sleep(0.6)  # noqa: ASYNC251 - the loop is held: the job cannot be answered, it notices the close
        task.cancel()
        assert len(outcome) == 1

    asyncio.run(main())


def test_the_planning_thread_waits_at_its_checkpoint_while_the_loop_works_exclusively() -> None:
    async def main() -> None:
        planner = Planner()
        order: list[str] = []
        ready = threading.Event()

        def job() -> None:
            ready.set()
            time.sleep(0.05)  # the loop takes the gate meanwhile
            planner.checkpoint()
            order.append("planner past its checkpoint")

        running = asyncio.ensure_future(planner.run(job))
        await asyncio.sleep(0)
        ready.wait(5)
        with planner.exclusive():
            time.sleep(0.2)  # noqa: ASYNC251 - the loop's own exclusive work
            order.append("loop done")
        await running
        planner.close()
        assert order == ["loop done", "planner past its checkpoint"]

    asyncio.run(main())
