"""End-of-life LTS streams, superseded releases, one-line `!release lts`, per-command help (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.channels import end_of_life_streams, eol_from_notice
from bot.commands import StateView, answer
from bot.model import Notice, Release


def _r(stream: str, version: str, year: int, month: int = 6) -> Release:
    channel = "lts" if stream.startswith("lts") else stream
    return Release(
        source="flatcar",
        project="Flatcar",
        stream=stream,
        channel=channel,
        version=version,
        published=datetime(year, month, 1, tzinfo=UTC),
        link=f"https://www.flatcar.org/releases#release-{version}",
        packages={"kernel": "6.6.1"},
    )


RELEASES = (
    _r("stable", "4230.2.0", 2025, 3),
    _r("stable", "4230.2.1", 2025, 4),
    _r("lts-2024", "4081.3.2", 2025, 4),
    _r("lts-2023", "3510.3.7", 2025, 3),
    _r("lts-2022", "3033.3.18", 2023, 11),
    _r("lts-2021", "2605.3.9", 2022, 5),
)


def test_streams_without_release_for_the_configured_time_are_end_of_life():
    state = StateView.of(RELEASES)
    assert state.end_of_life == {"lts-2022", "lts-2021"}
    # a longer window keeps LTS-2022 (17 months before the newest release) alive
    assert StateView.of(RELEASES, eol_after_days=600).end_of_life == {"lts-2021"}
    assert StateView.of(RELEASES, eol_after_days=None).end_of_life == frozenset()


def test_the_newest_lts_stream_is_never_retired_by_age():
    only_old = (_r("lts-2022", "3033.3.18", 2023), _r("stable", "4230.2.1", 2025))
    assert StateView.of(only_old).end_of_life == frozenset()


def test_a_disappeared_current_pointer_retires_a_stream():
    state = StateView.of(RELEASES, eol_after_days=None, live_lts=frozenset({"lts-2024", "lts-2022"}))
    assert state.end_of_life == {"lts-2023", "lts-2021"}


def test_an_end_of_life_notice_retires_the_stream_it_names():
    notice = Notice(
        source="flatcar",
        project="Flatcar",
        id="n1",
        text="LTS-2023 reaches its end of life on 2025-08-01; move to LTS-2024.",
        summary="",
        channel="lts",
        stream="lts-2024",
        version="4081.3.2",
    )
    state = StateView.of(RELEASES, eol_after_days=None, notices=(notice,))
    # LTS-2024 is named too, but not in the clause that says end of life
    assert state.end_of_life == {"lts-2023"}
    assert eol_from_notice("LTS 2021 is no longer supported") == {"lts-2021"}
    assert eol_from_notice("LTS-2024 gets kernel 6.6") == set()


def test_end_of_life_streams_from_timestamps():
    day = 86400.0
    newest = {"lts-2024": 1000 * day, "lts-2023": 900 * day, "lts-2022": 700 * day, "stable": 1.0}
    assert end_of_life_streams(newest, now=1000 * day, eol_after_days=180) == {"lts-2022"}
    assert end_of_life_streams(newest, now=None, eol_after_days=180) == frozenset()


def test_release_lts_is_one_line_without_end_of_life_streams():
    state = StateView.of(RELEASES)
    (line,) = answer("!release lts", state) or []
    assert line == (
        "Flatcar LTS, newest first: LTS-2024 4081.3.2 (2025-04-01, kernel 6.6.1) "
        "https://www.flatcar.org/releases#release-4081.3.2 | LTS-2023 3510.3.7 (2025-03-01, kernel "
        "6.6.1) https://www.flatcar.org/releases#release-3510.3.7"
    )
    (every,) = answer("!release lts all", state) or []
    assert every.index("LTS-2024") < every.index("LTS-2023") < every.index("LTS-2022")
    assert "LTS-2022 3033.3.18 (2023-11-01, kernel 6.6.1, end of life)" in every
    assert "LTS-2021 2605.3.9 (2022-05-01, kernel 6.6.1, end of life)" in every


def test_release_summary_leaves_out_end_of_life_streams():
    (line,) = answer("!release", StateView.of(RELEASES)) or []
    assert line == (
        "Flatcar: stable 4230.2.1 (2025-04-01) | LTS-2024 4081.3.2 (2025-04-01) | "
        "LTS-2023 3510.3.7 (2025-03-01)"
    )


def test_an_end_of_life_stream_asked_by_name_says_so():
    (line,) = answer("!release lts-2021", StateView.of(RELEASES)) or []
    assert line.startswith("Flatcar LTS-2021 2605.3.9 (2022-05-01)")
    assert line.endswith(" — LTS-2021 is past its end of life")


def test_a_superseded_release_names_the_current_one():
    (line,) = answer("!release 4230.2.0", StateView.of(RELEASES)) or []
    assert line.startswith("Flatcar stable 4230.2.0 (2025-03-01)")
    assert line.endswith(" — superseded by 4230.2.1 (stable since 2025-04-01)")
    (current,) = answer("!release 4230.2.1", StateView.of(RELEASES)) or []
    assert "superseded" not in current


def test_help_per_command_with_an_example():
    (line,) = answer("!help release", StateView.of(RELEASES)) or []
    assert line.startswith("!release [channel|version|lts [all]] — ")
    assert line.endswith("Example: !release stable")
    assert answer("?help ?cve", StateView.of(()), prefix="?") == [
        "?cve <CVE-…|GHSA-…> — which release of each channel first lists the fix. Example: ?cve CVE-2024-6387"
    ]
    (unknown,) = answer("!help frob", StateView.of(())) or []
    assert unknown.startswith("no command 'frob'; commands: !release, !changes")
