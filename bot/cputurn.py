"""Short CPU work on the event loop's own thread, one piece per loop iteration.

Handing a small piece of work (parsing a 50 KB feed, rendering a few mails) to a thread costs more than
the work: the hop, and the interpreter lock passed back and forth while the loop's thread does I/O —
every socket or SQLite call then waits up to a switch interval (5 ms) to get the lock back from the busy
thread. So work under a size limit runs on the loop, inside `cpu_turn()`: one holder at a time, and the
holder first yields once, so each piece starts in a loop iteration of its own. Pieces finishing their
I/O together then never pile up into one long iteration: timers (IRC PINGs, a ticker) and delivery get
their turn between two of them. Large work still goes to a thread (`bot.planner`, `asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import AsyncIterator

__all__ = ["INLINE_PARSE_BYTES", "INLINE_RENDERS", "RENDER_SLICE", "cpu_turn", "freeze_startup"]

#: a fetched body up to this size is parsed on the loop (a 50 KB Atom feed: ~4 ms; 256 KiB: ~20 ms)
INLINE_PARSE_BYTES = 256 * 1024
#: a poll with up to this many messages to render is rendered on the loop (~0.75 ms a mail)
INLINE_RENDERS = 64
#: … a turn per this many events (~12 ms of mails)
RENDER_SLICE = 16

_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def cpu_turn() -> AsyncIterator[None]:
    """Hold the loop's CPU turn: the body runs alone, starting in a loop iteration of its own."""
    loop = asyncio.get_running_loop()
    turn = _TURNS.get(loop)
    if turn is None:
        turn = _TURNS[loop] = asyncio.Lock()
    async with turn:
        await asyncio.sleep(0)
        yield


def freeze_startup() -> None:
    """What start-up made (modules, config, templates) lives as long as the process: moved out of the
    way of the garbage collector's full collections, which would otherwise walk it again and again
    (garbage is collected first, so none of it is kept). `once` and `run` call it before their first
    poll (here, not in `bot.daemon`: `once` does not load the daemon)."""
    gc.collect()
    gc.freeze()
