"""The health verdict (`bot.health`, pure) and `release-bot status --check` / `--json` over it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.health import HealthLimits, OutputHealth, SourceHealth, unusable, verdict

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Status:
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None = None
    error_streak: int = 0


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def test_healthy_when_polled_recently_and_nothing_waits() -> None:
    source = SourceHealth("flatcar", 900, Status(ago(5), ago(5)))
    result = verdict([source], [OutputHealth("mbox", queued=1, oldest_queued_at=ago(1))], now=NOW)
    assert (result.state, result.code, result.reasons) == ("healthy", 0, ())


def test_never_polled_is_not_a_failure() -> None:
    assert verdict([SourceHealth("flatcar", 900, None)], [], now=NOW).code == 0


def test_a_source_failing_for_more_than_n_intervals_is_degraded() -> None:
    limits = HealthLimits(failing_intervals=3)
    failing = Status(ago(1), ago(44), "connection refused", error_streak=4)
    assert (
        verdict([SourceHealth("flatcar", 900, failing)], [], now=NOW, limits=limits).code == 0
    )  # 44 < 45 min
    longer = Status(ago(1), ago(46), "connection refused", error_streak=5)
    result = verdict([SourceHealth("flatcar", 900, longer)], [], now=NOW, limits=limits)
    assert result.state == "degraded" and result.code == 1
    assert result.reasons == (
        "source flatcar: failing for 46 min (more than 3 intervals of 15 min); "
        "last error: connection refused",
    )


def test_a_source_that_never_succeeded_counts_its_failed_polls() -> None:
    limits = HealthLimits(failing_intervals=2)
    two = Status(ago(1), None, "HTTP 404", error_streak=2)
    three = Status(ago(1), None, "HTTP 404", error_streak=3)
    assert verdict([SourceHealth("s", 60, two)], [], now=NOW, limits=limits).code == 0
    result = verdict([SourceHealth("s", 60, three)], [], now=NOW, limits=limits)
    assert result.code == 1 and "never fetched successfully, 3 failures in a row" in result.reasons[0]


def test_a_source_not_polled_for_long_means_the_bot_is_not_running() -> None:
    stale = Status(ago(60), ago(60))
    result = verdict([SourceHealth("flatcar", 900, stale)], [], now=NOW)
    assert result.reasons == ("source flatcar: not polled for 1 h (is the bot running?)",)


def test_old_queued_and_permanently_failed_messages_are_degraded() -> None:
    outputs = [
        OutputHealth("irc", queued=3, oldest_queued_at=ago(61)),
        OutputHealth("list", failed=2),
        OutputHealth("mbox", queued=1, oldest_queued_at=ago(59)),
    ]
    result = verdict([], outputs, now=NOW, limits=HealthLimits(queue_max=3600))
    assert result.code == 1
    assert result.reasons == (
        "output irc: 3 message(s) queued, the oldest for 1 h (limit 1 h)",
        "output list: 2 message(s) failed permanently (fix the cause, then `release-bot retry list`)",
    )


def test_unusable() -> None:
    result = unusable("no state yet")
    assert result.code == 2 and result.as_dict() == {
        "state": "unusable",
        "code": 2,
        "reasons": ["no state yet"],
    }


# -- the CLI -----------------------------------------------------------------------------------------
