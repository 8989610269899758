"""`release-bot deliver [OUTPUT] [--now]` and the per-output queue lines of `status` (issue 9, item 11).

`deliver --now` makes the messages waiting for a retry due now (the backoff is reset), runs one
delivery pass (every output, or OUTPUT: the other outputs' sinks are not opened) and reports per output
what was delivered, what failed and what is still queued. Exit 0 when nothing is left queued because
of a failure, 1 otherwise, 2 on a config error. A stopped output (refused credentials) stays stopped:
`retry OUTPUT` first.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.errors import ConfigError

if TYPE_CHECKING:  # imported where used: `release-bot --help` builds this verb's parser
    from bot.config import Config
    from bot.store import StateStore

__all__ = ["add_deliver_verb", "cmd_deliver", "queue_status_lines"]

ConfigLoader = Callable[[argparse.Namespace], "Config"]


def _age(seconds: float) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def queue_status_lines(config: Config, store: StateStore, *, now: datetime | None = None) -> list[str]:
    """Per output with something queued or a stop: attempts, the oldest queued message's age, the
    next retry time, and why it is stopped."""
    from bot.store.queues import queue_facts

    now = now or datetime.now(UTC)
    lines: list[str] = []
    for output in config.outputs:
        facts = queue_facts(store, output.name)
        if facts.stopped is not None:
            lines.append(f"output {output.name}: STOPPED: {facts.stopped}")
        if not facts.queued:
            continue
        age = _age((now - facts.oldest).total_seconds()) if facts.oldest else "?"
        if facts.next_retry is not None and facts.next_retry > now:
            wait = _age((facts.next_retry - now).total_seconds())
            retry = (
                f"next retry {facts.next_retry:%Y-%m-%d %H:%M:%S}Z (in {wait}; `release-bot deliver --now`)"
            )
        else:
            retry = "due now"
        lines.append(
            f"output {output.name} queue: {facts.queued} queued, {facts.attempts} attempt(s) so far, "
            f"oldest queued {age} ago, {retry}"
        )
    return lines


def cmd_deliver(args: argparse.Namespace, load: ConfigLoader) -> int:
    import asyncio

    from bot.app import Bot
    from bot.sinks import build_sinks
    from bot.store.queues import queue_facts, reset_backoff

    config = load(args)
    names = [o.name for o in config.outputs]
    if args.output is not None and args.output not in names:
        raise ConfigError(
            f"no output named {args.output!r} (outputs: {', '.join(names) or 'none'})", path=str(config.path)
        )
    outputs = [o for o in config.outputs if args.output in (None, o.name)]

    async def main() -> int:
        bot = Bot(config, sinks=build_sinks(tuple(outputs)))
        try:
            now = bot.clock()
            if args.now:
                waited = reset_backoff(bot.store, args.output, now=now)
                print(f"{waited} message(s) waiting for a retry made due now", file=sys.stderr)
            if not bot.deliverer.lock.claim():
                print(
                    "another release-bot process delivers from this state; it will send them", file=sys.stderr
                )
                return 1
            result = await bot.deliver()
            for output in outputs:
                facts = queue_facts(bot.store, output.name)
                line = f"output {output.name}: {facts.queued} still queued"
                if facts.stopped is not None:
                    line += f"; STOPPED: {facts.stopped}"
                print(line)
            print(f"delivered {result.delivered}, failed {result.failed}")
            for error in result.errors:
                print(f"  {error}")
        finally:
            await bot.aclose()
        return 1 if result.held else 0

    return asyncio.run(main())


def add_deliver_verb(sub: argparse._SubParsersAction[argparse.ArgumentParser], load: ConfigLoader) -> None:
    p = sub.add_parser(
        "deliver", help="deliver queued messages now (--now: also those waiting for a retry) and report"
    )
    p.add_argument("output", nargs="?", help="only this output (default: all)")
    p.add_argument("--now", action="store_true", help="reset the retry backoff: try every queued message now")
    p.set_defaults(func=lambda args: cmd_deliver(args, load))
