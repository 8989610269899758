"""Prometheus metrics: the counters the impure layers (app, delivery, sinks) increment, in one
registry of this module; what the stored state and the live sinks say is read at scrape time by
`bot.web.collector.StateCollector`. The pure core never imports this.

Names follow the Prometheus conventions: `release_bot_` prefix, `_total` counters, `_seconds`.

The counts are kept here in plain dicts (under a lock: the planning thread and the event loop both
count); `prometheus_client` is imported only when the registry is first read (`REGISTRY`, by
`/metrics` or a test), which then exposes every count made since the process started. A `once` or a
`run` without `[http_server]` never imports it. The exposition is what `prometheus_client`'s own
`Counter`, `Histogram` and `Gauge` give for the same counts (`_total`, `_bucket`/`_count`/`_sum`,
`_created` unless `PROMETHEUS_DISABLE_CREATED_SERIES` says not to).
"""

from __future__ import annotations

import re
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from bot import __version__

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from bot.fetched import SourceFetch

    #: The counters of this process (one per process, like the bot's log), as a Prometheus registry:
    #: made when first read (module `__getattr__`)
    REGISTRY: CollectorRegistry

__all__ = [
    "REGISTRY",
    "count_delivery",
    "count_events",
    "count_fetch",
    "count_smtp_connection",
    "fetch_result",
    "registry",
    "time_poll",
]


class _Family:
    """A counter, or a histogram when it has `buckets` (upper bounds; +Inf is implied)."""

    __slots__ = ("buckets", "help", "labels", "name")

    def __init__(
        self, name: str, help: str, labels: tuple[str, ...], buckets: tuple[float, ...] = ()
    ) -> None:
        self.name = name
        self.help = help
        self.labels = labels
        self.buckets = buckets


class _Series:
    """One label set's values: a counter's total, or a histogram's per-bucket counts and sum."""

    __slots__ = ("counts", "created", "value")

    def __init__(self, buckets: int) -> None:
        self.value = 0.0  # a counter's total; a histogram's sum
        self.counts = [0] * (buckets + 1) if buckets else []  # not cumulative; the last is +Inf
        self.created = time.time()


POLLS = _Family("release_bot_polls", "Polls of a source, by result (ok, failed, error)", ("source", "result"))
POLL_DURATION = _Family(
    "release_bot_poll_duration_seconds",
    "How long one poll of a source took: fetch, detection, recording",
    ("source",),
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
FETCHES = _Family(
    "release_bot_fetches",
    "Documents fetched, by result: 200 (new body), 304 (unchanged), or the error (HTTP status, timeout, …)",
    ("source", "result"),
)
EVENTS = _Family("release_bot_events", "Events recorded for announcement, by kind", ("kind",))
DELIVERIES = _Family("release_bot_deliveries", "Messages delivered, per output", ("output",))
DELIVERY_FAILURES = _Family(
    "release_bot_delivery_failures",
    "Failed delivery attempts, per output and cause (transient, permanent, interrupted)",
    ("output", "cause"),
)
SMTP_CONNECTIONS = _Family(
    "release_bot_smtp_connections", "Connections opened to a mail server, per output", ("output",)
)
#: in the order they are exposed
_FAMILIES = (POLLS, POLL_DURATION, FETCHES, EVENTS, DELIVERIES, DELIVERY_FAILURES, SMTP_CONNECTIONS)
_BUILD_INFO = ("release_bot_build_info", "The running release-bot version (always 1)")

_LOCK = threading.Lock()
#: (family name, label values) -> its values, in the order first counted; bounded by sources × results
_SERIES: dict[tuple[str, tuple[str, ...]], _Series] = {}


def _series(family: _Family, values: tuple[str, ...]) -> _Series:
    """The series of `values` (the caller holds `_LOCK`)."""
    key = (family.name, values)
    series = _SERIES.get(key)
    if series is None:
        series = _SERIES[key] = _Series(len(family.buckets))
    return series


def _inc(family: _Family, *values: str) -> None:
    with _LOCK:
        _series(family, values).value += 1


def _observe(family: _Family, value: float, *values: str) -> None:
    with _LOCK:
        series = _series(family, values)
        series.value += value
        series.counts[bisect_left(family.buckets, value)] += 1  # the first bound ≥ value, else +Inf


_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")


def fetch_result(error: str) -> str:
    """The `result` label of a failed fetch: the HTTP status, or the kind of failure."""
    match = _HTTP_STATUS.search(error)
    if match:
        return match[1]
    lowered = error.lower()
    for needle, label in (
        ("timed out", "timeout"),
        ("timeout", "timeout"),
        ("too large", "too_large"),
        ("refused", "connection"),
        ("connect", "connection"),
        ("resolve", "dns"),
        ("name or service", "dns"),
        ("tls", "tls"),
        ("ssl", "tls"),
        ("certificate", "tls"),
        ("pars", "parse"),
        ("invalid", "parse"),
        ("rate limit", "rate_limited"),
    ):
        if needle in lowered:
            return label
    return "error"


@contextmanager
def time_poll(source: str) -> Iterator[Callable[[bool], None]]:
    """Times one poll; call the yielded function with whether it succeeded (else it counts as error)."""
    outcome = ["error"]

    def done(ok: bool) -> None:
        outcome[0] = "ok" if ok else "failed"

    start = time.perf_counter()
    try:
        yield done
    finally:
        _observe(POLL_DURATION, time.perf_counter() - start, source)
        _inc(POLLS, source, outcome[0])


def count_fetch(source: str, fetched: SourceFetch) -> None:
    for update in fetched.updates:
        _inc(FETCHES, source, "200" if update.changed else "304")
    for error in fetched.errors:
        _inc(FETCHES, source, fetch_result(error))


def count_events(kinds: Iterable[str]) -> None:
    for kind in kinds:
        _inc(EVENTS, kind)


def count_delivery(output: str, *, cause: str | None = None) -> None:
    """A delivered message (`cause` None) or a failed attempt and why."""
    if cause is None:
        _inc(DELIVERIES, output)
    else:
        _inc(DELIVERY_FAILURES, output, cause)


def count_smtp_connection(output: str) -> None:
    _inc(SMTP_CONNECTIONS, output)


# -- exposition (prometheus_client, imported when the registry is first read) ------------------------


def _families() -> Iterator[Metric]:
    """The counts as Prometheus metric families, as `Counter`/`Histogram`/`Gauge` would expose them."""
    import prometheus_client.metrics
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
    from prometheus_client.samples import Sample

    with _LOCK:
        taken = [(name, values, s.value, list(s.counts), s.created) for (name, values), s in _SERIES.items()]
    created = getattr(prometheus_client.metrics, "_use_created", True)  # PROMETHEUS_DISABLE_CREATED_SERIES
    for family in _FAMILIES:
        rows = [row for row in taken if row[0] == family.name]
        metric: CounterMetricFamily | HistogramMetricFamily
        if family.buckets:
            metric = HistogramMetricFamily(family.name, family.help, labels=family.labels)
            bounds = [repr(float(b)) for b in family.buckets] + ["+Inf"]  # as prometheus_client writes `le`
            for _, values, total, counts, since in rows:
                cumulative, buckets = 0, []
                for bound, count in zip(bounds, counts, strict=True):
                    cumulative += count
                    buckets.append((bound, float(cumulative)))
                metric.add_metric(list(values), buckets, total)
                if created:
                    labels = dict(zip(family.labels, values, strict=True))
                    metric.samples.append(Sample(f"{family.name}_created", labels, since))
        else:
            metric = CounterMetricFamily(family.name, family.help, labels=family.labels)
            for _, values, total, _, since in rows:
                metric.add_metric(list(values), total, created=since if created else None)
        yield metric
    info = GaugeMetricFamily(*_BUILD_INFO, labels=["version"])
    info.add_metric([__version__], 1)
    yield info


_REGISTRY: list[CollectorRegistry] = []
_REGISTRY_LOCK = threading.Lock()  # not `_LOCK`: registering collects once (auto_describe), which takes it


def registry() -> CollectorRegistry:
    """This process's counters as a Prometheus registry (made, and prometheus_client imported, on
    first call; later calls give the same one)."""
    with _REGISTRY_LOCK:
        if not _REGISTRY:
            from prometheus_client import CollectorRegistry
            from prometheus_client.registry import Collector

            class Counts(Collector):
                def collect(self) -> Iterable[Metric]:
                    return _families()

            made = CollectorRegistry(auto_describe=True)
            made.register(Counts())
            _REGISTRY.append(made)
        return _REGISTRY[0]


def __getattr__(name: str) -> object:
    if name == "REGISTRY":
        return registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
