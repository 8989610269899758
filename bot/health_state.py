"""The health verdict of a stored state under a config: what `release-bot status --check` prints and
the HTTP server's /readyz answers. Reads the store; the verdict itself is `bot.health.verdict`."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import Config
from bot.health import HealthLimits, OutputHealth, SourceHealth, Verdict, verdict
from bot.store import StateStore

__all__ = ["health", "limits", "outbox_totals", "output_health"]

#: "no queued message" for `StateStore.pending`: every queued message is due by then
_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)


def outbox_totals(store: StateStore, output: str) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """(totals by state, {sink: counts}) of one output (an IRC output has a sink per channel)."""
    sinks = store.outbox_groups().get(output, {})
    totals = {s: sum(c.get(s, 0) for c in sinks.values()) for s in ("queued", "delivered", "failed")}
    return totals, sinks


def output_health(config: Config, store: StateStore) -> list[OutputHealth]:
    out = []
    for output in config.outputs:
        totals, sinks = outbox_totals(store, output.name)
        oldest = [
            item.created_at for name in sinks for item in store.pending(name, now=_END_OF_TIME, limit=1)
        ]
        out.append(
            OutputHealth(
                output.name,
                queued=totals["queued"],
                oldest_queued_at=min(oldest) if oldest else None,
                failed=totals["failed"],
            )
        )
    return out


def limits(config: Config) -> HealthLimits:
    return HealthLimits(failing_intervals=config.health_failing_intervals, queue_max=config.health_queue_max)


def health(config: Config, store: StateStore, *, now: datetime | None = None) -> Verdict:
    """The health verdict of the stored state under `config`'s limits."""
    sources = [SourceHealth(s.name, s.interval, store.source_status(s.name)) for s in config.sources]
    return verdict(sources, output_health(config, store), now=now or datetime.now(UTC), limits=limits(config))
