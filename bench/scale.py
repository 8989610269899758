"""Costs against the size of the history (issue 17), on loopback only.

1. Per poll and per message at 0, 10,000 and 100,000 events of history: a state is filled with that
   many delivered release events (mail output `list`, the same sink the polls write to), then a running
   `Bot` with 20 feeds polls rounds of 5 new entries per feed (100 mails a round) into an aiosmtpd sink.
   Goal: within 1.5× of the empty state.
2. The all-announced run: 1,000 feeds × 50 entries, `announce_on_first_run = 50`, one `once`-like
   cycle in a child process (time, peak RSS, longest event-loop stall from a 10 ms ticker), then the
   state size per event, before and after pruning the delivered bodies.
3. Resident memory of a `Bot` with 1,000 feeds over unchanged poll cycles (all 304).

    .venv/bin/python bench/scale.py                      (make bench-scale)
    .venv/bin/python bench/scale.py --history 0,10000 --feeds 200   (smaller)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import logging
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import bot_config
from loopback import CountingSink, FeedServer

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def fill_history(path: Path, events: int) -> None:
    """`events` delivered release events of source `hist` with their mail in sink `list` (bodies ~2 KB),
    written in batches of 1,000 (one poll each)."""
    from bot.messages import sample_events
    from bot.model import Event
    from bot.store import OutboxMessage, PollRecord, Store, ThreadKey

    template = next(e for e in sample_events() if isinstance(e, Event))
    body = "Release notes line with some words in it.\n" * 48
    with Store(path) as store:
        done = 0
        while done < events:
            batch = []
            for k in range(done, min(events, done + 1000)):
                release = replace(template.release, source="hist", stream=f"s{k % 50}", version=f"{k}.0.0")
                event = replace(template, release=release, previous=None)
                message = OutboxMessage(
                    sink="list",
                    message_id=f"<{k}.hist@bench.invalid>",
                    payload={"subject": f"hist {k}.0.0", "body": body},
                    thread=ThreadKey("hist", release.stream, release.major),
                )
                batch.append((event, [message]))
            store.commit_poll(PollRecord("hist", now=NOW, events=batch))
            done += len(batch)
        while True:
            items = store.pending("list", now=NOW + timedelta(days=1), limit=1000)
            if not items:
                break
            store.mark_delivered_many([i.id for i in items], now=NOW)


async def rounds(
    config: Path, server: FeedServer, ns: str, feeds: int, sink: CountingSink, count: int
) -> dict[str, Any]:
    from bot.app import Bot
    from bot.config import load_config

    bot = Bot(load_config(config))
    per_poll: list[float] = []
    per_mail: list[float] = []
    try:
        await bot.poll_all()  # the silent baseline
        await bot.deliver()
        sink.take()
        for round_ in range(count + 1):  # round 0 warms up (first messages, first connection); not counted
            server.bump(ns, range(feeds), 5)
            start = time.perf_counter()
            await bot.poll_all()
            polled = time.perf_counter()
            result = await bot.deliver()
            done = time.perf_counter()
            assert result.delivered == feeds * 5, result
            if round_ == 0:
                continue
            per_poll.append((polled - start) / feeds)
            per_mail.append((done - polled) / (feeds * 5))
        await asyncio.sleep(0.05)
        mails, dups = sink.take()
        assert mails == (count + 1) * feeds * 5 and dups == 0, (mails, dups)
    finally:
        await bot.aclose()
    return {"per_poll": statistics.median(per_poll), "per_mail": statistics.median(per_mail)}


def history_scaling(sizes: list[int], tmp: Path) -> list[tuple[int, float, float]]:
    out = []
    feeds = 20
    with FeedServer(feeds) as server, CountingSink() as sink:
        for size in sizes:
            folder = tmp / f"h{size}"
            folder.mkdir()
            ns = f"h{size}"
            server.namespace(ns)
            config = bot_config(folder, server, ns, feeds, sink.port)
            start = time.perf_counter()
            fill_history(folder / "state.sqlite3", size)
            filled = time.perf_counter() - start
            got = asyncio.run(rounds(config, server, ns, feeds, sink, 3))
            out.append((size, got["per_poll"], got["per_mail"]))
            print(
                f"history {size:>7} events (filled in {filled:.0f} s): "
                f"per poll {got['per_poll'] * 1000:.2f} ms, "
                f"per mail {got['per_mail'] * 1000:.2f} ms",
                flush=True,
            )
    return out


# -- the child: one Bot in its own process, with a ticker ----------------------------------------------


def _peak_kib() -> int:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: a child forked from this benchmark (holding
    ~100 MB of feed bodies) starts with those pages, and the kernel keeps that peak across exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class StallSampler:
    """What the event loop's thread is doing while it stalls: a watchdog thread that, whenever the
    loop's ticker is more than `threshold` late, samples the loop thread's stack every 10 ms. The
    samples, grouped by the innermost frames of the bot (and of the library they call), show what
    blocks the loop: a profile of the stalls only."""

    def __init__(self, threshold: float = 0.1) -> None:
        self.threshold = threshold
        self.last_tick = time.perf_counter()
        self.loop_thread = threading.get_ident()
        self.samples: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.01):
            if time.perf_counter() - self.last_tick < self.threshold:
                continue
            frame = sys._current_frames().get(self.loop_thread)
            if frame is not None:
                self.samples[_where(frame)] += 1

    def top(self, count: int = 8) -> list[tuple[str, int]]:
        return self.samples.most_common(count)


def _where(frame: Any) -> str:
    """The innermost bot frames of a stack (up to three) and the innermost frame below them."""
    stack = traceback.extract_stack(frame)
    ours = [f for f in stack if "/bot/" in f.filename]
    inner = stack[-1]
    names = [f"{Path(f.filename).stem}.{f.name}:{f.lineno}" for f in ours[-3:]]
    if not ours or inner is not ours[-1]:
        names.append(f"{Path(inner.filename).stem}.{inner.name}")
    return " > ".join(names)


async def _child(config: Path, cycles: int) -> dict[str, Any]:
    from bot.app import Bot
    from bot.config import load_config

    stall = 0.0  # longest gap between two ticks, wall time (includes time the OS gave to other processes)
    stall_cpu = 0.0  # the main thread's CPU time in that gap: the loop's own work
    stop = asyncio.Event()
    sampler = StallSampler()

    async def ticker() -> None:
        nonlocal stall, stall_cpu
        last, last_cpu = time.perf_counter(), time.thread_time()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now, now_cpu = time.perf_counter(), time.thread_time()
            sampler.last_tick = now
            stall = max(stall, now - last - 0.01)
            stall_cpu = max(stall_cpu, now_cpu - last_cpu)
            last, last_cpu = now, now_cpu

    bot = Bot(load_config(config))
    for module in ("aiosmtplib", "feedparser", "bot.sources.feed"):  # what the first cycle imports lazily
        importlib.import_module(module)  # (a one-time start-up cost, not a stall of a running daemon)
    from bot.daemon import freeze_startup

    freeze_startup()  # as `once` and `run` do before their first poll
    gc_pause = [0.0, 0.0]  # [start, longest]
    tracked = [0]  # the most objects a full collection walked

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            if info.get("generation") == 2:  # (counted before the pause is timed)
                tracked[0] = max(tracked[0], len(gc.get_objects()))
            gc_pause[0] = time.perf_counter()
        else:
            gc_pause[1] = max(gc_pause[1], time.perf_counter() - gc_pause[0])

    gc.callbacks.append(on_gc)
    sampler.start()
    tick = asyncio.create_task(ticker())
    times = []
    rss = []
    delivered = 0
    try:
        for _ in range(cycles):
            start = time.perf_counter()
            # as `once` and `run` do: what a poll queues goes out while the others are polled
            delivered += (await bot.poll_and_deliver())[1].delivered
            times.append(time.perf_counter() - start)
            rss.append(_peak_kib())
            if cycles > 1 and len(times) == 1:
                stall = stall_cpu = 0.0  # steady cycles: the first one (client set-up, CA bundle) not counted
                sampler.samples.clear()
    finally:
        stop.set()
        await tick
        sampler.stop()
    try:  # the benchmark's own pruning of every body (not what a poll cycle does): not measured
        size = bot.store.state_size()
        pruned = bot.store.prune_delivered(before=datetime.now(UTC) + timedelta(days=1), vacuum_pages=1 << 30)
        after = bot.store.state_size()
    finally:
        await bot.aclose()
    return {
        "stall_samples": sampler.top(),
        "times": times,
        "delivered": delivered,
        "stall": stall,
        "stall_cpu": stall_cpu,
        "gc_pause": gc_pause[1],
        "gc_tracked": tracked[0],
        "gc_frozen": gc.get_freeze_count(),
        "maxrss_kib": rss,
        "size": size,
        "pruned": pruned,
        "size_after_prune": after,
    }


def child(config: Path, cycles: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(config), "--cycles", str(cycles)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"child failed: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def all_announced(feeds: int, tmp: Path, steady_cycles: int) -> None:
    with FeedServer(feeds) as server, CountingSink() as sink:
        folder = tmp / "all"
        folder.mkdir()
        server.namespace("all")
        config = bot_config(folder, server, "all", feeds, sink.port)
        text = config.read_text().replace('kind = "feed"\n', 'kind = "feed"\nannounce_on_first_run = 50\n')
        config.write_text(text)
        start = time.perf_counter()
        got = child(config, 1)
        wall = time.perf_counter() - start
        time.sleep(0.1)
        mails, dups = sink.take()
        events = got["size"]["events"]
        size = got["size"]["file"] + got["size"]["wal"]
        after = got["size_after_prune"]
        used_after = after["file"] - after["free"]  # pages in use (the WAL is checkpointed into them)
        print(
            f"\nall announced: {feeds} feeds × 50 entries: {wall:.1f} s in all "
            f"(cycle {got['times'][0]:.1f} s), "
            f"{got['delivered']} delivered, {mails} received ({dups} duplicate Message-IDs), "
            f"peak RSS {got['maxrss_kib'][-1] / 1024:.0f} MiB, "
            f"longest event-loop stall {got['stall'] * 1000:.0f} ms wall, "
            f"{got['stall_cpu'] * 1000:.0f} ms of the loop thread's own CPU; "
            f"longest garbage collection {got['gc_pause'] * 1000:.0f} ms "
            f"(at most {got['gc_tracked']:,} objects walked, {got['gc_frozen']:,} frozen)"
        )
        _print_samples(got)
        print(
            f"state: {size / 1048576:.1f} MiB for {events} events = "
            f"{size / max(events, 1) / 1024:.2f} KiB per event; "
            f"after pruning {got['pruned']} delivered bodies: {used_after / 1048576:.1f} MiB in use "
            f"({after['file'] / 1048576:.1f} MiB file) = {used_after / max(events, 1) / 1024:.2f} KiB per "
            "delivered message"
        )
        steady = child(config, steady_cycles)
        print(
            f"steady: {feeds} feeds, {steady_cycles} unchanged cycles in one Bot: median cycle "
            f"{statistics.median(steady['times']) * 1000:.0f} ms, peak RSS after the first "
            f"{steady['maxrss_kib'][0] / 1024:.0f} MiB, "
            f"after the last {steady['maxrss_kib'][-1] / 1024:.0f} MiB, "
            f"longest stall {steady['stall'] * 1000:.0f} ms wall, {steady['stall_cpu'] * 1000:.0f} ms CPU"
        )


def _print_samples(got: dict[str, Any]) -> None:
    """Where the loop thread was while it stalled (10 ms samples past 100 ms without a tick)."""
    samples = got.get("stall_samples") or []
    if not samples:
        print("  stalls over 100 ms: none sampled")
        return
    print("  stalls over 100 ms, 10 ms samples of the loop thread (most frequent first):")
    for where, count in samples:
        print(f"    {count:5d}  {where}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", default="0,10000,100000", help="history sizes (events), comma list")
    parser.add_argument("--feeds", type=int, default=1000, help="feeds of the all-announced run")
    parser.add_argument(
        "--steady-cycles", type=int, default=20, help="unchanged cycles for the memory figure"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (state files)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cycles", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.child:
        print(json.dumps(asyncio.run(_child(args.child, args.cycles))))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="release-bot-scale-"))
    try:
        sizes = [int(s) for s in args.history.split(",") if s]
        if sizes:
            rows = history_scaling(sizes, tmp)
            base = rows[0]
            for size, poll, mail in rows[1:]:
                print(
                    f"history {size}: per poll {poll / base[1]:.2f}×, per mail {mail / base[2]:.2f}× "
                    f"the cost at {base[0]} events"
                )
        if args.feeds:
            all_announced(args.feeds, tmp, args.steady_cycles)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
