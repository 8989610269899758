"""Channel commands over state built from real Flatcar releases JSON (snapshot of 2025-03-20)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.commands import StateView, answer, current_by_stream
from bot.model import Release
from bot.sources.flatcar import parse_releases_json

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "history" / "2025-03-20-3e9fd11f"
LINK = "https://www.flatcar.org/releases#release-{}"


def _load(channel: str) -> tuple[Release, ...]:
    name = f"releases-{channel}.json"
    body = gzip.decompress((SNAPSHOT / f"{name}.gz").read_bytes())
    document = parse_releases_json(
        body,
        source="flatcar",
        project="Flatcar",
        url=f"https://www.flatcar.org/releases-json/{name}",
        doc_name=name,
    )
    return document.releases


@pytest.fixture(scope="module")
def releases() -> tuple[Release, ...]:
    return tuple(r for channel in ("alpha", "beta", "stable", "lts") for r in _load(channel))


@pytest.fixture(scope="module")
def state(releases: tuple[Release, ...]) -> StateView:
    return StateView.of(releases)


def test_snapshot_is_what_the_tests_expect(state: StateView):
    current = {stream: r.version for (project, stream), r in current_by_stream(state).items()}
    assert current == {
        "alpha": "4230.0.1",
        "beta": "4230.1.0",
        "stable": "4152.2.2",
        "lts-2024": "4081.3.2",
        "lts-2023": "3510.3.7",
    }
    assert len(state.releases) == 36


# --------------------------------------------------------------------------------------------------
# !release <channel>
# --------------------------------------------------------------------------------------------------


def test_release_stable(state: StateView):
    assert answer("!release stable", state) == [
        "Flatcar stable 4152.2.2 (2025-03-20) — kernel 6.6.83, systemd 255, docker 27.2.1, "
        "containerd 1.7.23, ignition 2.20.0 — " + LINK.format("4152.2.2")
    ]


def test_release_channel_is_case_insensitive_and_ignores_extra_words(state: StateView):
    assert answer("!release STABLE", state) == answer("!release stable", state)
    assert answer("!RELEASE Stable please", state) == answer("!release stable", state)
    assert answer("   !release   stable   ", state) == answer("!release stable", state)


def test_release_beta_and_alpha(state: StateView):
    (beta,) = answer("!release beta", state) or []
    assert beta.startswith("Flatcar beta 4230.1.0 (2025-03-20) — kernel 6.6.83, systemd 256, ")
    assert beta.endswith(LINK.format("4230.1.0"))
    (alpha,) = answer("!release alpha", state) or []
    assert alpha.startswith("Flatcar alpha 4230.0.1 (2025-02-18) — kernel 6.6.74")
    assert alpha.endswith(LINK.format("4230.0.1"))


def test_release_lts_is_one_line_every_stream_newest_first(state: StateView):
    assert answer("!release lts", state) == [
        "Flatcar LTS, newest first: LTS-2024 4081.3.2 (2025-03-20, kernel 6.6.83) "
        + LINK.format("4081.3.2")
        + " | LTS-2023 3510.3.7 (2025-03-20, kernel 5.15.179) "
        + LINK.format("3510.3.7")
    ]


def test_release_one_lts_stream(state: StateView):
    lines = answer("!release lts-2023", state)
    assert lines is not None
    assert len(lines) == 1
    assert lines[0].startswith("Flatcar LTS-2023 3510.3.7 (2025-03-20) — kernel 5.15.179")
    assert "4081.3.2" not in lines[0]


def test_release_lts_stream_case_insensitive(state: StateView):
    lines = answer("!release LTS-2024", state)
    assert lines is not None
    assert len(lines) == 1
    assert lines[0].startswith("Flatcar LTS-2024 4081.3.2 (2025-03-20) — kernel 6.6.83")
    assert answer("!release lts-2024", state) == lines


# --------------------------------------------------------------------------------------------------
# !release (summary)
# --------------------------------------------------------------------------------------------------


def test_release_summary(state: StateView):
    assert answer("!release", state) == [
        "Flatcar: alpha 4230.0.1 (2025-02-18) | beta 4230.1.0 (2025-03-20) | stable 4152.2.2 (2025-03-20) "
        "| LTS-2024 4081.3.2 (2025-03-20) | LTS-2023 3510.3.7 (2025-03-20)"
    ]


def test_release_summary_one_line_per_project(releases: tuple[Release, ...]):
    other = Release(
        source="ignition",
        project="Ignition",
        stream="releases",
        channel="releases",
        version="2.21.0",
        published=datetime(2025, 3, 1, tzinfo=UTC),
    )
    lines = answer("!release", StateView.of((*releases, other)))
    assert lines is not None
    assert len(lines) == 2
    assert lines[0].startswith("Flatcar: alpha 4230.0.1 (2025-02-18) | beta 4230.1.0")
    assert lines[1] == "Ignition: releases 2.21.0 (2025-03-01)"


# --------------------------------------------------------------------------------------------------
# !release <version>
# --------------------------------------------------------------------------------------------------


def test_release_by_version(state: StateView):
    (line,) = answer("!release 4230.1.0", state) or []
    assert line.startswith("Flatcar beta 4230.1.0 (2025-03-20) — kernel 6.6.83")
    assert line.endswith(LINK.format("4230.1.0"))


def test_release_by_version_older_release(state: StateView):
    stable = [r for r in state.releases if r.stream == "stable"]
    oldest = min(stable, key=lambda r: r.published or datetime.max.replace(tzinfo=UTC))
    (line,) = answer(f"!release {oldest.version}", state) or []
    assert oldest.published is not None
    assert line.startswith(f"Flatcar stable {oldest.version} ({oldest.published:%Y-%m-%d})")


def test_release_by_version_lts(state: StateView):
    (line,) = answer("!release 3510.3.7", state) or []
    assert line.startswith("Flatcar LTS-2023 3510.3.7 (2025-03-20)")


def test_release_unknown_version(state: StateView):
    assert answer("!release 9999.0.0", state) == ["no release 9999.0.0 is known"]


# --------------------------------------------------------------------------------------------------
# Other lines
# --------------------------------------------------------------------------------------------------


def test_release_unknown_channel_lists_known(state: StateView):
    assert answer("!release nosuch", state) == [
        "unknown channel 'nosuch'; known: alpha, beta, stable, lts-2024, lts-2023, lts"
    ]


def test_help(state: StateView):
    (line,) = answer("!help", state) or []
    assert line.startswith("commands: !release — current version of every channel;")
    assert "!release <channel> (alpha, beta, stable, lts, lts-YYYY)" in line
    assert "!release <version>" in line
    assert "!help [command] — this text, or one command's" in line


def test_unknown_command_hints_help(state: StateView):
    assert answer("!relase stable", state) == ["unknown command 'relase'; try !help"]
    assert answer("?frobnicate", state, prefix="?") == ["unknown command 'frobnicate'; try ?help"]


def test_unknown_command_is_truncated(state: StateView):
    (line,) = answer("!" + "x" * 500, state) or []
    assert line == f"unknown command {'x' * 30!r}; try !help"


@pytest.mark.parametrize(
    "line",
    ["release stable", "hello !release stable", "", "   ", "!", "!   ", "?release stable"],
)
def test_non_commands_get_no_reply(state: StateView, line: str):
    assert answer(line, state) is None


def test_custom_prefix(state: StateView):
    assert answer("?release stable", state, prefix="?") == answer("!release stable", state)
    assert answer("!release stable", state, prefix="?") is None
    (line,) = answer("?help", state, prefix="?") or []
    assert line.startswith("commands: ?release — ")
    assert "!" not in line
    assert answer("rb: release lts-2023", state, prefix="rb: ") == answer("!release lts-2023", state)


def test_empty_state():
    empty = StateView.of([])
    for line in ("!release", "!release stable", "!release 4152.2.2", "!release nosuch"):
        assert answer(line, empty) == ["no releases known yet — the first poll has not completed"]
    (help_line,) = answer("!help", empty) or []
    assert help_line.startswith("commands:")


def test_unknown_date():
    undated = Release(source="x", project="X", stream="stable", channel="stable", version="1.0.0")
    assert answer("!release stable", StateView.of([undated])) == ["X stable 1.0.0 (unknown date)"]


# --------------------------------------------------------------------------------------------------
# Injection: replies are single safe IRC lines
# --------------------------------------------------------------------------------------------------

FORBIDDEN = ("\r", "\n", "\x00", "\x01", "\x03", "\x02", "\x0f", "\x16", "\x1d", "\x1f", "\x7f", "\x85")
EVIL = "\r\nPRIVMSG #x :evil\x00\x01ACTION waves\x01\x0304,12red\x03\x02bold\x0f\u2028"


def _assert_safe(lines: list[str] | None) -> list[str]:
    assert lines, lines
    for line in lines:
        for ch in FORBIDDEN:
            assert ch not in line, (ch, line)
        assert line == line.strip()
    return lines


@pytest.fixture
def evil_state(releases: tuple[Release, ...]) -> StateView:
    evil = Release(
        source="flatcar",
        project="Flatcar" + EVIL,
        stream="stable",
        channel="stable",
        version="9999.0.0" + EVIL,
        title="title" + EVIL,
        published=datetime(2025, 4, 1, tzinfo=UTC),
        link="https://example.org/" + EVIL,
        packages={"kernel": "6.6" + EVIL, "systemd": EVIL},
    )
    evil_lts = Release(
        source="flatcar",
        project="Flatcar",
        stream="lts-2099" + EVIL,
        channel="lts",
        version="9999.1.0",
        link=EVIL,
    )
    return StateView.of((*releases, evil, evil_lts))


@pytest.mark.parametrize(
    "line", ["!release", "!release stable", "!release lts", "!release nosuch", "!release 9999.1.0"]
)
def test_untrusted_release_fields_cannot_inject(evil_state: StateView, line: str):
    lines = _assert_safe(answer(line, evil_state))
    # the evil releases are really in the replies: their text survives as harmless words on one line
    assert "PRIVMSG #x :evilACTION wavesredbold" in " ".join(lines)


def test_untrusted_release_fields_become_one_harmless_line(evil_state: StateView):
    lines = _assert_safe(answer("!release stable", evil_state))
    assert len(lines) == 2  # the real Flatcar project, then the evil one (another project name)
    assert lines[0].startswith("Flatcar stable 4152.2.2 (2025-03-20)")
    junk = "PRIVMSG #x :evilACTION wavesredbold"  # colour codes are removed with their digits
    assert lines[1] == (
        f"Flatcar {junk} stable 9999.0.0 {junk} (2025-04-01) — kernel 6.6 {junk} , systemd {junk} "
        f"— https://example.org/ {junk}"
    )


def test_evil_version_by_version_lookup_is_not_found_safely(evil_state: StateView):
    # The version contains junk, so it is not a plain dotted version and never matches a query.
    assert answer("!release 9999.0.0", evil_state) == ["no release 9999.0.0 is known"]


@pytest.mark.parametrize(
    "line",
    [
        "!release stable\r\nQUIT",
        "!release stable\r\nPRIVMSG #x :evil",
        "!release\x00 stable",
        "!release \x01ACTION\x01",
        "!release \x0304nosuch\x03",
        "!rel\x01ease stable",
        "!release nosuch\r\nQUIT :bye",
        "!release 9999.0.0\x00",
        "!\x01help",
    ],
)
def test_query_arguments_cannot_inject(state: StateView, line: str):
    _assert_safe(answer(line, state))


def test_query_with_crlf_answers_the_first_line_only(state: StateView):
    assert answer("!release stable\r\nQUIT", state) == answer("!release stable", state)


def test_unknown_channel_echo_is_sanitised(state: StateView):
    (line,) = _assert_safe(answer("!release \x0304nosuch\x03\x01", state))
    assert line.startswith("unknown channel ")
    assert line.endswith("; known: alpha, beta, stable, lts-2024, lts-2023, lts")


def test_punctuation_after_prefix_is_chatter_not_a_command(state: StateView) -> None:
    assert answer("!!!", state) is None
    assert answer("!release " + "y" * 500, state) == [
        f"unknown channel {'y' * 30!r}; known: alpha, beta, stable, lts-2024, lts-2023, lts"
    ]
