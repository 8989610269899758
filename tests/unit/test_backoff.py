"""The one backoff rule, the outbox retry policy and source failure streaks: pure, random pinned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.backoff import Streaks, backoff
from bot.delivery import Retry, RetryPolicy

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)


def test_backoff_doubles_from_initial_up_to_the_cap() -> None:
    delays = [backoff(n, initial=30, cap=3600, jitter=0) for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff(10_000, initial=30, cap=3600, jitter=0) == 3600  # no overflow on a long streak


def test_backoff_jitter_uses_the_injected_random_and_keeps_the_cap() -> None:
    asked: list[tuple[float, float]] = []

    def high(low: float, top: float) -> float:
        asked.append((low, top))
        return top

    assert backoff(2, initial=10, cap=100, jitter=0.2, uniform=high) == pytest.approx(24.0)
    assert asked == [(0.8, 1.2)]
    assert backoff(9, initial=10, cap=100, jitter=0.2, uniform=high) == 100  # jitter never exceeds the cap
    assert backoff(9, initial=10, cap=100, jitter=0.2, uniform=lambda lo, hi: lo) == pytest.approx(80.0)


@pytest.mark.parametrize(
    ("attempt", "initial", "cap", "jitter"),
    [(0, 1, 1, 0), (1, -1, 1, 0), (1, 1, -1, 0), (1, 1, 1, 1.0), (1, 1, 1, -0.1)],
)
def test_backoff_refuses_nonsense(attempt: int, initial: float, cap: float, jitter: float) -> None:
    with pytest.raises(ValueError):
        backoff(attempt, initial=initial, cap=cap, jitter=jitter)


def test_retry_policy_gives_up_on_permanent_failures_first() -> None:
    policy = RetryPolicy(jitter=0)
    assert policy.after_failure(permanent=True, sink_ready=False, attempts=0, now=NOW) == Retry("give_up")
    assert policy.after_failure(permanent=True, sink_ready=True, attempts=3, now=NOW) == Retry("give_up")


def test_retry_policy_leaves_a_message_queued_when_the_sink_went_down() -> None:
    policy = RetryPolicy(jitter=0)
    assert policy.after_failure(permanent=False, sink_ready=False, attempts=5, now=NOW) == Retry(
        "interrupted"
    )


def test_retry_policy_backs_off_per_attempt() -> None:
    policy = RetryPolicy(initial=30, cap=3600, jitter=0)
    at = [
        policy.after_failure(permanent=False, sink_ready=True, attempts=n, now=NOW).at for n in (0, 1, 2, 20)
    ]
    assert at == [NOW + timedelta(seconds=s) for s in (30, 60, 120, 3600)]
    jittered = RetryPolicy(initial=30, cap=3600, jitter=0.5, uniform=lambda lo, hi: lo)
    assert jittered.after_failure(permanent=False, sink_ready=True, attempts=0, now=NOW) == Retry(
        "later", NOW + timedelta(seconds=15)
    )


def test_streaks_count_failures_and_earn_backoff() -> None:
    streaks = Streaks(initial=60, cap=600, jitter=0)
    assert streaks.delay("a", otherwise=900) == 900  # no failure: the interval
    assert [streaks.failed("a") for _ in range(3)] == [1, 2, 3]
    assert streaks["a"] == 3 and streaks["b"] == 0
    assert streaks.delay("a", otherwise=900) == 240
    assert streaks.succeeded("a") == 3
    assert streaks.succeeded("a") == 0 and streaks.delay("a", otherwise=900) == 900
