"""`!changes <channel|version>` over real Flatcar release data (snapshot of 2025-03-20)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.commands import StateView, answer, describe_changes
from bot.model import Release
from tests.unit.test_commands import LINK, releases, state

__all__ = ["releases", "state"]


def test_changes_stable(state: StateView):
    assert answer("!changes stable", state) == [
        "Flatcar stable 4152.2.2 (2025-03-20) since 4152.2.1 (2025-02-18): kernel 6.6.74 → 6.6.83 — "
        + LINK.format("4152.2.2")
    ]


def test_changes_by_version(state: StateView):
    assert answer("!changes 4230.1.0", state) == [
        "Flatcar beta 4230.1.0 (2025-03-20) since 4186.1.1 (2025-02-18): kernel 6.6.74 → 6.6.83; "
        "systemd 255 → 256 — " + LINK.format("4230.1.0")
    ]


def test_changes_lts_every_stream(state: StateView):
    lines = answer("!changes lts", state) or []
    assert [line.split(" since ")[0] for line in lines] == [
        "Flatcar LTS-2024 4081.3.2 (2025-03-20)",
        "Flatcar LTS-2023 3510.3.7 (2025-03-20)",
    ]


def test_changes_usage_unknown_and_empty(state: StateView):
    assert answer("!changes", state) == ["usage: !changes <channel|version>, e.g. !changes stable"]
    assert answer("?changes", state, prefix="?") == [
        "usage: ?changes <channel|version>, e.g. ?changes stable"
    ]
    assert answer("!changes nosuch", state) == [
        "unknown channel 'nosuch'; known: alpha, beta, stable, lts-2024, lts-2023, lts"
    ]
    assert answer("!changes 1.2.3", state) == ["no release 1.2.3 is known"]
    assert answer("!changes stable", StateView.of([])) == [
        "no releases known yet — the first poll has not completed"
    ]


def test_help_lists_changes(state: StateView):
    (line,) = answer("!help", state) or []
    assert "!changes <channel|version>" in line


def test_unknown_commands_can_be_silent(state: StateView):
    assert answer("!frobnicate", state, unknown="silent") is None
    assert answer("!frobnicate", state) == ["unknown command 'frobnicate'; try !help"]


def _r(version: str, packages: dict[str, str]) -> Release:
    return Release(
        source="s",
        project="P",
        stream="stable",
        channel="stable",
        version=version,
        published=datetime(2025, 1, 1, tzinfo=UTC),
        packages=packages,
    )


def test_describe_changes_first_none_and_many_other_packages():
    assert (
        describe_changes(_r("1.0", {}), None)
        == "P stable 1.0 (2025-01-01): the first known release of its stream"
    )
    same = {"kernel": "1"}
    assert describe_changes(_r("2.0", same), _r("1.0", same)).endswith(": no package changes")
    old = {"kernel": "1", **{f"pkg{i:02d}": "1" for i in range(12)}}
    new = {"kernel": "2", **{f"pkg{i:02d}": "2" for i in range(12)}, "fresh": "1"}
    text = describe_changes(_r("2.0", new), _r("1.0", old), max_other=3)
    assert text == (
        "P stable 2.0 (2025-01-01) since 1.0 (2025-01-01): kernel 1 → 2; "
        "13 other package(s) changed: fresh, pkg00, pkg01 and 10 more"
    )
