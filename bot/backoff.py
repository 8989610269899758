"""One backoff rule for every retry: exponential from `initial`, capped at `cap`, with jitter.

Used by source polls after failures and by the outbox (mail, IRC) after a failed delivery. Pure: the
random source is injectable, so a test can pin the jitter.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Streaks", "Uniform", "backoff"]

#: `uniform(low, high)`: a random float in [low, high] (random.uniform's signature).
Uniform = Callable[[float, float], float]


def backoff(
    attempt: int,
    *,
    initial: float,
    cap: float,
    jitter: float = 0.2,
    uniform: Uniform = random.uniform,
) -> float:
    """Seconds to wait before retry number `attempt` (1 = the first retry).

    `initial * 2 ** (attempt - 1)`, capped at `cap`, then multiplied by a factor drawn from
    `[1 - jitter, 1 + jitter]` and capped again (so the cap always holds). `jitter=0` is exact.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be at least 1, got {attempt!r}")
    if initial < 0 or cap < 0:
        raise ValueError(f"initial and cap must not be negative, got {initial!r}, {cap!r}")
    if not 0 <= jitter < 1:
        raise ValueError(f"jitter must be in [0, 1), got {jitter!r}")
    base = min(initial * 2.0 ** min(attempt - 1, 62), cap)
    if jitter:
        base *= uniform(1.0 - jitter, 1.0 + jitter)
    return min(base, cap)


class Streaks:
    """Consecutive failures per name (a source), and the backoff they earn."""

    def __init__(
        self, *, initial: float, cap: float, jitter: float = 0.2, uniform: Uniform = random.uniform
    ) -> None:
        self.initial = initial
        self.cap = cap
        self.jitter = jitter
        self.uniform = uniform
        self._streaks: dict[str, int] = {}

    def __getitem__(self, name: str) -> int:
        return self._streaks.get(name, 0)

    def failed(self, name: str) -> int:
        """Count a failure; the streak's new length."""
        self._streaks[name] = self._streaks.get(name, 0) + 1
        return self._streaks[name]

    def succeeded(self, name: str) -> int:
        """End the streak; how long it was."""
        return self._streaks.pop(name, 0)

    def delay(self, name: str, *, otherwise: float) -> float:
        """The backoff after the current streak; `otherwise` when there is none."""
        streak = self._streaks.get(name, 0)
        if streak == 0:
            return otherwise
        return backoff(streak, initial=self.initial, cap=self.cap, jitter=self.jitter, uniform=self.uniform)
