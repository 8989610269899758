"""What one bot's stored state and live sinks say, as Prometheus metrics read at each scrape (the
counters the code increments are in `bot.web.metrics`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.web.views import output_views

if TYPE_CHECKING:
    from bot.app import Bot

__all__ = ["StateCollector"]


def _seconds(when: datetime | None) -> float | None:
    return when.timestamp() if when is not None else None


class StateCollector(Collector):
    """What one bot's state and live sinks say, read at each scrape: queue depth and oldest age per
    output, last success per source, IRC connection state and lines sent."""

    def __init__(self, bot: Bot, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.bot = bot
        self.clock = clock

    def collect(self) -> Iterable[Metric]:
        bot = self.bot
        now = self.clock()
        depth = GaugeMetricFamily(
            "release_bot_outbox_queued", "Messages queued, per output", labels=["output"]
        )
        age = GaugeMetricFamily(
            "release_bot_outbox_oldest_age_seconds",
            "Age of the oldest queued message, per output (0 when none is queued)",
            labels=["output"],
        )
        failed = GaugeMetricFamily(
            "release_bot_outbox_failed", "Messages that failed permanently, per output", labels=["output"]
        )
        for view in output_views(bot.config, bot.store):
            depth.add_metric([view.name], view.queued)
            oldest = view.oldest_queued_at
            age.add_metric([view.name], max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
            failed.add_metric([view.name], view.failed)
        success = GaugeMetricFamily(
            "release_bot_source_last_success_timestamp_seconds",
            "When the source was last fetched successfully (Unix time)",
            labels=["source"],
        )
        streak = GaugeMetricFamily(
            "release_bot_source_error_streak", "Failed polls in a row, per source", labels=["source"]
        )
        for source in bot.config.sources:
            status = bot.store.source_status(source.name)
            stamp = _seconds(status.last_success_at) if status else None
            if stamp is not None:
                success.add_metric([source.name], stamp)
            streak.add_metric([source.name], status.error_streak if status else 0)
        yield from (depth, age, failed, success, streak)
        yield from self._irc()

    def _irc(self) -> Iterator[Metric]:
        connected = GaugeMetricFamily(
            "release_bot_irc_connected",
            "1 when connected and registered to the IRC network",
            labels=["output"],
        )
        lines = CounterMetricFamily(
            "release_bot_irc_lines_sent", "Lines sent to the IRC server", labels=["output"]
        )
        seen: set[str] = set()
        for sink in self.bot.sinks:
            network: Any = getattr(sink, "network", None)
            if sink.kind != "irc" or network is None or sink.group in seen:
                continue
            seen.add(sink.group)
            client = network.client
            is_up = client is not None and client.session is not None and bool(client.connected)
            connected.add_metric([sink.group], 1.0 if is_up else 0.0)
            lines.add_metric([sink.group], float(client.outgoing.lines_sent) if client is not None else 0.0)
        yield connected
        yield lines
