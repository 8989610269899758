"""The Atom document and the metrics helpers, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.fetched import DocumentUpdate, SourceFetch
from bot.web import metrics
from bot.web.feed import FeedEntry, _tag, atom

WHEN = datetime(2025, 3, 20, 12, 30, 5, tzinfo=UTC)


def _entry(n: int, **changes: object) -> FeedEntry:
    fields: dict[str, object] = {
        "id": _tag("example.org,2025", f"release:flatcar/stable/4152.2.{n}"),
        "title": f"[Flatcar] Stable 4152.2.{n} released",
        "text": "Flatcar stable 4152.2.2\n\nkernel 6.6.83 <b>&amp;</b>",
        "link": f"https://www.flatcar.org/releases#release-4152.2.{n}",
        "announced_at": WHEN,
        "kind": "release",
        "channel": "stable",
        "project": "Flatcar",
    }
    return FeedEntry(**(fields | changes))  # type: ignore[arg-type]


def _feed(*entries: FeedEntry) -> bytes:
    return atom(
        entries,
        feed_id="tag:example.org,2025:feed",
        title="Flatcar announcements",
        self_url="https://bot.example.org/feed.atom",
        home="https://bot.example.org/",
    )


def test_a_valid_atom_document_with_every_required_element() -> None:
    parsed = feedparser.parse(_feed(_entry(2), _entry(1)))
    assert not parsed.bozo and parsed.version == "atom10"
    assert parsed.feed.id == "tag:example.org,2025:feed" and parsed.feed.title == "Flatcar announcements"
    assert parsed.feed.updated == "2025-03-20T12:30:05Z" and parsed.feed.author == "release-bot"
    first = parsed.entries[0]
    assert first.id == "tag:example.org,2025:event:release:flatcar/stable/4152.2.2"
    assert first.title == "[Flatcar] Stable 4152.2.2 released"
    assert first.updated == first.published == "2025-03-20T12:30:05Z"
    assert first.link == "https://www.flatcar.org/releases#release-4152.2.2"
    assert first.summary == "Flatcar stable 4152.2.2\n\nkernel 6.6.83 <b>&amp;</b>"  # text, escaped in XML
    assert [t.term for t in first.tags] == ["release", "stable"]


def test_the_same_entries_give_the_same_bytes_and_an_empty_feed_is_valid() -> None:
    assert _feed(_entry(1)) == _feed(_entry(1))
    empty = feedparser.parse(_feed())
    assert not empty.bozo and empty.entries == [] and empty.feed.updated


def test_characters_xml_cannot_carry_are_dropped() -> None:
    parsed = feedparser.parse(_feed(_entry(1, title="a\x00b\x1bc\x07", text="x\x0cy")))
    assert not parsed.bozo
    assert parsed.entries[0].title == "abc" and parsed.entries[0].summary == "xy"


def test_tag_ids_quote_what_a_uri_cannot_hold() -> None:
    assert (
        _tag("example.org,2025", "roadmap:gh/flatcar#12 moved")
        == "tag:example.org,2025:event:roadmap:gh/flatcar%2312%20moved"
    )


def test_fetch_results_are_labelled_by_status_or_kind() -> None:
    assert metrics.fetch_result("source flatcar: releases-beta.json: HTTP 503 Service Unavailable") == "503"
    assert metrics.fetch_result("source flatcar: releases-beta.json: timed out after 30 s") == "timeout"
    assert metrics.fetch_result("cannot connect: Connection refused") == "connection"
    assert metrics.fetch_result("something else") == "error"


def _value(name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(generate_latest(metrics.REGISTRY).decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_counters_move_and_parse() -> None:
    before = _value("release_bot_fetches_total", source="unit", result="304")
    fetched = SourceFetch(
        updates=[
            DocumentUpdate("a", "http://x/a", None, None, None, changed=False),
            DocumentUpdate("b", "http://x/b", None, None, "h", changed=True),
        ],
        errors=["source unit: c: HTTP 404 Not Found"],
    )
    metrics.count_fetch("unit", fetched)
    assert _value("release_bot_fetches_total", source="unit", result="304") == before + 1
    assert _value("release_bot_fetches_total", source="unit", result="404") >= 1
    polls = _value("release_bot_polls_total", source="unit", result="failed")
    with metrics.time_poll("unit") as done:
        done(False)
    assert _value("release_bot_polls_total", source="unit", result="failed") == polls + 1
    assert _value("release_bot_poll_duration_seconds_count", source="unit") >= 1
    events = _value("release_bot_events_total", kind="promotion")
    metrics.count_events(["promotion", "release"])
    assert _value("release_bot_events_total", kind="promotion") == events + 1
    metrics.count_smtp_connection("lists")
    assert _value("release_bot_smtp_connections_total", output="lists") >= 1
