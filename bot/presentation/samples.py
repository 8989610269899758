"""Sample events shaped like real ones: `check-config` renders every template once with them."""

from __future__ import annotations

from bot.model import AnyEvent, DeprecationEvent, Event, RoadmapEvent, SummaryEvent, SummaryRoute


def sample_events() -> list[Event]:
    """Events shaped like real Flatcar ones, used by `check-config` to render every template once."""
    from datetime import UTC, datetime

    from bot.model import PackageChange, Release

    previous = Release(
        source="sample",
        project="Flatcar",
        stream="beta",
        channel="beta",
        version="4230.1.0",
        title="4230.1.0",
        published=datetime(2025, 3, 20, 14, 5, tzinfo=UTC),
        link="https://www.flatcar.org/releases#release-4230.1.0",
        packages={"kernel": "6.6.83", "systemd": "256"},
    )
    release = Release(
        source="sample",
        project="Flatcar",
        stream="stable",
        channel="stable",
        version="4230.2.0",
        title="4230.2.0",
        published=datetime(2025, 4, 10, 12, 0, tzinfo=UTC),
        link="https://www.flatcar.org/releases#release-4230.2.0",
        packages={"kernel": "6.6.88", "systemd": "256", "docker": "27.4.1"},
        notes="## Changes\n\n- Linux ([CVE-2025-1](https://example.invalid))",
        notes_format="markdown",
    )
    changes = (PackageChange("kernel", "6.6.83", "6.6.88"), PackageChange("docker", None, "27.4.1"))
    lts = Release(
        source="sample",
        project="Flatcar",
        stream="lts-2024",
        channel="lts",
        version="4081.3.2",
        published=None,
        link=None,
        notes="<p>html <b>notes</b></p>",
        notes_format="html",
    )
    return [
        Event(kind="release", release=release, previous=previous, changes=changes),
        Event(kind="promotion", release=release, previous=previous, promoted_from="beta", changes=changes),
        Event(kind="release", release=lts),
    ]


def sample_plan_events() -> list[AnyEvent]:
    """Deprecation and roadmap events shaped like real ones (a notice from Flatcar 4722.0.0's notes, a
    project item), used by `check-config` to render those templates once."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from bot.model import Notice, Reach, RoadmapItem

    notice = Notice(
        source="sample",
        project="Flatcar",
        id="4722.0.0-20e239d3",
        text="Dropped support for Rackspace, including OnMetal. Rackspace-specific images are no longer "
        "built or published.",
        summary="Dropped support for Rackspace, including OnMetal. Rackspace-specific images are no longer "
        "built or published.",
        channel="alpha",
        stream="alpha",
        version="4722.0.0",
        published=datetime(2026, 6, 16, 11, 26, tzinfo=UTC),
        link="https://www.flatcar.org/releases#release-4722.0.0",
        heading="Changes",
    )
    first = Reach("sample", notice.id, "alpha", "alpha", "4722.0.0", notice.published, notice.link)
    beta = Reach(
        "sample",
        notice.id,
        "beta",
        "beta",
        "4722.1.0",
        datetime(2026, 7, 9, 12, 0, tzinfo=UTC),
        "https://www.flatcar.org/releases#release-4722.1.0",
    )
    item = RoadmapItem(
        source="sample",
        project="Flatcar",
        id="flatcar/Flatcar#1234",
        title="Sample roadmap item",
        url="https://github.com/flatcar/Flatcar/issues/1234",
        status="In progress",
        labels=("kind/feature",),
        number=1234,
        repo="flatcar/Flatcar",
        updated=datetime(2026, 7, 1, tzinfo=UTC),
    )
    roadmap_notice = Notice(
        source="sample",
        project="Flatcar",
        id="flatcar/Flatcar#1235",
        text="Deprecate the sample feature",
        summary="Deprecate the sample feature",
        channel="roadmap",
        stream="roadmap",
        version=None,
        link="https://github.com/flatcar/Flatcar/issues/1235",
        heading="kind/deprecation",
    )
    roadmap_reach = Reach("sample", roadmap_notice.id, "roadmap", "roadmap", None, None, roadmap_notice.link)
    return [
        DeprecationEvent(notice=notice, reach=first),
        DeprecationEvent(notice=notice, reach=beta),
        DeprecationEvent(notice=roadmap_notice, reach=roadmap_reach),
        RoadmapEvent(change="new", item=item),
        RoadmapEvent(change="status", item=item, previous_status="Planned"),
        RoadmapEvent(change="closed", item=replace(item, state="closed"), previous_status="In progress"),
    ]


def sample_summary() -> SummaryEvent:
    """A flood summarised: 137 new entries of a feed in one poll, the newest five named (`check-config`
    renders the summary templates with it)."""
    from datetime import UTC, datetime

    from bot.model import Release

    newest = tuple(
        Release(
            source="sample",
            project="Ignition",
            stream="releases",
            channel="releases",
            version=f"v2.{20 - k}.0",
            title=f"Ignition v2.{20 - k}.0",
            published=datetime(2025, 4, 10 - k, 12, 0, tzinfo=UTC),
            link=f"https://github.com/coreos/ignition/releases/tag/v2.{20 - k}.0",
        )
        for k in range(5)
    )
    return SummaryEvent(
        source="sample",
        project="Ignition",
        document="feed",
        count=137,
        newest=newest,
        oldest_published=datetime(2018, 6, 1, tzinfo=UTC),
        routes=(SummaryRoute("releases", "releases", "release", False),),
    )
