"""A flood summarised (issue 9, item 5): more new releases from one document in one poll than the
source's `flood_limit` are announced as one `SummaryEvent`. Pure: detection, routing, the store codec,
templates and config, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Filter, FlatcarSource, parse_config
from bot.detect import detect
from bot.errors import ConfigError
from bot.fetched import ReleaseFetch
from bot.flood import DEFAULT_FLOOD_LIMIT, floods, summarise
from bot.model import SUMMARY_NEWEST, Document, Event, Release, Snapshot, SummaryEvent
from bot.pipeline import Known, detect_poll
from bot.presentation import Renderer, irc_line, message_id, sample_summary
from bot.presentation.mailcontext import mail_context
from bot.routing import passes
from bot.store import PollRecord, Store, event_from_dict, event_to_dict
from bot.store.codec import summary_to_dict
from tests.helpers import SNAPSHOTS, history_snapshot, known_from

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def release(n: int, *, stream: str = "releases", channel: str | None = None, notes: str = "") -> Release:
    return Release(
        source="feed",
        project="Ignition",
        stream=stream,
        channel=channel or stream,
        version=f"1.{n}.0",
        title=f"Ignition 1.{n}.0",
        published=T0 + timedelta(days=n),
        link=f"https://example.invalid/releases/1.{n}.0",
        notes=notes,
        notes_format="markdown",
    )


def feed(*numbers: int, name: str = "feed") -> Snapshot:
    return Snapshot("feed", (Document(name, tuple(release(n) for n in numbers)),))


def known(*numbers: int) -> dict[tuple[str, str], Release]:
    return {(r.stream, r.version): r for r in (release(n) for n in numbers)}


# -- the decision ---------------------------------------------------------------------------------


def test_floods_only_past_the_limit_and_never_with_limit_0() -> None:
    assert DEFAULT_FLOOD_LIMIT == 20
    assert not floods(20, 20)
    assert floods(21, 20)
    assert not floods(100_000, 0)  # 0 turns summaries off
    assert floods(2, 1)


def test_up_to_the_limit_each_release_is_announced_one_by_one() -> None:
    result = detect(feed(*range(30)), known(*range(10)), baselined_documents={"feed"}, flood_limit=20)
    assert [e.release.version for e in result.events] == [f"1.{n}.0" for n in range(10, 30)]
    assert result.summaries == ()


def test_more_than_the_limit_is_one_summary_and_every_release_is_recorded() -> None:
    result = detect(feed(*range(147)), known(*range(10)), baselined_documents={"feed"}, flood_limit=20)
    assert result.events == ()
    assert len(result.new) == 137  # recorded as known: never announced later one by one
    (summary,) = result.summaries
    assert summary.count == 137
    assert summary.document == "feed"
    assert [r.version for r in summary.newest] == [f"1.{n}.0" for n in (146, 145, 144, 143, 142)]
    assert len(summary.newest) == SUMMARY_NEWEST
    assert summary.oldest_published == T0 + timedelta(days=10)
    assert summary.key == "summary:feed/feed/releases/1.146.0"
    assert summary.published == T0 + timedelta(days=146)
    assert summary.link == "https://example.invalid/releases/1.146.0"
    assert (
        summary.summary == "137 new releases in feed; newest: 1.146.0, 1.145.0, 1.144.0, 1.143.0, 1.142.0, …"
    )


def test_a_re_poll_after_the_summary_finds_nothing_new() -> None:
    first = detect(feed(*range(147)), known(*range(10)), baselined_documents={"feed"}, flood_limit=20)
    after = {**known(*range(10)), **{(r.stream, r.version): r for r in first.new}}
    again = detect(feed(*range(147)), after, baselined_documents={"feed"}, flood_limit=20)
    assert again.new == () and again.events == () and again.summaries == ()


def test_the_summary_keeps_no_notes_however_long_they_were() -> None:
    snapshot = Snapshot(
        "feed", (Document("feed", tuple(release(n, notes="x" * 100_000) for n in range(40))),)
    )
    (summary,) = detect(snapshot, {}, baselined_documents={"feed"}, flood_limit=20).summaries
    assert all(r.notes == "" for r in summary.newest)
    assert len(str(summary_to_dict(summary))) < 5000


def test_the_limit_is_per_document() -> None:
    snapshot = Snapshot(
        "feed",
        (
            Document("a", tuple(release(n, stream="a") for n in range(25))),
            Document("b", tuple(release(n, stream="b") for n in range(5))),
        ),
    )
    result = detect(snapshot, {}, baselined_documents={"a", "b"}, flood_limit=20)
    assert [s.document for s in result.summaries] == ["a"]
    assert [e.release.stream for e in result.events] == ["b"] * 5


def test_a_baseline_announces_its_announce_on_first_run_whatever_the_limit() -> None:
    # announce_on_first_run = N is the operator's own number: a baseline is never summarised
    result = detect(feed(*range(100)), {}, baselined_documents=set(), announce_on_baseline=50, flood_limit=20)
    assert len(result.events) == 50 and result.summaries == ()
    assert result.baselined == ("feed",)


def test_flatcar_a_restore_after_an_outage_is_one_summary_per_channel_document() -> None:
    # the newest real snapshot against an old state with the stable channel's recent history missing
    snap = history_snapshot(SNAPSHOTS[-1])
    everything = known_from(snap)
    stable = sorted((k for k in everything if k[0] == "stable"), key=lambda k: everything[k].published or T0)
    assert len(stable) == 10
    missing = set(stable)
    before = {k: r for k, r in everything.items() if k not in missing}
    docs = {d.name for d in snap.documents}
    result = detect(snap, before, baselined_documents=docs, flood_limit=5)
    assert result.events == ()
    (summary,) = result.summaries
    assert summary.document == "releases-stable.json" and summary.count == 10
    assert summary.project == "Flatcar" and summary.channel == "stable"
    assert {r.kind for r in summary.routes} <= {"release", "promotion"}
    assert {(r.channel, r.stream) for r in summary.routes} == {("stable", "stable")}


def test_summarise_needs_events() -> None:
    with pytest.raises(ValueError, match="nothing to summarise"):
        summarise("feed", [])


def test_the_pipeline_takes_the_source_limit_and_records_summarised_releases_silently() -> None:
    source = FlatcarSource(name="feed", flood_limit=20)
    fetched = ReleaseFetch(documents=[Document("feed", tuple(release(n) for n in range(30)))])
    plan = detect_poll(source, fetched, Known(documents={"feed": T0}))
    assert [e.kind for e in plan.events] == ["summary"]
    assert plan.summaries == plan.events
    assert len(plan.new_releases) == 30
    off = detect_poll(FlatcarSource(name="feed", flood_limit=0), fetched, Known(documents={"feed": T0}))
    assert [e.kind for e in off.events] == ["release"] * 30


# -- routing --------------------------------------------------------------------------------------


def test_a_summary_reaches_the_outputs_its_releases_would_have_reached() -> None:
    snapshot = Snapshot(
        "feed",
        (
            Document(
                "releases-lts.json",
                tuple(
                    release(n, stream="lts-2024" if n % 2 else "lts-2023", channel="lts") for n in range(30)
                ),
            ),
        ),
    )
    (summary,) = detect(snapshot, {}, baselined_documents={"releases-lts.json"}, flood_limit=20).summaries
    assert passes(Filter(), summary)
    assert passes(Filter(channels=("lts-2023",)), summary)
    assert passes(Filter(channels=("lts",)), summary)
    assert not passes(Filter(channels=("stable",)), summary)
    assert passes(Filter(kinds=("release",)), summary)
    assert passes(Filter(kinds=("summary",)), summary)
    assert not passes(Filter(kinds=("deprecation",)), summary)
    assert not passes(Filter(sources=("other",)), summary)
    assert not passes(Filter(security=True), summary)  # no release of it lists a security fix
    fixed = Snapshot(
        "feed",
        (
            Document(
                "feed",
                tuple(
                    release(n, notes="## Security fixes\n\n- Linux ([CVE-2025-1234](https://x.invalid))")
                    for n in range(25)
                ),
            ),
        ),
    )
    (secure,) = detect(fixed, {}, baselined_documents={"feed"}, flood_limit=20).summaries
    assert passes(Filter(security=True), secure)


# -- the store ------------------------------------------------------------------------------------


def test_the_summary_round_trips_through_the_codec_and_the_store(tmp_path: Path) -> None:
    from bot.store import OutboxMessage

    summary = sample_summary()
    assert event_from_dict(event_to_dict(summary)) == summary
    with Store(tmp_path / "s.sqlite3") as store:
        record = PollRecord("sample", now=T0, events=[(summary, [OutboxMessage("o", "<1@x>", {})])])
        assert len(store.commit_poll(record)) == 1
        assert len(store.commit_poll(record)) == 0  # keyed by meaning: the same summary is not queued twice
        assert [e for _, e in store.events()] == [summary]


def test_a_summary_without_releases_is_refused() -> None:
    with pytest.raises(ValueError, match="at least its newest"):
        SummaryEvent(source="s", project="p", document="d", count=3, newest=())


# -- presentation ---------------------------------------------------------------------------------


def test_every_output_kind_renders_the_summary() -> None:
    renderer = Renderer()
    summary = sample_summary()
    line = irc_line(summary, renderer)
    assert line.startswith("[Ignition] 137 new releases in feed sample (too many to announce one by one)")
    assert "v2.20.0 (2025-04-10)" in line and line.endswith(
        "https://github.com/coreos/ignition/releases/tag/v2.20.0"
    )
    assert len(line.encode()) <= 400 and "\n" not in line
    context = mail_context(summary)
    subject = renderer.render("mail/summary.subject.j2", **context)
    assert subject == "[Ignition] 137 new releases in feed sample, newest v2.20.0"
    text = renderer.render("mail/summary.txt.j2", **context)
    for n in range(16, 21):  # the newest five, each with its link
        assert f"https://github.com/coreos/ignition/releases/tag/v2.{n}.0" in text
    assert "… and 132 older ones." in text
    assert all(len(line) <= 72 or "://" in line for line in text.splitlines())
    html = renderer.render("mail/summary.html.j2", **context)
    assert '<a href="https://github.com/coreos/ignition/releases/tag/v2.16.0">v2.16.0</a>' in html
    for name in (
        "matrix/summary.txt.j2",
        "matrix/summary.html.j2",
        "discord/summary.j2",
        "discord/summary.title.j2",
        "mastodon/summary.j2",
    ):
        assert "137 new releases" in renderer.render(name, **context) or "v2.20.0" in renderer.render(
            name, **context
        )
    assert message_id(summary, "list") == "<summary.sample.feed.releases.v2.20.0.list@release-bot.invalid>"


def test_hostile_titles_stay_out_of_the_line() -> None:
    hostile = Release(
        source="feed",
        project="P",
        stream="releases",
        channel="releases",
        version="9.9.9\r\nPRIVMSG #x :owned\x1b[31m" + "A" * 500,
        title="\x07bell",
        published=T0,
    )
    summary = summarise(
        "feed", [Event(kind="release", release=release(n)) for n in range(30)] + [Event("release", hostile)]
    )
    line = irc_line(summary, Renderer())
    assert "\r" not in line and "\n" not in line and "\x1b" not in line and len(line.encode()) <= 400


# -- config ---------------------------------------------------------------------------------------


def _config(bot: dict[str, object], source: dict[str, object]) -> list[int]:
    data = {
        "bot": bot,
        "sources": [{"name": "f", "kind": "flatcar", **source}, {"name": "g", "kind": "flatcar"}],
        "outputs": [{"name": "c", "kind": "console"}],
    }
    config = parse_config(data, path=Path("/x/y.toml"))
    return [s.flood_limit for s in config.sources]


def test_flood_limit_defaults_bot_wide_and_per_source() -> None:
    assert _config({}, {}) == [20, 20]
    assert _config({"flood_limit": 50}, {}) == [50, 50]
    assert _config({"flood_limit": 50}, {"flood_limit": 0}) == [0, 50]
    with pytest.raises(ConfigError, match=r"sources\[0\]\.flood_limit"):
        _config({}, {"flood_limit": -1})
    with pytest.raises(ConfigError, match=r"bot\.flood_limit"):
        _config({"flood_limit": "many"}, {})


def test_the_atom_feed_entry_of_a_summary_is_its_mail() -> None:
    from types import SimpleNamespace

    from bot.store.announcements import Announcement
    from bot.web.feed import _entry

    summary = sample_summary()
    item = Announcement(id=1, key=summary.key, announced_at=T0, event=summary)
    entry = _entry(SimpleNamespace(renderer=Renderer()), item, "example.org,2025")  # type: ignore[arg-type]
    assert entry.title == "[Ignition] 137 new releases in feed sample, newest v2.20.0"
    assert "… and 132 older ones." in entry.text
    assert entry.link == "https://github.com/coreos/ignition/releases/tag/v2.20.0"
    assert entry.kind == "summary" and entry.id.endswith("event:summary:sample/feed/releases/v2.20.0")
