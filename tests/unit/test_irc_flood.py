"""Flood control on a fake clock: token bucket, priority queue, backlog summary lines."""

from __future__ import annotations

import pytest

from bot.irc.flood import DEFAULT_BURST, DEFAULT_INTERVAL, Priority, SendQueue, TokenBucket, summarise


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drain(bucket: TokenBucket, clock: FakeClock, lines: int) -> list[float]:
    """Send `lines` lines as fast as the bucket allows; the times they went out."""
    times = []
    for _ in range(lines):
        wait = bucket.wait(clock())
        clock.now += wait
        assert bucket.take(clock()), "a token must be there after waiting"
        times.append(clock.now)
    return times


def test_defaults_are_safe_for_solanum():
    assert (DEFAULT_BURST, DEFAULT_INTERVAL) == (4, 2.0)


def test_burst_then_one_line_per_interval():
    clock = FakeClock()
    bucket = TokenBucket(burst=4, interval=2.0, now=clock())
    times = [t - 1000.0 for t in drain(bucket, clock, 8)]
    assert times == [0.0, 0.0, 0.0, 0.0, 2.0, 4.0, 6.0, 8.0]


def test_no_window_ever_exceeds_the_limit():
    clock = FakeClock()
    bucket = TokenBucket(burst=4, interval=2.0, now=clock())
    times = drain(bucket, clock, 20)
    clock.now += 30  # idle: the bucket fills up again, but never beyond the burst
    times += drain(bucket, clock, 10)
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            window = times[j] - start
            # lines in [start, start + window]: at most burst + window / interval
            assert j - i + 1 <= 4 + window / 2.0 + 1e-9


def test_refill_is_capped_and_wait_is_exact():
    clock = FakeClock()
    bucket = TokenBucket(burst=2, interval=3.0, now=clock())
    assert bucket.take(clock()) and bucket.take(clock())
    assert not bucket.take(clock())
    assert bucket.wait(clock()) == pytest.approx(3.0)
    clock.now += 1.5
    assert bucket.wait(clock()) == pytest.approx(1.5)
    clock.now += 100
    assert bucket.tokens(clock()) == 2.0


def test_time_going_backwards_is_no_time():
    clock = FakeClock()
    bucket = TokenBucket(burst=1, interval=2.0, now=clock())
    assert bucket.take(clock())
    clock.now -= 50
    assert not bucket.take(clock())
    assert bucket.wait(clock()) == pytest.approx(2.0)


def test_spend_never_goes_into_debt_and_refund():
    clock = FakeClock()
    bucket = TokenBucket(burst=2, interval=2.0, now=clock())
    for _ in range(5):
        bucket.spend(clock())
    assert bucket.tokens(clock()) == 0.0
    bucket.refund(clock())
    assert bucket.take(clock())
    bucket.reset(clock())
    assert bucket.tokens(clock()) == 2.0


def test_bad_parameters():
    with pytest.raises(ValueError):
        TokenBucket(burst=0)
    with pytest.raises(ValueError):
        TokenBucket(interval=0)


def test_queue_replies_before_announcements_fifo_within_priority():
    queue: SendQueue[str] = SendQueue()
    queue.push("announce 1", Priority.ANNOUNCE)
    queue.push("announce 2", Priority.ANNOUNCE)
    queue.push("reply 1", Priority.REPLY)
    queue.push("join", Priority.CONTROL)
    queue.push("reply 2", Priority.REPLY)
    assert queue.count(Priority.REPLY) == 2 and len(queue) == 5
    assert list(queue) == ["join", "reply 1", "reply 2", "announce 1", "announce 2"]
    assert [queue.pop() for _ in range(3)] == ["join", "reply 1", "reply 2"]
    priority, seq, item = queue.pop_entry()
    assert item == "announce 1"
    queue.push("reply 3", Priority.REPLY)
    queue.push_back(priority, seq, item)  # the rest of a multi-line announcement keeps its place
    assert queue.clear() == ["reply 3", "announce 1", "announce 2"]
    assert not queue


def test_summary_packs_as_many_as_fit():
    entries = [f"[Flatcar] stable 4152.2.{i} released 2025-03-{i + 1:02d}" for i in range(10)]
    line, count = summarise(entries, budget=200)
    assert len(line.encode()) <= 200
    assert 2 <= count < 10
    assert line.startswith(f"{count} queued announcements ({10 - count} more follow): ")
    assert line.endswith(entries[count - 1])
    line, count = summarise(entries, budget=2000)
    assert count == 10 and line.startswith("10 queued announcements: ")
    assert "; ".join(entries) in line


def test_summary_always_makes_progress():
    line, count = summarise(["x" * 500, "y"], budget=100)
    assert count == 1 and len(line.encode()) <= 100 and line.endswith("…")
    with pytest.raises(ValueError):
        summarise([], budget=100)


def test_summary_counts_multibyte_bytes():
    entries = ["é" * 40] * 5
    line, count = summarise(entries, budget=150)
    assert len(line.encode()) <= 150 and count == 1
