"""`bot.web.metrics` counts in plain dicts and exposes them through prometheus_client only when read:
the exposition must be what prometheus_client's own Counter, Histogram and Gauge give for the same
counts (names, types, help, labels, bucket bounds, values), counts made before the registry was first
read included."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot import __version__
from bot.fetched import DocumentUpdate, SourceFetch
from bot.web import metrics

SOURCE = "exposition-test"
#: the polls timed for real: their durations are not known in advance, so not compared with a reference
TIMED = "exposition-timed"


def _reference() -> tuple[CollectorRegistry, dict[str, Counter], Histogram]:
    """The metrics as prometheus_client's classes declared them before counting was made lazy."""
    registry = CollectorRegistry(auto_describe=True)
    declared: dict[str, Counter] = {}
    histogram = None
    for family in metrics._FAMILIES:
        if family.buckets:
            histogram = Histogram(
                family.name, family.help, list(family.labels), buckets=family.buckets, registry=registry
            )
        else:
            declared[family.name] = Counter(family.name, family.help, list(family.labels), registry=registry)
    Gauge(*metrics._BUILD_INFO, ["version"], registry=registry).labels(version=__version__).set(1)
    assert histogram is not None
    return registry, declared, histogram


def _parsed(registry: CollectorRegistry) -> dict[str, object]:
    """Each family's type, help and the samples that concern this test (`_created` by name only:
    its value is a timestamp)."""
    out: dict[str, object] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        samples = sorted(
            (s.name, tuple(sorted(s.labels.items())), None if s.name.endswith("_created") else s.value)
            for s in family.samples
            if family.name == "release_bot_build_info"
            or s.labels.get("source") == SOURCE
            or s.labels.get("output") == SOURCE
            or s.labels.get("kind") == SOURCE
        )
        out[family.name] = (family.type, family.documentation, samples)
    return out


def test_exposition_is_what_prometheus_client_metrics_give() -> None:
    reference, declared, histogram = _reference()
    fetched = SourceFetch(
        updates=[
            DocumentUpdate("a", "http://x/a", None, None, None, changed=False),
            DocumentUpdate("b", "http://x/b", None, None, "h", changed=True),
        ],
        errors=["source x: c: HTTP 404 Not Found", "source x: d: timed out after 30 s"],
    )
    metrics.count_fetch(SOURCE, fetched)
    declared["release_bot_fetches"].labels(SOURCE, "304").inc()
    declared["release_bot_fetches"].labels(SOURCE, "200").inc()
    declared["release_bot_fetches"].labels(SOURCE, "404").inc()
    declared["release_bot_fetches"].labels(SOURCE, "timeout").inc()
    for result in ("ok", "failed", "error"):
        metrics._inc(metrics.POLLS, SOURCE, result)
        declared["release_bot_polls"].labels(SOURCE, result).inc()
    # durations: on a bound, between bounds, past the last one, zero
    for seconds in (0.05, 0.3, 121.0, 0.0):
        metrics._observe(metrics.POLL_DURATION, seconds, SOURCE)
    for seconds in (0.05, 0.3, 121.0, 0.0):
        histogram.labels(SOURCE).observe(seconds)
    metrics.count_events([SOURCE, SOURCE])
    declared["release_bot_events"].labels(SOURCE).inc(2)
    metrics.count_delivery(SOURCE)
    metrics.count_delivery(SOURCE, cause="transient")
    metrics.count_smtp_connection(SOURCE)
    declared["release_bot_deliveries"].labels(SOURCE).inc()
    declared["release_bot_delivery_failures"].labels(SOURCE, "transient").inc()
    declared["release_bot_smtp_connections"].labels(SOURCE).inc()

    assert _parsed(metrics.REGISTRY) == _parsed(reference)


def _samples(name: str, **labels: str) -> dict[str, float]:
    """The samples of family `name` with `labels` (among others), by sample name and `le`."""
    out = {}
    for family in text_string_to_metric_families(generate_latest(metrics.REGISTRY).decode()):
        if family.name == name:
            for sample in family.samples:
                if labels.items() <= sample.labels.items():
                    out[sample.name + sample.labels.get("le", "")] = sample.value
    return out


def test_time_poll_counts_the_outcome_and_the_duration() -> None:
    for ok in (True, False, None):  # done(True), done(False), never told: "error"
        with metrics.time_poll(TIMED) as done:
            if ok is not None:
                done(ok)
    for result in ("ok", "failed", "error"):
        assert _samples("release_bot_polls", source=TIMED, result=result)["release_bot_polls_total"] == 1
    durations = _samples("release_bot_poll_duration_seconds", source=TIMED)
    assert durations["release_bot_poll_duration_seconds_count"] == 3
    assert durations["release_bot_poll_duration_seconds_bucket+Inf"] == 3
    assert 0 <= durations["release_bot_poll_duration_seconds_sum"] < 60


def test_registry_is_made_once_and_keeps_counting() -> None:
    first = metrics.registry()
    assert metrics.REGISTRY is first is metrics.registry()

    def delivered() -> float:
        for family in text_string_to_metric_families(generate_latest(first).decode()):
            for sample in family.samples:
                if sample.name == "release_bot_deliveries_total" and sample.labels == {"output": "later"}:
                    return sample.value
        return 0.0

    before = delivered()
    metrics.count_delivery("later")
    metrics.count_delivery("later")
    assert delivered() == before + 2
