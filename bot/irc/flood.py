"""Flood control, pure: a token bucket on an injected clock, a priority queue of outgoing lines, and the
summary line that replaces a long backlog of announcements.

Nothing here sleeps or reads a clock: callers pass `now` (seconds, monotonic) and ask how long to wait.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, TypeVar

#: Defaults that are safe on Solanum/ircd-ratbox based networks (Libera.Chat, OFTC …).
DEFAULT_BURST = 4
DEFAULT_INTERVAL = 2.0


class Priority(IntEnum):
    """Lower goes first. Within a priority, first in first out."""

    CONTROL = 0  # JOIN, MODE, WHO, NICK regain, NickServ
    REPLY = 1  # answers to people
    ANNOUNCE = 2  # announcements from the outbox


class TokenBucket:
    """At most `burst` lines at once, then one line per `interval` seconds.

    `take(now)` spends a token if one is there; `wait(now)` says how long until one is. Time going
    backwards (a bad injected clock) is treated as no time passing.
    """

    def __init__(self, *, burst: int = DEFAULT_BURST, interval: float = DEFAULT_INTERVAL, now: float = 0.0):
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.burst = burst
        self.interval = interval
        self._tokens = float(burst)
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) / self.interval)
            self._stamp = now

    def tokens(self, now: float) -> float:
        self._refill(now)
        return self._tokens

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0.0 if one is now)."""
        self._refill(now)
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) * self.interval

    def take(self, now: float) -> bool:
        """Spend one token if available."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def spend(self, now: float) -> None:
        """A line that had to go out regardless (PONG, QUIT): spend a token if there is one, never
        go into debt."""
        self._refill(now)
        self._tokens = max(0.0, self._tokens - 1.0)

    def refund(self, now: float) -> None:
        """Give back a token that was taken for a line that did not go out."""
        self._refill(now)
        self._tokens = min(float(self.burst), self._tokens + 1.0)

    def reset(self, now: float) -> None:
        """Full again (a new connection)."""
        self._tokens = float(self.burst)
        self._stamp = now


T = TypeVar("T")


@dataclass(order=True)
class _Entry(Generic[T]):
    priority: int
    seq: int
    item: T = field(compare=False)


class SendQueue(Generic[T]):
    """Priority queue: replies go ahead of queued announcements; FIFO within a priority."""

    def __init__(self) -> None:
        self._heap: list[_Entry[T]] = []
        self._seq = itertools.count()

    def push(self, item: T, priority: Priority) -> None:
        heapq.heappush(self._heap, _Entry(int(priority), next(self._seq), item))

    def pop(self) -> T:
        return heapq.heappop(self._heap).item

    def pop_entry(self) -> tuple[int, int, T]:
        """(priority, sequence number, item) of the next item, removed."""
        entry = heapq.heappop(self._heap)
        return entry.priority, entry.seq, entry.item

    def push_back(self, priority: int, seq: int, item: T) -> None:
        """Put an item back where it was (e.g. the rest of a multi-line message: it keeps its place
        among its priority, while anything more urgent that arrived meanwhile goes first)."""
        heapq.heappush(self._heap, _Entry(priority, seq, item))

    def peek_priority(self) -> int | None:
        return self._heap[0].priority if self._heap else None

    def count(self, priority: Priority | None = None) -> int:
        if priority is None:
            return len(self._heap)
        return sum(1 for e in self._heap if e.priority == priority)

    def clear(self) -> list[T]:
        """Empty the queue; returns what was in it, in the order it would have gone out."""
        items = [e.item for e in sorted(self._heap)]
        self._heap.clear()
        return items

    def __len__(self) -> int:
        return len(self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def __iter__(self) -> Iterator[T]:
        return iter([e.item for e in sorted(self._heap)])


def summarise(entries: Iterable[str], *, budget: int, total: int | None = None) -> tuple[str, int]:
    """One summary line for a backlog of announcements: as many `entries` (short "Flatcar stable
    4152.2.2" texts, oldest first) as fit in `budget` bytes of UTF-8.

    Returns (line, number of entries it covers). At least one entry is always covered (cut to fit if
    it must), so repeated calls always make progress. `total` is the size of the whole backlog, shown
    when not everything fits.
    """
    items = list(entries)
    if not items:
        raise ValueError("nothing to summarise")
    total = max(total or len(items), len(items))

    def line(count: int) -> str:
        head = f"{count} queued announcements" if count > 1 else "queued announcement"
        more = f" ({total - count} more follow)" if total > count else ""
        return f"{head}{more}: " + "; ".join(items[:count])

    best = 1
    for count in range(2, len(items) + 1):
        if len(line(count).encode("utf-8")) > budget:
            break
        best = count
    text = line(best)
    if len(text.encode("utf-8")) > budget:
        from bot.text import truncate_utf8

        text = truncate_utf8(text, budget)
    return text, best
