"""Issue 9, item 3, pure: notices and channel reaches do not depend on the order in which documents
were baselined (the end-to-end replay is tests/test_partial_baseline.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.deprecations import detect_deprecations
from bot.model import Notice, Release

NOTES = "## Changes\n\n- Torcx has been removed entirely; please migrate to systemd-sysext images.\n"


def release(channel: str, version: str, day: int, notes: str = "") -> Release:
    return Release(
        source="flatcar",
        project="Flatcar",
        stream=channel,
        channel=channel,
        version=version,
        published=datetime(2024, 1, day, tzinfo=UTC),
        notes=notes,
        notes_format="markdown",
    )


BETA_OLD = release("beta", "3794.1.0", 10)  # ships alpha 3794's changes
BETA_NEWER = release("beta", "3815.1.0", 20)
ALPHA = release("alpha", "3794.0.0", 1, NOTES)


def test_an_alpha_baselined_after_beta_records_the_beta_reach_silently() -> None:
    # beta was baselined first; alpha comes later, silently (a baseline)
    result = detect_deprecations([(ALPHA, False)], [], set(), known_releases=[BETA_OLD, BETA_NEWER])
    (notice,) = result.notices
    reaches = {(r.channel, r.version) for r in result.reaches}
    assert reaches == {("alpha", "3794.0.0"), ("beta", "3794.1.0")}  # the first beta of that major
    assert result.events == ()
    # the next beta release brings nothing: beta shipped the notice already
    nxt = release("beta", "3850.1.0", 28)
    later = detect_deprecations(
        [(nxt, True)],
        [notice],
        {(r.notice_id, r.channel) for r in result.reaches},
        known_releases=[ALPHA, BETA_OLD, BETA_NEWER],
    )
    assert later.events == () and later.reaches == ()


def test_a_state_recorded_before_the_fix_announces_nothing_old() -> None:
    """A notice stored without its beta reach (the bug's state): the next beta records it silently,
    dated by the beta release that shipped it first."""
    notice = Notice(
        source="flatcar",
        project="Flatcar",
        id="3794.0.0-deadbeef",
        text="Torcx has been removed entirely",
        summary="Torcx has been removed entirely",
        channel="alpha",
        stream="alpha",
        version="3794.0.0",
    )
    nxt = release("beta", "3850.1.0", 28)
    result = detect_deprecations(
        [(nxt, True)], [notice], {(notice.id, "alpha")}, known_releases=[ALPHA, BETA_OLD, BETA_NEWER]
    )
    assert result.events == ()
    assert [(r.channel, r.version) for r in result.reaches] == [("beta", "3794.1.0")]


def test_a_channel_reaching_a_major_for_the_first_time_is_still_announced() -> None:
    notice_poll = detect_deprecations(
        [(ALPHA, True)], [], set(), known_releases=[release("beta", "3760.1.0", 5)]
    )
    (notice,) = notice_poll.notices
    assert [(e.reach.channel, e.reach.version) for e in notice_poll.events] == [("alpha", "3794.0.0")]
    arrival = detect_deprecations(
        [(BETA_OLD, True)],
        [notice],
        {(notice.id, "alpha")},
        known_releases=[ALPHA, release("beta", "3760.1.0", 5)],
    )
    assert [(e.reach.channel, e.reach.version) for e in arrival.events] == [("beta", "3794.1.0")]
