"""Roadmap sources: GitHub Projects v2 (GraphQL) and labelled issues (REST) replayed from a local HTTP
server with hand-written answers in GitHub's shapes (tests/data/github/), a feed as a roadmap; roadmap
events across two snapshots; pagination, 304, rate limits and error answers."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ParseError, RateLimitError
from bot.model import DeprecationEvent, RoadmapEvent
from bot.roadmap import RoadmapDocument, detect_roadmap
from bot.sources.github import next_link, parse_issues, parse_project_page
from bot.store import PollRecord, Store
from tests.helpers import DATA

GITHUB = DATA / "github"
TOKEN_ENV = "RELEASE_BOT_TEST_GITHUB_TOKEN"
BASELINE = datetime(2026, 8, 1, tzinfo=UTC)
LATER = datetime(2026, 8, 15, tzinfo=UTC)


def data(name: str) -> bytes:
    return (GITHUB / name).read_bytes()


# -- a GitHub stand-in -----------------------------------------------------------------------------


# -- parsing (pure) --------------------------------------------------------------------------------


def test_parse_issues_page() -> None:
    items = parse_issues(data("issues-1.json"), source="s", project="Flatcar", repo="flatcar/Flatcar")
    assert [i.id for i in items] == ["flatcar/Flatcar#2101", "flatcar/Flatcar#2098", "flatcar/Flatcar#2050"]
    deprecate = items[1]
    assert deprecate.labels == ("kind/roadmap", "kind/deprecation")
    assert deprecate.state == "open" and deprecate.status == "" and deprecate.stage == "open"
    assert deprecate.url == "https://github.com/flatcar/Flatcar/issues/2098"
    assert deprecate.created == datetime(2026, 4, 10, 8, 0, tzinfo=UTC)
    (closed, _) = parse_issues(data("issues-2.json"), source="s", project="F", repo="flatcar/Flatcar")
    assert closed.state == "closed" and closed.stage == "closed"
    with pytest.raises(ParseError, match="Bad credentials"):
        parse_issues(data("rest-bad-credentials.json"), source="s", project="F", repo="r/r")


def test_next_link() -> None:
    header = '<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last"'
    assert next_link(header) == "https://api.github.com/x?page=2"
    assert next_link('<https://api.github.com/x?page=1>; rel="prev"') is None
    assert next_link(None) is None


def test_parse_project_pages() -> None:
    items, cursor = parse_project_page(data("project-1.json"), source="b", project="Flatcar")
    assert cursor == "Mw"
    assert [(i.id, i.status, i.kind) for i in items] == [
        ("flatcar/Flatcar#2101", "In progress", "issue"),
        ("flatcar/Flatcar#2050", "Planned", "issue"),
        ("PVTI_lADOBx1Rgs4AAAAHzgAAAAM", "Backlog", "draft"),
    ]
    items, cursor = parse_project_page(data("project-2.json"), source="b", project="Flatcar")
    assert cursor is None
    assert [(i.id, i.state, i.kind) for i in items] == [  # the archived item is left out
        ("flatcar/Flatcar#1990", "closed", "issue"),
        ("flatcar/scripts#3001", "open", "pull_request"),
    ]
    merged = parse_project_page(data("project-later-2.json"), source="b", project="F")[0][1]
    assert merged.id == "flatcar/scripts#3001" and merged.state == "closed"


def test_parse_graphql_errors() -> None:
    with pytest.raises(
        ParseError, match="Could not resolve to an Organization with the login of 'flatcar-nope'"
    ):
        parse_project_page(data("graphql-not-found.json"), source="b", project="F")
    with pytest.raises(RateLimitError) as info:
        parse_project_page(
            data("graphql-rate-limited.json"),
            source="b",
            project="F",
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 120)},
        )
    assert 100 < info.value.retry_after <= 120
    with pytest.raises(ParseError, match="expected JSON, got an HTML"):
        parse_project_page(b"<!DOCTYPE html><html>", source="b", project="F")


def test_a_partial_graphql_answer_leaves_out_only_the_unreadable_item(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """GitHub answers a board page with an item of a repository the token cannot read as `content: null`
    plus a FORBIDDEN error whose path points at that item: the rest of the board is read, not failed."""
    with caplog.at_level(logging.INFO, logger="release-bot"):
        items, cursor = parse_project_page(data("graphql-partial.json"), source="b", project="Flatcar")
    assert cursor is None
    assert [i.id for i in items] == ["flatcar/Flatcar#1990", "flatcar/scripts#3001"]
    assert any("1 board item(s) left out" in r.getMessage() for r in caplog.records)
    whole = json.loads(data("graphql-partial.json"))
    whole["errors"][0]["path"] = ["organization", "projectV2"]  # about the board itself: an error
    with pytest.raises(ParseError, match="Resource not accessible"):
        parse_project_page(json.dumps(whole).encode(), source="b", project="F")


# -- detection across two snapshots (pure) ----------------------------------------------------------


def board(name: str, *pages: str) -> RoadmapDocument:
    items = []
    for page in pages:
        items += parse_project_page(data(page), source="board", project="Flatcar")[0]
    return RoadmapDocument(name, tuple(items), complete=True)


def test_roadmap_events_across_two_snapshots() -> None:
    first = board("project", "project-1.json", "project-2.json")
    baseline = detect_roadmap(
        [first], {}, baselined_documents={}, statuses=("Planned", "In progress", "Done")
    )
    assert baseline.events == () and baseline.baselined == ("project",)
    known = {i.id: i for i in baseline.items}
    later = board("project", "project-later-1.json", "project-later-2.json")
    result = detect_roadmap(
        [later],
        known,
        baselined_documents={"project": BASELINE},
        statuses=("Planned", "In progress", "Done"),
        every_document=["project"],
    )
    summary = [
        (e.change, e.item.id, e.previous_status, e.item.stage)
        for e in result.events
        if isinstance(e, RoadmapEvent)
    ]
    assert len(summary) == len(result.events)
    assert summary == [
        ("status", "PVTI_lADOBx1Rgs4AAAAHzgAAAAM", "Backlog", "Planned"),  # the draft
        ("status", "flatcar/Flatcar#2050", "Planned", "In progress"),
        ("new", "flatcar/Flatcar#2131", None, "Planned"),  # #2130 is new too, but in "Backlog"
        ("status", "flatcar/Flatcar#2101", "In progress", "Done"),
        ("closed", "flatcar/scripts#3001", "In progress", "closed"),  # merged
    ]
    assert [e.key for e in result.events][:2] == [
        "roadmap:Flatcar/PVTI_lADOBx1Rgs4AAAAHzgAAAAM/planned",
        "roadmap:Flatcar/flatcar/Flatcar#2050/in-progress",
    ]
    assert result.absent == ()  # every item of the first snapshot is still listed
    again = detect_roadmap(
        [later], {i.id: i for i in result.items}, baselined_documents={"project": BASELINE}
    )
    assert again.events == ()  # the same listing again: nothing


def test_roadmap_absent_items_and_incomplete_listings() -> None:
    first = board("project", "project-1.json", "project-2.json")
    known = {i.id: i for i in first.items}
    only_page_one = board("project", "project-later-1.json")
    complete = detect_roadmap(
        [only_page_one], known, baselined_documents={"project": BASELINE}, every_document=["project"]
    )
    assert complete.absent == ("flatcar/Flatcar#1990", "flatcar/scripts#3001")
    partial = RoadmapDocument("project", only_page_one.items, complete=False)
    incomplete = detect_roadmap(
        [partial], known, baselined_documents={"project": BASELINE}, every_document=["project"]
    )
    assert incomplete.absent == ()  # a listing cut short (max_pages, a rate limit) proves nothing


def test_issue_items_created_before_the_baseline_are_silent_and_labels_make_notices() -> None:
    first = [
        RoadmapDocument(
            "issues",
            tuple(
                parse_issues(data(f"issues-{n}.json"), source="i", project="Flatcar", repo="flatcar/Flatcar")
            ),
            True,
        )
        for n in (1, 2)
    ]
    baseline = detect_roadmap(first, {}, baselined_documents={}, deprecation_labels=("kind/deprecation",))
    assert baseline.events == ()
    assert [n.id for n in baseline.notices] == ["flatcar/Flatcar#2098"]  # recorded silently
    later_items: list[Any] = []
    for n in (1, 2, 3):
        later_items += parse_issues(
            data(f"issues-later-{n}.json"), source="i", project="Flatcar", repo="flatcar/Flatcar"
        )
    result = detect_roadmap(
        [RoadmapDocument("issues", tuple(later_items), True)],
        {i.id: i for i in baseline.items},
        baselined_documents={"issues": BASELINE},
        known_notices={n.id for n in baseline.notices},
        deprecation_labels=("kind/deprecation",),
    )
    kinds = [(type(e).__name__, e.key) for e in result.events]
    assert kinds == [
        ("DeprecationEvent", "deprecation:i/flatcar/Flatcar#1700/roadmap"),  # an old issue, newly labelled
        ("RoadmapEvent", "roadmap:Flatcar/flatcar/Flatcar#2130/open"),
        ("RoadmapEvent", "roadmap:Flatcar/flatcar/Flatcar#2050/closed"),
    ]  # #1700 itself is not "new": it was opened before the baseline


# -- over HTTP: the whole pipeline ------------------------------------------------------------------


# -- rate limits and errors -------------------------------------------------------------------------


# -- a feed as a roadmap ----------------------------------------------------------------------------


def test_event_kinds_round_trip_through_the_store(tmp_path: Path) -> None:
    from bot.messages import sample_plan_events
    from bot.store import OutboxMessage

    events = sample_plan_events()
    with Store(tmp_path / "s.sqlite3") as store:
        ids = store.commit_poll(
            PollRecord(
                "sample",
                now=LATER,
                documents=[],
                new_releases=[],
                events=[(e, [OutboxMessage("o", f"<{i}@x>", {})]) for i, e in enumerate(events)],
                notices=[e.notice for e in events if isinstance(e, DeprecationEvent)][:1],
                reaches=[e.reach for e in events if isinstance(e, DeprecationEvent)][:2],
                roadmap_items=[e.item for e in events if isinstance(e, RoadmapEvent)][:1],
            )
        )
        assert len(ids) == 5  # the status and new events of the item share a key: "in-progress"
        assert [e for _, e in store.events()] == events[:4] + events[5:]
        notice_event, item_event = events[0], events[3]
        assert isinstance(notice_event, DeprecationEvent) and isinstance(item_event, RoadmapEvent)
        assert store.notices()[0] == notice_event.notice
        assert [r.channel for r in store.reaches()] == ["alpha", "beta"]
        assert store.roadmap_items() == [item_event.item]


def test_an_item_seen_by_two_sources_has_one_event_key() -> None:
    """A board and an issue listing of the same project both report #2050 closed: announced once (the
    store keeps one event per key)."""
    from bot.model import RoadmapEvent, RoadmapItem

    def closed(source: str) -> RoadmapEvent:
        item = RoadmapItem(
            source=source, project="Flatcar", id="flatcar/Flatcar#2050", title="t", state="closed"
        )
        return RoadmapEvent(change="closed", item=item)

    assert closed("board").key == closed("issues").key == "roadmap:Flatcar/flatcar/Flatcar#2050/closed"
