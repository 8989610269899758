"""Benchmark the release-bot pipeline on the full Flatcar data: parse → detect → store → text.

    .venv/bin/python bench/bench_pipeline.py [--data DIR] [--repeat N] [--tmp DIR]

Prints figures only (nothing is asserted about time). `--data` is the folder holding `releases-json/`
and `releases-feed/` (default: ../shared/fixtures/flatcar, found from this file's location); when it is
missing, the trimmed history files under tests/data/ are used instead and the figures are not
comparable. Every timed step runs `--repeat` times; the table gives the median wall time. Peak memory is
measured in separate, untimed runs (tracemalloc slows Python down several times).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser

from bot.detect import Detection, detect
from bot.messages import message_id
from bot.model import Document, Event, Release, Snapshot
from bot.sources.feed import parse_feed
from bot.sources.flatcar import parse_releases_json
from bot.store import DocumentUpdate, OutboxMessage, PollRecord, Store
from bot.text import html_to_text, markdown_to_text, sanitize, split_utf8

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/fixtures/flatcar"
FALLBACK_HISTORY = REPO / "tests/data/history"
FALLBACK_FEEDS = REPO / "tests/data/feeds"

SOURCE = "flatcar"
PROJECT = "Flatcar Container Linux"
BASE_URL = "https://www.flatcar.org/releases-json/"
FEED_URL = "https://www.flatcar.org/releases-feed/"
CHANNEL_FILES = (
    "alpha",
    "beta",
    "stable",
    "lts",
    "lts-2021",
    "lts-2022",
    "lts-2023",
    "lts-2024",
    "edge",
)
FEED_FILES = ("releases.xml", "releases-stable.xml")
IRC_LINE_BYTES = 400
OUTBOX_MESSAGES = 1000
OUTBOX_SINKS = ("irc", "mail")
NOW = datetime(2026, 8, 21, 12, 0, tzinfo=UTC)

# ------------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------------


@dataclass
class Inputs:
    origin: str  # what was loaded, for the report header
    full: bool  # False when the trimmed fallback is in use
    channel_json: list[tuple[str, bytes]]  # per-channel releases-*.json
    all_json: tuple[str, bytes] | None  # releases.json (every channel in one file)
    feeds: list[tuple[str, bytes]]


def _json_dir(data: Path) -> Path:
    return data / "releases-json" if (data / "releases-json").is_dir() else data


def _feed_dir(data: Path) -> Path:
    if (data / "releases-feed").is_dir():
        return data / "releases-feed"
    return data.parent / "releases-feed"


def load_inputs(data: Path) -> Inputs:
    json_dir = _json_dir(data)
    if (json_dir / "releases.json").is_file():
        channel_json = [
            (f"releases-{c}.json", (json_dir / f"releases-{c}.json").read_bytes())
            for c in CHANNEL_FILES
            if (json_dir / f"releases-{c}.json").is_file()
        ]
        feed_dir = _feed_dir(data)
        feeds = [(n, (feed_dir / n).read_bytes()) for n in FEED_FILES if (feed_dir / n).is_file()]
        if not feeds:
            print(f"note: no feeds under {feed_dir}; feed rows use the trimmed tests/data/feeds files")
            feeds = _fallback_feeds()
        return Inputs(
            origin=str(data),
            full=True,
            channel_json=channel_json,
            all_json=("releases.json", (json_dir / "releases.json").read_bytes()),
            feeds=feeds,
        )

    print(
        f"!! full Flatcar data not found at {json_dir} (no releases.json there).\n"
        f"!! Falling back to the TRIMMED history files in {FALLBACK_HISTORY.relative_to(REPO)} and\n"
        f"!! {FALLBACK_FEEDS.relative_to(REPO)}: the figures below are NOT comparable with a full-data run.\n"
        f"!! Pass --data DIR (the folder holding releases-json/ and releases-feed/) to use the full data."
    )
    snapshots = sorted(p for p in FALLBACK_HISTORY.iterdir() if p.is_dir())
    if not snapshots:
        sys.exit(f"no data: neither {json_dir} nor {FALLBACK_HISTORY} has release files")
    latest = snapshots[-1]
    channel_json = [
        (p.name.removesuffix(".gz"), gzip.decompress(p.read_bytes()))
        for p in sorted(latest.glob("releases-*.json.gz"))
    ]
    return Inputs(
        origin=f"{latest} (trimmed fallback)",
        full=False,
        channel_json=channel_json,
        all_json=None,
        feeds=_fallback_feeds(),
    )


def _fallback_feeds() -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(FALLBACK_FEEDS.glob("*.xml"))]


def parse_json(name: str, body: bytes) -> Document:
    return parse_releases_json(body, source=SOURCE, project=PROJECT, url=BASE_URL + name, doc_name=name)


def parse_xml(name: str, body: bytes) -> Document:
    result = parse_feed(
        body, source="flatcar-feed", project=PROJECT, stream="feed", url=FEED_URL + name, doc_name=name
    )
    return result.document


def all_documents(inputs: Inputs) -> list[Document]:
    """The documents behind 'every release': releases.json, or (fallback) every per-channel file."""
    if inputs.all_json is not None:
        return [parse_json(*inputs.all_json)]
    return [parse_json(name, body) for name, body in inputs.channel_json]


# ------------------------------------------------------------------------------------------------------
# Timing and reporting
# ------------------------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    median_ms: float | None
    notes: str


ROWS: list[Row] = []


def timed(fn: Callable[[], Any], repeat: int, *, setup: Callable[[], Any] | None = None) -> list[float]:
    """Wall times (seconds) of `repeat` calls; `setup` runs untimed before each call."""
    times: list[float] = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def add(name: str, times: Sequence[float] | float | None, notes: str = "") -> float | None:
    if times is None:
        median = None
    elif isinstance(times, float):
        median = times
    else:
        median = statistics.median(times)
    ROWS.append(Row(name, None if median is None else median * 1000, notes))
    return median


def mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


def rate(nbytes: float, seconds: float | None) -> str:
    if not seconds:
        return "-"
    return f"{nbytes / seconds / 1e6:.1f} MB/s"


def section(title: str) -> None:
    ROWS.append(Row(f"-- {title}", None, ""))


def print_table() -> None:
    width = max(len(r.name) for r in ROWS)
    print(f"{'benchmark':<{width}}  {'median ms':>10}  throughput / notes")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 40}")
    for row in ROWS:
        if row.name.startswith("-- "):
            print(row.name)
            continue
        ms = "-" if row.median_ms is None else f"{row.median_ms:10.1f}"
        print(f"{row.name:<{width}}  {ms:>10}  {row.notes}")


# ------------------------------------------------------------------------------------------------------
# Benchmarks
# ------------------------------------------------------------------------------------------------------


def bench_parse_json(inputs: Inputs, repeat: int) -> None:
    section("1. parse_releases_json")
    total_bytes = 0
    total_time = 0.0
    total_releases = 0
    for name, body in inputs.channel_json:
        doc = parse_json(name, body)
        median = add(name, timed(lambda name=name, body=body: parse_json(name, body), repeat))
        ROWS[-1].notes = f"{mb(len(body)):>8}, {len(doc.releases):3d} rel, {rate(len(body), median)}"
        total_bytes += len(body)
        total_time += median or 0.0
        total_releases += len(doc.releases)
    add(
        f"all {len(inputs.channel_json)} per-channel files (sum)",
        total_time,
        f"{mb(total_bytes):>8}, {total_releases:3d} rel, {rate(total_bytes, total_time)}",
    )
    if inputs.all_json is not None:
        name, body = inputs.all_json
        doc = parse_json(name, body)
        median = add(name, timed(lambda: parse_json(name, body), repeat))
        ROWS[-1].notes = f"{mb(len(body)):>8}, {len(doc.releases):3d} rel, {rate(len(body), median)}"


def bench_parse_feed(inputs: Inputs, repeat: int) -> None:
    section(f"2. parse_feed (feedparser {feedparser.__version__})")
    for name, body in inputs.feeds:
        doc = parse_xml(name, body)
        median = add(name, timed(lambda name=name, body=body: parse_xml(name, body), repeat))
        ROWS[-1].notes = f"{mb(len(body)):>8}, {len(doc.releases):3d} entries, {rate(len(body), median)}"


def bench_detect(docs: list[Document], repeat: int) -> Detection:
    section("3. detect")
    snapshot = Snapshot(SOURCE, tuple(docs))
    names = {d.name for d in docs}
    n = sum(len(d.releases) for d in docs)

    def baseline() -> Detection:
        return detect(snapshot, {}, baselined_documents=(), announce_on_baseline=0)

    first = baseline()
    median = add("first-run baseline (known = {})", timed(baseline, repeat))
    ROWS[-1].notes = (
        f"{n} rel in -> {len(first.new)} new, {len(first.events)} events; "
        f"{len(first.new) / median:,.0f} rel/s"
        if median
        else ""
    )

    known = {(r.stream, r.version): r for r in first.new}

    def steady() -> Detection:
        return detect(snapshot, known, baselined_documents=names)

    result = steady()
    median = add("steady state, document re-fetched (known = all)", timed(steady, repeat))
    ROWS[-1].notes = f"{len(known)} known -> {len(result.new)} new, {len(result.events)} events"

    empty = Snapshot(SOURCE, ())
    add(
        "steady state, all 304 Not Modified (no documents)",
        timed(lambda: detect(empty, known, baselined_documents=names), repeat),
        "snapshot holds no document",
    )

    # Not asked for, but the expensive path: every release is new in an already-baselined document,
    # so each one becomes an event (previous_release/promoted_from scan the whole pool per event).
    def announce_all() -> Detection:
        return detect(snapshot, {}, baselined_documents=names)

    worst = announce_all()
    add(
        "worst case: every release announced",
        timed(announce_all, repeat),
        f"{len(worst.events)} events (releases indexed by stream once)",
    )
    return worst


def _updates(docs: Sequence[Document], inputs: Inputs) -> list[DocumentUpdate]:
    sizes = dict(inputs.channel_json)
    if inputs.all_json is not None:
        sizes[inputs.all_json[0]] = inputs.all_json[1]
    return [
        DocumentUpdate(
            d.name, BASE_URL + d.name, f'"etag-{d.name}"', None, f"sha-{len(sizes.get(d.name, b''))}", True
        )
        for d in docs
    ]


def outbox_batch(events: Sequence[Event], count: int) -> list[tuple[Event, list[OutboxMessage]]]:
    """`count` outbox messages: one per sink for as many events as needed (cycling if too few)."""
    per_event = len(OUTBOX_SINKS)
    needed = -(-count // per_event)
    batch: list[tuple[Event, list[OutboxMessage]]] = []
    for i in range(needed):
        base = events[i % len(events)]
        event = base
        if i >= len(events):  # make the key unique: a copy of the release in a synthetic stream
            release = base.release
            event = Event(
                kind=base.kind,
                release=Release(
                    source=release.source,
                    project=release.project,
                    stream=f"{release.stream}-copy{i // len(events)}",
                    channel=release.channel,
                    version=release.version,
                    title=release.title,
                    published=release.published,
                    link=release.link,
                    packages=release.packages,
                    notes=release.notes,
                    notes_format=release.notes_format,
                    architectures=release.architectures,
                ),
                previous=base.previous,
                promoted_from=base.promoted_from,
                changes=base.changes,
            )
        messages = []
        for sink in OUTBOX_SINKS[: min(per_event, count - i * per_event)]:
            r = event.release
            text = sanitize(f"{r.project} {r.channel} {r.version} released: {r.link}")
            messages.append(
                OutboxMessage(sink=sink, message_id=message_id(event, sink), payload={"text": text})
            )
        batch.append((event, messages))
    return batch


class TempStores:
    """Fresh SQLite files in one temporary folder, removed at the end."""

    def __init__(self, parent: str | None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="release-bot-bench-", dir=parent))
        self.count = 0
        self.open: list[Store] = []

    def new(self, synchronous: str = "normal") -> Store:
        self.count += 1
        store = Store(self.dir / f"state-{self.count}.sqlite3", synchronous=synchronous)
        self.open.append(store)
        return store

    def close(self) -> None:
        for store in self.open:
            store.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def bench_store(docs: list[Document], inputs: Inputs, worst: Detection, repeat: int, tmp: str | None) -> None:
    section(f"4. Store (SQLite {sqlite3.sqlite_version}, WAL, synchronous=NORMAL unless said)")
    stores = TempStores(tmp)
    try:
        detection = detect(Snapshot(SOURCE, tuple(docs)), {}, baselined_documents=())
        updates = _updates(docs, inputs)
        holder: dict[str, Store] = {}

        def fresh() -> None:
            holder["store"] = stores.new()

        def commit() -> None:
            holder["store"].commit_poll(
                PollRecord(SOURCE, now=NOW, documents=updates, new_releases=detection.new, events=())
            )

        median = add(f"commit_poll {len(detection.new)} new releases", timed(commit, repeat, setup=fresh))
        store = holder["store"]
        size = Path(store.path).stat().st_size + _wal_size(store.path)
        ROWS[-1].notes = (
            f"fresh file, one transaction; {len(detection.new) / median:,.0f} rel/s; db+wal {mb(size)}"
            if median
            else ""
        )

        loaded = store.known_releases(SOURCE)
        median = add("known_releases() load", timed(lambda: store.known_releases(SOURCE), repeat))
        ROWS[-1].notes = f"{len(loaded)} rel, {len(loaded) / median:,.0f} rel/s" if median else ""

        add(
            "steady poll w/o network (documents+known+detect+commit)",
            timed(lambda: _steady_poll(store, docs, updates), repeat),
            "Bot.poll's local work when a document re-renders with nothing new",
        )

        # Outbox: enqueue OUTBOX_MESSAGES rows (commit_poll with events), then drain as Bot.deliver does.
        batch = outbox_batch(worst.events, OUTBOX_MESSAGES)
        n_msgs = sum(len(m) for _, m in batch)
        enqueue: list[float] = []
        pend: list[float] = []
        mark: list[float] = []
        for _ in range(repeat):
            outbox_store = stores.new()
            gc.collect()
            start = time.perf_counter()
            outbox_store.commit_poll(PollRecord(SOURCE, now=NOW, documents=(), new_releases=(), events=batch))
            enqueue.append(time.perf_counter() - start)
            t_pending = t_mark = 0.0
            delivered = 0
            later = NOW + timedelta(minutes=1)
            for sink in OUTBOX_SINKS:
                while True:
                    start = time.perf_counter()
                    items = outbox_store.pending(sink, now=later, limit=100)
                    t_pending += time.perf_counter() - start
                    if not items:
                        break
                    start = time.perf_counter()
                    outbox_store.mark_delivered_many([item.id for item in items], now=later)
                    t_mark += time.perf_counter() - start
                    delivered += len(items)
            if delivered != n_msgs:
                print(f"warning: delivered {delivered} of {n_msgs} outbox messages")
            pend.append(t_pending)
            mark.append(t_mark)
        median = add(f"outbox enqueue {n_msgs} msgs ({len(batch)} events)", enqueue)
        ROWS[-1].notes = "commit_poll with events, one transaction"
        median = add(f"outbox pending() x{n_msgs // 100 + len(OUTBOX_SINKS)} (limit=100)", pend)
        ROWS[-1].notes = f"{median / n_msgs * 1e6:.0f} µs/msg" if median else ""
        median = add(f"outbox mark_delivered_many x{n_msgs} (per pending batch)", mark)
        ROWS[-1].notes = (
            f"{n_msgs / median:,.0f} msg/s, {median / n_msgs * 1e6:.1f} µs/msg (as a delivery pass marks)"
            if median
            else ""
        )
        for mode in ("normal", "full"):
            single: list[float] = []
            for _ in range(repeat):
                one = stores.new(synchronous=mode)
                one.commit_poll(PollRecord(SOURCE, now=NOW, documents=(), new_releases=(), events=batch))
                ids = [i.id for s in OUTBOX_SINKS for i in one.pending(s, now=NOW, limit=n_msgs)][:500]
                start = time.perf_counter()
                for item_id in ids:
                    one.mark_delivered(item_id, now=NOW)
                single.append((time.perf_counter() - start) / len(ids))
            label = f"  mark_delivered one by one, synchronous={mode.upper()}"
            median = add(label, [t * 500 for t in single])
            rate_each = f"{500 / median:,.0f} msg/s" if median else ""
            ROWS[-1].notes = f"{rate_each} (a transaction each; 500 timed)"
        drain = [p + m for p, m in zip(pend, mark, strict=True)]
        median = add(f"outbox drain {n_msgs} msgs (pending + mark)", drain)
        ROWS[-1].notes = f"{n_msgs / median:,.0f} msg/s" if median else ""
    finally:
        stores.close()


def _wal_size(path: str) -> int:
    wal = Path(path + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def _steady_poll(store: Store, docs: list[Document], updates: list[DocumentUpdate]) -> None:
    known = store.known_releases(SOURCE)
    baselined = set(store.documents(SOURCE))
    detection = detect(Snapshot(SOURCE, tuple(docs)), known, baselined_documents=baselined)
    store.commit_poll(PollRecord(SOURCE, now=NOW, documents=updates, new_releases=detection.new, events=()))


def bench_text(docs: list[Document], feed_docs: list[Document], repeat: int) -> None:
    section("5. text")
    releases = [r for d in docs for r in d.releases]
    notes = [r.notes for r in releases]
    md_bytes = sum(len(n.encode()) for n in notes)

    md_times = timed(lambda: [markdown_to_text(n) for n in notes], repeat)
    texts = [markdown_to_text(n) for n in notes]
    text_bytes = sum(len(t.encode()) for t in texts)
    median = add(f"markdown_to_text, {len(notes)} release notes", md_times)
    ROWS[-1].notes = f"{mb(md_bytes)} md in, {rate(md_bytes, median)}"

    def sanitize_split() -> int:
        return sum(len(split_utf8(sanitize(t), IRC_LINE_BYTES)) for t in texts)

    pieces = sanitize_split()
    median = add(f"sanitize + split_utf8(..., {IRC_LINE_BYTES})", timed(sanitize_split, repeat))
    ROWS[-1].notes = f"{mb(text_bytes)} text in, {rate(text_bytes, median)}, {pieces} pieces"

    median = add("  sanitize only", timed(lambda: [sanitize(t) for t in texts], repeat))
    ROWS[-1].notes = rate(text_bytes, median)
    clean = [sanitize(t) for t in texts]
    clean_bytes = sum(len(c.encode()) for c in clean)
    median = add("  split_utf8 only", timed(lambda: [split_utf8(c, IRC_LINE_BYTES) for c in clean], repeat))
    ROWS[-1].notes = rate(clean_bytes, median)

    def pipeline() -> None:
        for n in notes:
            split_utf8(sanitize(markdown_to_text(n)), IRC_LINE_BYTES)

    median = add("markdown_to_text + sanitize + split (end to end)", timed(pipeline, repeat))
    ROWS[-1].notes = f"{rate(md_bytes, median)} of markdown"

    html_notes = [r.notes for d in feed_docs for r in d.releases if r.notes_format == "html"]
    if html_notes:
        html_bytes = sum(len(n.encode()) for n in html_notes)
        median = add(
            f"html_to_text, {len(html_notes)} feed entries",
            timed(lambda: [html_to_text(n) for n in html_notes], repeat),
        )
        ROWS[-1].notes = f"{mb(html_bytes)} html in, {rate(html_bytes, median)}"


def peak(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bench_memory(inputs: Inputs, tmp: str | None) -> None:
    section("6. memory (tracemalloc peak, untimed runs)")
    if inputs.all_json is not None:
        name, body = inputs.all_json
        label = f"parse_releases_json({name})"
        parse_all: Callable[[], list[Document]] = lambda: [parse_json(name, body)]  # noqa: E731
        size = len(body)
    else:
        label = f"parse_releases_json x{len(inputs.channel_json)} files"
        parse_all = lambda: [parse_json(n, b) for n, b in inputs.channel_json]  # noqa: E731
        size = sum(len(b) for _, b in inputs.channel_json)
    add(label, None, f"peak {mb(peak(parse_all))} for {mb(size)} of JSON")

    docs = parse_all()
    updates = _updates(docs, inputs)
    stores = TempStores(tmp)
    try:

        def baseline() -> None:
            store = stores.new()
            detection = detect(Snapshot(SOURCE, tuple(docs)), {}, baselined_documents=())
            store.commit_poll(
                PollRecord(SOURCE, now=NOW, documents=updates, new_releases=detection.new, events=())
            )

        n = sum(len(d.releases) for d in docs)
        add(
            "baseline detect + commit_poll",
            None,
            f"peak {mb(peak(baseline))} ({n} rel, parsed beforehand; SQLite's own heap not traced)",
        )

        def full() -> None:
            parsed = parse_all()
            store = stores.new()
            detection = detect(Snapshot(SOURCE, tuple(parsed)), {}, baselined_documents=())
            store.commit_poll(
                PollRecord(SOURCE, now=NOW, documents=updates, new_releases=detection.new, events=())
            )

        add("parse + detect + commit_poll", None, f"peak {mb(peak(full))} (whole first poll, no network)")
    finally:
        stores.close()


# ------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="folder holding releases-json/ and releases-feed/ (default: %(default)s)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per step (default: %(default)s)")
    parser.add_argument("--tmp", default=None, help="folder for the temporary SQLite files (default: system)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    started = time.perf_counter()
    inputs = load_inputs(args.data)
    print(
        f"release-bot pipeline benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M UTC}\n"
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()}, {_cpu_count()} CPU(s), sqlite {sqlite3.sqlite_version}, "
        f"feedparser {feedparser.__version__}\n"
        f"data: {inputs.origin}; repeat={args.repeat} (median wall time)\n"
    )

    bench_parse_json(inputs, args.repeat)
    bench_parse_feed(inputs, args.repeat)
    docs = all_documents(inputs)
    worst = bench_detect(docs, args.repeat)
    bench_store(docs, inputs, worst, args.repeat, args.tmp)
    # releases.xml already holds every entry; the trimmed fallback feeds are all needed for some HTML.
    feed_docs = [parse_xml(n, b) for n, b in (inputs.feeds[:1] if inputs.full else inputs.feeds)]
    bench_text(docs, feed_docs, args.repeat)
    bench_memory(inputs, args.tmp)

    print_table()
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"\nprocess max RSS: {rss_kib / 1024:.1f} MiB; total run {time.perf_counter() - started:.1f} s")
    if not inputs.full:
        print("!! trimmed fallback data: not comparable with a full-data run")
    return 0


def _cpu_count() -> int | str:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or "?"


if __name__ == "__main__":
    sys.exit(main())
