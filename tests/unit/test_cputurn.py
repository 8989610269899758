"""`cpu_turn` (bot/cputurn.py): short CPU work on the loop, one holder at a time, each starting in a loop
iteration of its own, so pieces ready together never make one long iteration."""

from __future__ import annotations

import asyncio

from bot.cputurn import cpu_turn


def test_holders_run_one_at_a_time_each_in_a_loop_iteration_of_its_own() -> None:
    async def main() -> tuple[list[tuple[str, int]], int]:
        loop = asyncio.get_running_loop()
        iteration = 0
        stop = False

        def count() -> None:  # runs once per loop iteration
            nonlocal iteration
            iteration += 1
            if not stop:
                loop.call_soon(count)

        loop.call_soon(count)
        log: list[tuple[str, int]] = []
        inside = 0

        async def piece(name: str) -> None:
            nonlocal inside
            async with cpu_turn():
                inside += 1
                assert inside == 1  # alone
                log.append((name, iteration))
                inside -= 1

        await asyncio.gather(*(piece(name) for name in "abcd"))
        stop = True
        return log, iteration

    log, iterations = asyncio.run(main())
    assert [name for name, _ in log] == list("abcd")  # in the order they asked
    started = [at for _, at in log]
    assert len(set(started)) == len(started)  # never two in the same iteration
    assert iterations >= len(started)


def test_an_error_inside_releases_the_turn() -> None:
    async def main() -> str:
        try:
            async with cpu_turn():
                raise ValueError("bad body")
        except ValueError:
            pass
        async with cpu_turn():
            return "next holder ran"

    assert asyncio.run(main()) == "next holder ran"


def test_each_event_loop_has_its_own_turn() -> None:
    async def main() -> int:
        async with cpu_turn():
            return 1

    assert asyncio.run(main()) + asyncio.run(main()) == 2  # a closed loop's lock is not reused
