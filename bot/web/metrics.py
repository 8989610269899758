"""Prometheus metrics: the counters the impure layers (app, delivery, sinks) increment, in one
registry of this module; what the stored state and the live sinks say is read at scrape time by
`bot.web.collector.StateCollector`. The pure core never imports this.

Names follow the Prometheus conventions: `release_bot_` prefix, `_total` counters, `_seconds`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot import __version__

if TYPE_CHECKING:
    from bot.fetched import SourceFetch

__all__ = [
    "REGISTRY",
    "count_delivery",
    "count_events",
    "count_fetch",
    "count_smtp_connection",
    "fetch_result",
    "time_poll",
]

#: The counters of this process (one per process, like the bot's log)
REGISTRY = CollectorRegistry(auto_describe=True)

POLLS = Counter(
    "release_bot_polls",
    "Polls of a source, by result (ok, failed, error)",
    ["source", "result"],
    registry=REGISTRY,
)
POLL_DURATION = Histogram(
    "release_bot_poll_duration_seconds",
    "How long one poll of a source took: fetch, detection, recording",
    ["source"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
FETCHES = Counter(
    "release_bot_fetches",
    "Documents fetched, by result: 200 (new body), 304 (unchanged), or the error (HTTP status, timeout, …)",
    ["source", "result"],
    registry=REGISTRY,
)
EVENTS = Counter(
    "release_bot_events", "Events recorded for announcement, by kind", ["kind"], registry=REGISTRY
)
DELIVERIES = Counter(
    "release_bot_deliveries", "Messages delivered, per output", ["output"], registry=REGISTRY
)
DELIVERY_FAILURES = Counter(
    "release_bot_delivery_failures",
    "Failed delivery attempts, per output and cause (transient, permanent, interrupted)",
    ["output", "cause"],
    registry=REGISTRY,
)
SMTP_CONNECTIONS = Counter(
    "release_bot_smtp_connections",
    "Connections opened to a mail server, per output",
    ["output"],
    registry=REGISTRY,
)
BUILD_INFO = Gauge(
    "release_bot_build_info", "The running release-bot version (always 1)", ["version"], registry=REGISTRY
)
BUILD_INFO.labels(version=__version__).set(1)

#: the label children asked for so far: `.labels()` builds and checks its key on every call (~0.1 ms
#: per poll with a few of them); a dict lookup does not. Bounded by sources × results.
_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


def _child(metric: Counter | Histogram, *values: str) -> Any:
    key = (id(metric), values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return child


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
        _child(POLL_DURATION, source).observe(time.perf_counter() - start)
        _child(POLLS, source, outcome[0]).inc()


def count_fetch(source: str, fetched: SourceFetch) -> None:
    for update in fetched.updates:
        _child(FETCHES, source, "200" if update.changed else "304").inc()
    for error in fetched.errors:
        _child(FETCHES, source, fetch_result(error)).inc()


def count_events(kinds: Iterable[str]) -> None:
    for kind in kinds:
        _child(EVENTS, kind).inc()


def count_delivery(output: str, *, cause: str | None = None) -> None:
    """A delivered message (`cause` None) or a failed attempt and why."""
    if cause is None:
        _child(DELIVERIES, output).inc()
    else:
        _child(DELIVERY_FAILURES, output, cause).inc()


def count_smtp_connection(output: str) -> None:
    _child(SMTP_CONNECTIONS, output).inc()
