"""The health verdict: healthy, degraded or unusable, and why. Pure: data in, verdict out.

`release-bot status --check` prints it and exits with its code (0, 1, 2); a container HEALTHCHECK
calls that, and an HTTP /readyz can reuse `verdict` as it is.

Degraded (1) when
- a source has been failing for more than `failing_intervals` of its poll intervals (counted from its
  last success; a source that never succeeded: that many failed polls in a row),
- a source has not been polled for that long (the daemon is not running, or its loop hangs),
- a message has been queued longer than `queue_max` seconds,
- a message failed permanently (`release-bot retry` queues it again once the cause is fixed).
Unusable (2): no config, a config error, no state or a state that cannot be read (`unusable`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

__all__ = ["HealthLimits", "OutputHealth", "SourceHealth", "Verdict", "unusable", "verdict"]

State = Literal["healthy", "degraded", "unusable"]
_CODES: dict[State, int] = {"healthy": 0, "degraded": 1, "unusable": 2}


class PollStatus(Protocol):
    """What the store knows of a source's polls (`bot.store.SourceStatus` fits)."""

    @property
    def last_attempt_at(self) -> datetime | None: ...
    @property
    def last_success_at(self) -> datetime | None: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def error_streak(self) -> int: ...


@dataclass(frozen=True)
class HealthLimits:
    failing_intervals: int = 3
    queue_max: float = 3600.0


@dataclass(frozen=True)
class SourceHealth:
    name: str
    interval: float  # seconds
    status: PollStatus | None  # None: never polled


@dataclass(frozen=True)
class OutputHealth:
    name: str
    queued: int = 0
    oldest_queued_at: datetime | None = None
    failed: int = 0


@dataclass(frozen=True)
class Verdict:
    state: State
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def code(self) -> int:
        return _CODES[self.state]

    def as_dict(self) -> dict[str, object]:
        return {"state": self.state, "code": self.code, "reasons": list(self.reasons)}


def unusable(reason: str) -> Verdict:
    return Verdict("unusable", (reason,))


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _source_reason(source: SourceHealth, now: datetime, limits: HealthLimits) -> str | None:
    status = source.status
    allowed = limits.failing_intervals * source.interval
    if status is None or status.last_attempt_at is None:
        return None  # not polled yet: a fresh start is not a failure
    if status.error_streak > 0:
        if status.last_success_at is None:
            if status.error_streak > limits.failing_intervals:
                return (
                    f"source {source.name}: never fetched successfully, {status.error_streak} failures "
                    f"in a row; last error: {status.last_error or 'unknown'}"
                )
        else:
            failing = (now - status.last_success_at).total_seconds()
            if failing > allowed:
                return (
                    f"source {source.name}: failing for {_span(failing)} (more than "
                    f"{limits.failing_intervals} intervals of {_span(source.interval)}); "
                    f"last error: {status.last_error or 'unknown'}"
                )
    idle = (now - status.last_attempt_at).total_seconds()
    # a failing source is polled with backoff, less often than its interval: only the streak counts
    if status.error_streak == 0 and idle > allowed:
        return f"source {source.name}: not polled for {_span(idle)} (is the bot running?)"
    return None


def verdict(
    sources: Sequence[SourceHealth],
    outputs: Sequence[OutputHealth],
    *,
    now: datetime,
    limits: HealthLimits | None = None,
) -> Verdict:
    """Healthy, or degraded with every reason, from the stored poll and outbox state at `now`."""
    limits = limits or HealthLimits()
    reasons: list[str] = []
    for source in sources:
        reason = _source_reason(source, now, limits)
        if reason:
            reasons.append(reason)
    for output in outputs:
        if output.oldest_queued_at is not None:
            waiting = (now - output.oldest_queued_at).total_seconds()
            if waiting > limits.queue_max:
                reasons.append(
                    f"output {output.name}: {output.queued} message(s) queued, the oldest for "
                    f"{_span(waiting)} (limit {_span(limits.queue_max)})"
                )
        if output.failed:
            reasons.append(
                f"output {output.name}: {output.failed} message(s) failed permanently "
                f"(fix the cause, then `release-bot retry {output.name}`)"
            )
    return Verdict("degraded", tuple(reasons)) if reasons else Verdict("healthy")
