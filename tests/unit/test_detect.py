"""Detection on real Flatcar history: pure code, no server."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from bot.detect import detect, package_changes, previous_release, promoted_from
from bot.model import Document, PackageChange, Release, Snapshot, version_key
from tests.helpers import SNAPSHOTS, history_snapshot, known_from, only

FIRST, SECOND, THIRD = SNAPSHOTS
DOCS = {"releases-alpha.json", "releases-beta.json", "releases-stable.json", "releases-lts.json"}


def keys(detection_events: tuple[object, ...]) -> list[str]:
    return [e.key for e in detection_events]  # type: ignore[attr-defined]


def test_first_run_records_a_silent_baseline() -> None:
    snap = history_snapshot(FIRST)
    result = detect(snap, {}, baselined_documents=set())
    assert result.events == ()
    assert len(result.new) == len(known_from(snap)) > 20
    assert set(result.baselined) == DOCS


def test_first_run_can_announce_the_newest_n_per_document() -> None:
    snap = history_snapshot(FIRST)
    result = detect(snap, {}, baselined_documents=set(), announce_on_baseline=1)
    newest = {e.release.stream: e.release.version for e in result.events}
    # one per document: the newest of the lts document is its latest release of any stream
    assert len(result.events) == 4
    assert newest["stable"] == "4152.2.0"
    assert newest["beta"] == "4186.1.0"


def test_real_snapshot_1_to_2() -> None:
    before = history_snapshot(FIRST)
    result = detect(history_snapshot(SECOND), known_from(before), baselined_documents=DOCS)
    assert sorted(keys(result.events)) == [
        "release:flatcar/alpha/4230.0.1",
        "release:flatcar/beta/4186.1.1",
        "release:flatcar/lts-2024/4081.3.1",
        "release:flatcar/stable/4152.2.1",
    ]
    dates = [e.release.published for e in result.events]
    assert dates == sorted(dates)  # type: ignore[type-var]
    stable = next(e for e in result.events if e.release.stream == "stable")
    assert stable.previous is not None and stable.previous.version == "4152.2.0"
    assert stable.changes == ()  # an openssh-only security update: no listed package moved


def test_real_snapshot_2_to_3_promotion_and_late_lts() -> None:
    before = history_snapshot(SECOND)
    result = detect(history_snapshot(THIRD), known_from(before), baselined_documents=DOCS)
    by_key = {e.key: e for e in result.events}
    assert set(by_key) == {
        "promotion:flatcar/beta/4230.1.0",
        "release:flatcar/stable/4152.2.2",
        "release:flatcar/lts-2024/4081.3.2",
        "release:flatcar/lts-2023/3510.3.7",
    }
    promotion = by_key["promotion:flatcar/beta/4230.1.0"]
    assert promotion.promoted_from == "alpha"
    assert promotion.previous is not None and promotion.previous.version == "4186.1.1"
    # An older LTS stream's point release that appears after the newer stream's is still announced.
    stable = by_key["release:flatcar/stable/4152.2.2"]
    assert stable.changes == (PackageChange("kernel", "6.6.74", "6.6.83"),)
    late = by_key["release:flatcar/lts-2023/3510.3.7"]
    assert late.previous is not None and late.previous.version == "3510.3.6"


def test_same_snapshot_again_announces_nothing() -> None:
    snap = history_snapshot(THIRD)
    assert detect(snap, known_from(snap), baselined_documents=DOCS).events == ()


def test_rerendered_and_edited_entries_announce_nothing() -> None:
    snap = history_snapshot(THIRD)
    known = known_from(snap)
    edited = Snapshot(
        snap.source,
        tuple(
            Document(
                d.name,
                tuple(
                    dataclasses.replace(r, notes=r.notes + "\n\nedited", title="re-rendered", link="x")
                    for r in reversed(d.releases)  # reordered too
                ),
            )
            for d in snap.documents
        ),
    )
    assert detect(edited, known, baselined_documents=DOCS).events == ()


def test_entries_that_leave_and_come_back_are_not_new() -> None:
    third = history_snapshot(THIRD)
    known = known_from(third)
    shrunk = Snapshot(third.source, tuple(Document(d.name, d.releases[-3:]) for d in third.documents))
    assert detect(shrunk, known, baselined_documents=DOCS).events == ()
    assert detect(third, known, baselined_documents=DOCS).events == ()


def test_channel_added_later_is_baselined_not_announced() -> None:
    first = history_snapshot(FIRST)
    known = known_from(only(first, "releases-stable.json"))
    result = detect(history_snapshot(SECOND), known, baselined_documents={"releases-stable.json"})
    assert keys(result.events) == ["release:flatcar/stable/4152.2.1"]
    assert set(result.baselined) == DOCS - {"releases-stable.json"}


def test_promotion_ladder() -> None:
    def rel(channel: str, version: str, stream: str | None = None) -> Release:
        return Release("s", "P", stream or channel, channel, version)

    alpha = rel("alpha", "4230.0.0")
    beta = rel("beta", "4230.1.0")
    assert promoted_from(alpha, [alpha]) is None
    assert promoted_from(beta, [alpha, beta]) == "alpha"
    assert promoted_from(rel("beta", "4230.1.1"), [beta]) is None
    assert promoted_from(rel("stable", "4230.2.0"), []) == "beta"
    assert promoted_from(rel("lts", "4593.3.0", "lts-2026"), [rel("lts", "4081.3.9", "lts-2024")]) == "stable"
    assert promoted_from(rel("releases", "1.0.0"), []) is None


def test_previous_release_uses_numeric_order() -> None:
    pool = [Release("s", "P", "stable", "stable", v) for v in ("4593.2.9", "4593.2.10", "4593.2.2")]
    target = Release("s", "P", "stable", "stable", "4593.2.11")
    previous = previous_release(target, pool)
    assert previous is not None and previous.version == "4593.2.10"
    assert version_key("4593.2.10") > version_key("4593.2.9")


def test_package_changes_key_packages_first() -> None:
    changes = package_changes(
        {"kernel": "6.6.1", "rkt": "1.29", "docker": "27"},
        {"kernel": "6.6.2", "docker": "27", "containerd": "2.0", "zzz": "1"},
    )
    assert [c.name for c in changes] == ["kernel", "containerd", "rkt", "zzz"]
    assert changes[1] == PackageChange("containerd", None, "2.0")
    assert changes[2] == PackageChange("rkt", "1.29", None)


def test_events_are_ordered_by_release_date() -> None:
    day = datetime(2025, 1, 1, tzinfo=UTC)
    old = Release("s", "P", "stable", "stable", "1.0.1", published=day.replace(day=2))
    new = Release("s", "P", "stable", "stable", "1.0.2", published=day.replace(day=3))
    base = Release("s", "P", "stable", "stable", "1.0.0", published=day)
    result = detect(
        Snapshot("s", (Document("d", (new, old)),)), {("stable", "1.0.0"): base}, baselined_documents={"d"}
    )
    assert [e.release.version for e in result.events] == ["1.0.1", "1.0.2"]
    assert result.events[1].previous == old
