"""Deprecation notices: the extractor on real Flatcar release notes (golden), and notices followed across
channels with real releases (tests/data/releases-selected.json.gz) and the real history snapshots."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.deprecations import detect_deprecations, extract_notices, notice_id, shorten, similar
from bot.detect import detect
from bot.model import DeprecationEvent, Notice, Reach, Release
from bot.sources.flatcar import parse_releases_json
from tests.helpers import DATA, SNAPSHOTS, check_golden, history_snapshot, known_from

NOTES = DATA / "notes"
NOTICE_RELEASES = (
    "1855.0.0",  # 2018: plain "Changes:" labels
    "2345.3.1",  # a "possible breaking change" in a bug fix, backported to stable first
    "2605.31.1",  # the end of LTS-2021
    "2783.0.0",
    "2801.0.0",
    "2857.0.0",
    "2969.0.0",
    "3794.0.0",
    "3941.0.0",
    "4344.0.0",
    "4722.0.0",
)
ORDINARY_RELEASES = ("1688.5.3", "2512.2.0", "3033.3.18", "3374.2.0", "4081.3.10", "4152.2.2", "4230.1.0")


def notes(version: str) -> str:
    return (NOTES / f"{version}.md").read_text(encoding="utf-8")


def selected_releases() -> list[Release]:
    body = gzip.decompress((DATA / "releases-selected.json.gz").read_bytes())
    document = parse_releases_json(
        body, source="flatcar", project="Flatcar", url="x", doc_name="releases.json"
    )
    return list(document.releases)


# -- extraction ------------------------------------------------------------------------------------


def render_notices() -> str:
    out = []
    for version in (*NOTICE_RELEASES, *ORDINARY_RELEASES):
        found = extract_notices(notes(version))
        out.append(f"== {version}: {len(found)} notice(s)")
        for notice in found:
            out.append(f"- heading: {notice.heading or '(lead paragraph)'}")
            out.append(f"  summary: {notice.summary}")
            out.append("  text:")
            out += [f"    {line}".rstrip() for line in notice.text.splitlines()]
            if notice.links:
                out.append(f"  links: {' '.join(notice.links)}")
        out.append("")
    return "\n".join(out)


def test_extractor_golden() -> None:
    check_golden(DATA / "golden" / "notices.txt", render_notices())


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1855.0.0", ["Remove ARM64 architecture", "Remove developer image from SDK"]),
        (
            "2345.3.1",
            [
                "Use newest network interface naming scheme: It is a possible breaking change for some"
                " persistent network interface names"
            ],
        ),
        ("2605.31.1", ["NOTE LTS-2021 is near the designated end of its 18 month lifespan"]),
        ("2783.0.0", ["Docker 1.12 will be deprecated from Alpha, also from other channels in the future."]),
        (
            "2801.0.0",
            [
                "dhcpcd and containerd-stress will be deprecated from Alpha, also from other channels in the "
                "future (kinvolk/coreos-overlay#858)"
            ],
        ),
        ("2857.0.0", ["rkt and kubelet-wrapper are deprecated and removed from Alpha, also from subsequent"]),
        (
            "2969.0.0",
            ["Update to CGroupsV2: Flatcar Container Linux migrates to the unified cgroup hierarchy"],
        ),
        (
            "3794.0.0",
            [
                'This release removes the legacy "torcx" image customisation',
                "Docker will remove the btrfs driver entirely in a future version.",  # a sub-item's warning
            ],
        ),
        (
            "3941.0.0",
            ["Removed actool from the image and acbuild from the SDK as these tools are deprecated"],
        ),
        (
            "4344.0.0",
            ["Azure: hv_fcopy_daemon binary and its service hv_fcopy_daemon.service have been renamed"],
        ),
        (
            "4722.0.0",
            [
                "Dropped support for Equinix Metal (Packet).",
                "Dropped support for Rackspace, including OnMetal.",
                'Dropped the VMware "insecure" image.',
                "Dropped the Vagrant VirtualBox image",
            ],
        ),
    ],
)
def test_the_real_notices_are_found(version: str, expected: list[str]) -> None:
    found = extract_notices(notes(version))
    assert len(found) == len(expected), [n.summary for n in found]
    for notice, start in zip(found, expected, strict=True):
        assert notice.summary.startswith(start), notice.summary


def test_notice_headings_and_text() -> None:
    (docker,) = extract_notices(notes("2783.0.0"))
    assert docker.heading == "Deprecation"  # a **Deprecation** heading of 2021
    (breaking,) = extract_notices(notes("4344.0.0"))
    assert breaking.heading == "Breaking changes"  # a #### heading of 2025
    assert "hv_fcopy_uio_daemon.service following 6.12 Kernel update" in breaking.text
    (cgroups,) = extract_notices(notes("2969.0.0"))
    assert cgroups.heading == "Update to CGroupsV2"
    assert "New nodes will utilize cgroups v2 by default" in cgroups.text
    (rkt,) = extract_notices(notes("2857.0.0"))
    assert rkt.links == ("https://groups.google.com/g/flatcar-linux-user/c/MeinndLqJO4",)
    # the lead paragraph and the torcx Changes block are one notice; the Docker 24 block warns of btrfs
    torcx, btrfs = extract_notices(notes("3794.0.0"))
    assert torcx.heading == "" and "systemd-sysext" in torcx.text
    assert "**" not in torcx.text and "](" not in torcx.text  # Markdown is gone
    assert "Docker 24" in btrfs.text and btrfs.summary.startswith("Docker will remove the btrfs driver")


@pytest.mark.parametrize("version", ORDINARY_RELEASES)
def test_ordinary_releases_have_no_notices(version: str) -> None:
    assert extract_notices(notes(version)) == []


@pytest.mark.parametrize(
    "text",
    [
        "#### Updates:\n\n- containerd ([1.7.27](https://github.com/containerd/containerd/releases/tag/v1.7.27))\n",
        "#### Changes:\n\n- Updated locksmith to use non-deprecated resource control options\n",
        "#### Changes:\n\n- Removed the `/etc/portage/savedconfig/` folder\n",  # a plain changelog line
        "#### Bug fixes:\n\n- Fixed that the needed Flatcar extensions don't get removed on update\n",
        "#### Security fixes:\n\n- Linux (CVE-2025-1234): a deprecated syscall could crash\n",
        "**Deprecation**\n\nNote: Please note that ARM images remain experimental for now.\n",
        "Changes:\n- Removed the setup of /etc/hostname from the instance metadata\n",  # 2018 labels
        "#### Changes:\n\n- Dropped debug symbols from containerd, incus, and overlaybd system extensions\n",
        "#### Changes:\n\n- dhcpcd: Removed the dhcpcd binary from the image\n",  # *from* the image
        "## Flatcar updates\n\nNotes:\n- Previous test images have been removed from the release servers\n",
    ],
)
def test_not_notices(text: str) -> None:
    assert extract_notices(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "## Deprecations\n\n- The `foo` tool is going away\n",
        "#### Changes:\n\n- Support for bar will be removed in the next major release\n",
        "#### Changes:\n\n- :warning: Removed the baz OEM\n",
        "#### Changes:\n\n- Dropped support for Quux Cloud\n",
        "#### Changes:\n\n- The qux image is no longer built\n",
        "This release removes the legacy frobnicator.\n\n#### Security fixes:\n\n- Linux\n",
        # the 2018 era: a plain "Changes:" label and the items right below it
        "## [Upstream updates](https://x)\n\nChanges:\n- No longer publish Oracle Cloud release images\n",
        "## Flatcar updates\n\nChanges:\n- [Remove ARM64 architecture](https://groups.google.com/x)\n",
        '#### Changes:\n\n- Dropped the VMware "insecure" image. This was added a long time ago\n',
        "#### Changes:\n\n- Docker 24\n  - **Docker will remove the `btrfs` driver in future.**\n",
        "**NOTE** LTS-2021 is near the designated end of its 18 month lifespan.\n\n#### Updates:\n\n- Go\n",
        "Bug fixes:\n- Use newest naming scheme\n  - It is a possible breaking change for interface names\n",
    ],
)
def test_notices(text: str) -> None:
    assert len(extract_notices(text)) == 1


def test_a_notice_late_in_a_long_line_leads_its_summary() -> None:
    """2983.0.0's etcd v2 notice is the second sentence of a long line: the IRC summary starts there, or
    the line would be cut before it says what goes away."""
    line = (
        "* Bumped etcd and flannel to respectively `3.5.0`, `0.14.0` to get multiarch images for arm64"
        " support. _Note for users of the old etcd v2 support_: `ETCDCTL_API=2` must be set to use v2 store"
        " as well as `ETCD_ENABLE_V2=true` in the `etcd-member.service` - this support will be removed in"
        " `3.6.0` ([coreos-overlay#1179](https://github.com/kinvolk/coreos-overlay/pull/1179))"
    )
    (notice,) = extract_notices(f"**Changes**\n\n{line}\n")
    assert notice.summary.startswith("Note for users of the old etcd v2 support: ETCDCTL_API=2")
    assert "will be removed in 3.6.0" in shorten(notice.summary)
    assert notice.text.startswith("Bumped etcd and flannel")  # the whole text is kept


def test_notice_identity_ignores_markup_and_likeness() -> None:
    assert notice_id("1.0.0", "**Dropped** support for [X](https://x)") == notice_id(
        "1.0.0", "Dropped support for X"
    )
    assert notice_id("1.0.0", "a") != notice_id("1.0.1", "a")
    alpha = (
        "dhcpcd and containerd-stress will be deprecated from Alpha, also from other channels in the future"
    )
    beta = "dhcpcd and containerd-stress are deprecated and removed from Beta, also from subsequent channels"
    docker = "Docker 1.12 is deprecated and removed from Beta, also from subsequent channels in the future."
    assert similar(alpha, beta)
    assert not similar(alpha, docker)  # the shared words are generic ones


# -- following notices across channels ---------------------------------------------------------------


class Trajectories:
    """Where each notice went, looked up by the start of its summary."""

    def __init__(self, notices: list[Notice], reaches: list[Reach]) -> None:
        self.notices = notices
        self.reaches = reaches

    def __getitem__(self, start: str) -> list[str]:
        (notice,) = [n for n in self.notices if n.summary.startswith(start)]
        return [f"{r.channel} {r.version}" for r in self.reaches if r.notice_id == notice.id]


def test_notices_follow_the_channel_ladder_in_real_releases() -> None:
    releases = selected_releases()
    result = detect_deprecations([(r, True) for r in releases], [], set())
    paths = Trajectories(list(result.notices), list(result.reaches))
    assert paths["Docker 1.12 will be deprecated from Alph"] == [
        "alpha 2783.0.0",
        "beta 2801.1.0",
        "stable 2905.2.0",
        "lts 3033.3.0",
    ]
    assert paths["dhcpcd and containerd-stress will be dep"] == [
        "alpha 2801.0.0",
        "beta 2801.1.0",  # its "… are deprecated and removed from Beta" is the same notice
        "stable 2905.2.0",
        "lts 3033.3.0",
    ]
    assert paths["rkt and kubelet-wrapper are deprecated a"] == [
        "alpha 2857.0.0",
        "beta 2905.1.0",  # major 2857 never went to beta: the next beta major carries it
        "stable 2905.2.0",
        "lts 3033.3.0",
    ]
    assert paths["Update to CGroupsV2: Flatcar Container L"] == [
        "alpha 2969.0.0",
        "beta 2983.1.0",
        "stable 2983.2.0",
        "lts 3033.3.0",
    ]
    assert paths['This release removes the legacy "torcx"'] == [
        "alpha 3794.0.0",
        "beta 3815.1.0",
        "stable 3815.2.0",
        "lts 4081.3.0",
    ]
    assert paths["Dropped support for Rackspace, includin"] == ["alpha 4722.0.0", "beta 4722.1.0"]
    # the torcx heads-ups in beta 3760.1.0 and stable 3602.2.2 / 3760.2.0 name Alpha 3794.0.0: no new notice
    assert not any(n.version in ("3602.2.2", "3760.1.0") for n in result.notices)
    # an older stream's point release (LTS-2021 2605.22.1, LTS-2022 3510.3.1) moves nothing
    assert not any(r.version in ("2605.22.1", "3510.3.1", "2765.2.6") for r in result.reaches)
    # every reach of every notice is one event, keyed by meaning
    keys = [e.key for e in result.events]
    assert len(keys) == len(set(keys)) == len(result.reaches)
    assert "deprecation:flatcar/2857.0.0-c7020310/stable" in keys


def test_following_is_incremental_and_never_twice() -> None:
    releases = sorted(selected_releases(), key=lambda r: r.published or datetime.min.replace(tzinfo=UTC))
    notices: list[Notice] = []
    reached: set[tuple[str, str]] = set()
    events: list[DeprecationEvent] = []
    for release in releases:  # one poll per release, in the order they were published
        result = detect_deprecations([(release, True)], notices, reached)
        notices += result.notices
        reached |= {(r.notice_id, r.channel) for r in result.reaches}
        events += result.events
    once = detect_deprecations([(r, True) for r in releases], [], set())
    assert [e.key for e in events] == [e.key for e in once.events]
    again = detect_deprecations([(r, True) for r in releases], notices, reached)
    assert again.notices == () and again.reaches == () and again.events == ()


def test_a_backport_told_in_stable_first_is_one_notice() -> None:
    """The network interface naming change reached stable 2345.3.1 as a backport, then beta 2411.1.1 and
    alpha 2466.0.0 with the same words (real dates): one notice, announced once, not three times."""
    text = notes("2345.3.1")
    stamps = {
        "2345.3.1": (3, 31, 16),
        "2411.1.1": (3, 31, 17),
        "2466.0.0": (4, 15, 15),
        "2605.10.1": (12, 1, 0),
    }
    channels = {"2345.3.1": "stable", "2411.1.1": "beta", "2466.0.0": "alpha", "2605.10.1": "lts"}
    releases = [
        Release(
            "flatcar",
            "Flatcar",
            channels[version],
            channels[version],
            version,
            published=datetime(2020, month, day, hour, tzinfo=UTC),
            notes=text if channels[version] != "lts" else "",
            notes_format="markdown",
        )
        for version, (month, day, hour) in stamps.items()
    ]
    once = detect_deprecations([(r, True) for r in releases], [], set())
    assert [(e.stage, e.channel, e.version) for e in once.events] == [
        ("new", "stable", "2345.3.1"),
        ("reached", "lts", "2605.10.1"),
    ]
    notices: list[Notice] = []
    reached: set[tuple[str, str]] = set()
    keys: list[str] = []
    for release in releases:  # one poll each, as the bot sees them
        result = detect_deprecations([(release, True)], notices, reached)
        notices += result.notices
        reached |= {(r.notice_id, r.channel) for r in result.reaches}
        keys += [e.key for e in result.events]
    assert keys == [e.key for e in once.events]


def test_a_backport_to_an_older_beta_is_where_the_notice_reaches_beta() -> None:
    """Alpha 1883.0.0 dropped the AWS PV images; a week later beta 1855.3.0 (an older major) said the
    very same words: the notice reached beta there, not with the next beta major 1883.1.0."""
    text = "Changes:\n- Drop AWS PV images from regions which do not support PV\n"
    dated = [("alpha", "1883.0.0", 8, 29), ("beta", "1855.3.0", 9, 5), ("beta", "1883.1.0", 9, 20)]
    releases = [
        Release(
            "flatcar",
            "Flatcar",
            channel,
            channel,
            version,
            published=datetime(2018, month, day, tzinfo=UTC),
            notes=text,
            notes_format="markdown",
        )
        for channel, version, month, day in dated
    ]
    result = detect_deprecations([(r, True) for r in releases], [], set())
    assert [(e.stage, e.channel, e.version) for e in result.events] == [
        ("new", "alpha", "1883.0.0"),
        ("reached", "beta", "1855.3.0"),
    ]


def test_a_silent_release_records_silently() -> None:
    releases = selected_releases()
    result = detect_deprecations([(r, False) for r in releases], [], set())
    assert result.events == () and len(result.notices) > 10
    rkt = next(n for n in result.notices if n.summary.startswith("rkt"))
    assert DeprecationEvent(rkt, next(r for r in result.reaches if r.notice_id == rkt.id)).stage == "new"


def test_history_snapshots_baseline_then_nothing_moves() -> None:
    """The real history windows (2025-01-31 → 02-18 → 03-20): the baseline records the notices of the
    releases since 2024-06 silently; the releases of the next two windows carry none, move none."""
    first = history_snapshot(SNAPSHOTS[0])
    baseline = detect(first, {}, baselined_documents=set())
    silent = detect_deprecations([(r, False) for r in baseline.new], [], set())
    assert silent.events == ()
    assert {n.version for n in silent.notices} == {"4012.0.0", "3975.2.0", "4081.0.0", "4081.3.0"}
    notices, reached = list(silent.notices), {(r.notice_id, r.channel) for r in silent.reaches}
    known = known_from(first)
    for snapshot in SNAPSHOTS[1:]:
        current = history_snapshot(snapshot)
        detection = detect(current, known, baselined_documents={d.name for d in current.documents})
        assert detection.events  # releases are announced …
        result = detect_deprecations([(r, True) for r in detection.new], notices, reached)
        assert result.events == ()  # … but no notice is new and none reaches a channel
        known = known_from(current)


def test_history_snapshot_the_day_lts_2024_opened() -> None:
    """Replay the real 2025-01-31 snapshot from the state just before 2025-01-30, the day alpha 4230.0.0,
    beta 4186.1.0, stable 4152.2.0 and LTS 4081.3.0 (the first LTS-2024) came out: the notices of
    4012 and 4081 (and of stable 3975.2.0, the first in this window to carry the actool removal)
    reach LTS with 4081.3.0, and what only its notes say (⚠ coreos-cloudinit key conversion, niftycloud,
    and torcx and the btrfs warning — both in alpha 3794.0.0, before this window) is new in LTS."""
    snapshot = history_snapshot(SNAPSHOTS[0])
    cut = datetime(2025, 1, 30, tzinfo=UTC)
    everything = known_from(snapshot)
    before = {k: r for k, r in everything.items() if r.published and r.published < cut}
    silent = detect_deprecations([(r, False) for r in before.values()], [], set())
    detection = detect(snapshot, before, baselined_documents={d.name for d in snapshot.documents})
    assert [e.release.version for e in detection.events] == ["4230.0.0", "4186.1.0", "4152.2.0", "4081.3.0"]
    result = detect_deprecations(
        [(r, True) for r in detection.new], silent.notices, {(r.notice_id, r.channel) for r in silent.reaches}
    )
    reached = sorted(e.notice.version or "" for e in result.events if e.stage == "reached")
    new = [e.notice.summary for e in result.events if e.stage == "new"]
    assert reached == ["3975.2.0", "4012.0.0", "4081.0.0"]
    assert all(e.channel == "lts" and e.reach.version == "4081.3.0" for e in result.events)
    assert [text.split()[:4] for text in new] == [
        ["Docker", "will", "remove", "the"],  # btrfs: warned of in alpha 3794.0.0, before this window
        ["⚠", "Removed", "coreos-cloudinit", "support"],
        ["Torcx", "entered", "deprecation", "2"],
        [":warning:", "Dropped", "support", "for"],
    ]


def test_non_ladder_channels_and_other_formats_are_ignored() -> None:
    edge = Release("f", "Flatcar", "edge", "edge", "2466.99.0", notes="## Deprecation\n\n- X is deprecated\n")
    html = Release(
        "f", "Flatcar", "alpha", "alpha", "1.0.0", notes="<p>X is deprecated</p>", notes_format="html"
    )
    result = detect_deprecations([(edge, True), (html, True)], [], set())
    assert result.notices == ()


def test_notes_are_sanitised_in_summaries(tmp_path: Path) -> None:
    (found,) = extract_notices("#### Changes:\n\n- Dropped support for \x1b[31mEvil\x00 Cloud\x01\n")
    assert "\x00" not in found.summary and "\x01" not in found.summary and "\x1b" not in found.summary


# -- the pipeline: fetch → detect → store + outbox → sinks, and the !deprecations answers --------------
