"""The source registry and the pure poll pipeline (`plan_poll`), without a network or a database;
and `record` writing a plan (success and failure) through the store's one poll transaction."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import SOURCE_KINDS, Config, load_config
from bot.errors import RenderError
from bot.fetched import DocumentUpdate, ReleaseFetch, RoadmapFetch
from bot.model import AnyEvent, DeprecationEvent, Event, RoadmapItem
from bot.pipeline import Known, PollPlan, PollResult, plan_poll
from bot.recording import load_known, record
from bot.roadmap import RoadmapDocument
from bot.sources import KINDS, kind_of
from bot.sources.flatcar import parse_releases_json
from bot.store import OutboxMessage, Store
from tests.helpers import SNAPSHOTS, history_bytes

NOW = datetime(2025, 3, 20, tzinfo=UTC)
CHANNELS = ("alpha", "beta", "stable", "lts")


def write_config(tmp_path: Path) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent("""
        [bot]
        state = "state.sqlite3"

        [[sources]]
        name = "flatcar"
        kind = "flatcar"
        base_url = "http://127.0.0.1:1/flatcar/"
        channels = ["alpha", "beta", "stable", "lts"]
        lts_streams = ["lts-2023"]

        [[sources]]
        name = "ignition"
        kind = "feed"
        project = "Ignition"
        url = "http://127.0.0.1:1/ignition.atom"

        [[sources]]
        name = "issues"
        kind = "github_issues"
        project = "Flatcar"
        api_url = "http://127.0.0.1:1/api"
        repo = "flatcar/Flatcar"
        labels = ["kind/roadmap", "kind/deprecation"]

        [[sources]]
        name = "board"
        kind = "github_project"
        project = "Flatcar"
        api_url = "http://127.0.0.1:1/api/graphql"
        org = "flatcar"
        project_number = 7

        [[sources]]
        name = "plans"
        kind = "roadmap_feed"
        project = "Flatcar"
        url = "http://127.0.0.1:1/roadmap.xml"

        [[outputs]]
        name = "console"
        kind = "console"
        """),
        encoding="utf-8",
    )
    return load_config(path)


def release_fetch(snapshot: str) -> ReleaseFetch:
    documents = []
    for channel in CHANNELS:
        name = f"releases-{channel}.json"
        body = history_bytes(snapshot, channel)
        documents.append(
            parse_releases_json(body, source="flatcar", project="Flatcar", url=name, doc_name=name)
        )
    updates = [DocumentUpdate(d.name, f"x/{d.name}", None, None, f"sha-{d.name}", True) for d in documents]
    return ReleaseFetch(updates=updates, documents=documents, deprecation_notes=True)


def no_messages(event: AnyEvent) -> list[OutboxMessage]:
    return [OutboxMessage(sink="console", message_id=f"<{event.key}>", payload={"line": event.key})]


def test_every_configurable_kind_has_one_registry_entry(tmp_path: Path) -> None:
    assert set(KINDS) == set(SOURCE_KINDS)
    assert all(KINDS[name].kind == name for name in KINDS)  # each kind's module loads when asked for
    config = write_config(tmp_path)
    for source in config.sources:
        kind = kind_of(source)
        assert kind.kind == source.kind
        assert kind.roadmap == source.is_roadmap
        # the registry knows the documents; until config stops knowing them too, both agree
        assert kind.documents(source) == source.documents()


def test_first_poll_is_a_silent_baseline_and_the_next_announces_in_order(tmp_path: Path) -> None:
    source = write_config(tmp_path).source("flatcar")
    first = plan_poll(source, release_fetch(SNAPSHOTS[0]), Known(), render=no_messages)
    assert first.error is None and first.events == () and first.messages == ()
    assert first.baselined == tuple(f"releases-{c}.json" for c in CHANNELS)
    assert first.silent == len(first.new_releases) > 0
    known = Known(
        documents={name: NOW for name in first.baselined},
        releases={(r.stream, r.version): r for r in first.new_releases},
        notices=first.notices,
        reached=frozenset((r.notice_id, r.channel) for r in first.reaches),
    )
    later = plan_poll(source, release_fetch(SNAPSHOTS[1]), known, render=no_messages)
    assert later.baselined == () and later.events
    assert [e for e, _ in later.messages] == list(later.events)
    assert all(len(messages) == 1 for _, messages in later.messages)
    stamps = [e.published.timestamp() for e in later.events if e.published]
    assert stamps == sorted(stamps)  # oldest first
    result = PollResult.of(later)
    assert result.ok and result.new_releases == len(later.new_releases)
    assert result.announced == tuple(e.key for e in later.events)


def test_announce_on_baseline_override_is_what_preview_uses(tmp_path: Path) -> None:
    source = write_config(tmp_path).source("flatcar")
    plan = plan_poll(source, release_fetch(SNAPSHOTS[1]), Known(), render=no_messages, announce_on_baseline=1)
    releases = [e for e in plan.events if isinstance(e, Event)]
    assert len({e.release.stream for e in releases}) == len(releases) == len(CHANNELS)  # newest per document
    assert all(isinstance(e, Event | DeprecationEvent) for e in plan.events)


def test_a_template_error_plans_a_failure_that_records_nothing_else(tmp_path: Path) -> None:
    source = write_config(tmp_path).source("flatcar")

    def broken(event: AnyEvent) -> list[OutboxMessage]:
        raise RenderError("irc/release.j2: boom")

    plan = plan_poll(source, release_fetch(SNAPSHOTS[1]), Known(), render=broken, announce_on_baseline=1)
    assert plan.render_failed and plan.error and "rendering failed" in plan.error and "boom" in plan.error
    assert (plan.updates, plan.new_releases, plan.events, plan.messages) == ((), (), (), ())
    assert PollResult.of(plan) == PollResult("flatcar", ok=False, error=plan.error)
    with Store(tmp_path / "state.sqlite3") as store:
        record(store, plan, now=NOW)
        status = store.source_status("flatcar")
        assert status is not None and status.error_streak == 1 and status.last_success_at is None
        assert store.known_releases("flatcar") == {} and store.documents("flatcar") == {}


def test_record_writes_the_plan_and_load_known_reads_it_back(tmp_path: Path) -> None:
    source = write_config(tmp_path).source("flatcar")
    plan = plan_poll(source, release_fetch(SNAPSHOTS[1]), Known(), render=no_messages, announce_on_baseline=1)
    with Store(tmp_path / "state.sqlite3") as store:
        ids = record(store, plan, now=NOW)
        assert len(ids) == len(plan.events)
        known = load_known(store, "flatcar", roadmap=False)
        assert set(known.documents) == {u.name for u in plan.updates}
        assert set(known.releases) == {(r.stream, r.version) for r in plan.new_releases}
        assert {n.id for n in known.notices} == {n.id for n in plan.notices}
        again = plan_poll(source, release_fetch(SNAPSHOTS[1]), known, render=no_messages)
        assert again.events == () and again.new_releases == ()


def test_fetch_errors_and_rate_limits_become_the_poll_error(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    item = RoadmapItem(source="issues", project="Flatcar", id="flatcar/Flatcar#1", title="Plan", state="open")
    fetched = RoadmapFetch(
        documents=[RoadmapDocument("issues-kind/roadmap", (item,), complete=False)],
        errors=["source 'issues': HTTP 500"],
        retry_after=120.0,
        rate_limited="rate limit exhausted, resets in 120s",
        every_document=("issues-kind/roadmap", "issues-kind/deprecation"),
    )
    plan = plan_poll(config.source("issues"), fetched, Known(), render=no_messages)
    assert plan.roadmap and plan.roadmap_items == (item,) and plan.roadmap_absent == ()
    assert plan.error == "source 'issues': HTTP 500; rate limit exhausted, resets in 120s"
    assert plan.fetch_errors == ("source 'issues': HTTP 500",) and plan.retry_after == 120.0
    assert PollResult.of(plan).retry_after == 120.0 and not PollResult.of(plan).ok


def test_a_fetch_of_an_unknown_shape_is_refused(tmp_path: Path) -> None:
    from bot.fetched import SourceFetch

    source = write_config(tmp_path).source("flatcar")
    with pytest.raises(TypeError, match="flatcar"):
        plan_poll(source, SourceFetch(), Known(), render=no_messages)
    assert isinstance(PollPlan("x"), PollPlan)
