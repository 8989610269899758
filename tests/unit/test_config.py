"""The TOML config loader: the example file, every error naming file + key path + expectation, masking,
routing, and the `check-config` verb."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path
from typing import Any, Literal

import pytest

from bot import cli
from bot.config import (
    DEFAULT_FLATCAR_BASE_URL,
    ConsoleOutput,
    FeedSource,
    Filter,
    FlatcarSource,
    GithubIssuesSource,
    GithubProjectSource,
    IrcOutput,
    MailConfig,
    MailOutput,
    MboxOutput,
    RoadmapFeedSource,
    RoadmapSource,
    Table,
    load_config,
    masked,
    parse_config,
)
from bot.errors import ConfigError
from tests.helpers import narrow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"

# A minimal valid config; error cases append to or replace parts of it.
SOURCE = """\
[[sources]]
name = "flatcar"
kind = "flatcar"
"""
OUTPUT = """\
[[outputs]]
name = "console"
kind = "console"
"""
VALID = SOURCE + "\n" + OUTPUT


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


# --------------------------------------------------------------------------------------------------
# The example config
# --------------------------------------------------------------------------------------------------


def test_example_config_loads_with_its_documented_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # relative paths must resolve against the file's folder, not the cwd
    config = load_config(EXAMPLE)

    assert config.path == EXAMPLE
    assert config.state == ROOT / "state" / "release-bot.sqlite3"
    assert config.templates is None
    assert config.log_level == "info"
    assert config.deliver_interval == 10.0

    assert config.http.timeout == 30.0
    assert config.http.max_bytes == 33554432
    assert config.http.concurrency == 4
    assert config.http.retry_initial == 30.0
    assert config.http.retry_max == 3600.0
    assert config.http.user_agent.startswith("release-bot/{version}")

    assert [s.name for s in config.sources] == ["flatcar"]
    flatcar = config.source("flatcar")
    assert flatcar.kind == "flatcar"
    assert flatcar.project == "Flatcar"
    assert flatcar.base_url == "https://www.flatcar.org/releases-json/"
    assert flatcar.channels == ("alpha", "beta", "stable", "lts")
    assert flatcar.lts_streams == ()
    assert flatcar.release_link == "https://www.flatcar.org/releases#release-{version}"
    assert flatcar.interval == 900.0  # "15m"
    assert flatcar.announce_on_first_run == 0
    assert flatcar.documents() == [
        (f"releases-{c}.json", f"https://www.flatcar.org/releases-json/releases-{c}.json")
        for c in ("alpha", "beta", "stable", "lts")
    ]

    assert [(o.name, o.kind) for o in config.outputs] == [("console", "console"), ("mbox", "mbox")]
    console, mbox = config.outputs
    assert console.filter == Filter()
    assert isinstance(mbox, MboxOutput)
    assert mbox.path == ROOT / "state" / "announcements.mbox"
    assert mbox.path.is_absolute()
    assert not str(mbox.path).startswith(str(tmp_path))
    assert mbox.sender == "release-bot <release-bot@localhost>"
    assert mbox.to == "announce@localhost"
    assert mbox.filter == Filter(sources=("flatcar",), channels=(), kinds=("release", "promotion"))


def test_unknown_source_name_lookup_names_the_known_ones():
    config = load_config(EXAMPLE)
    with pytest.raises(ConfigError, match=r"no source named 'nope' \(known: flatcar\)"):
        config.source("nope")


def test_relative_config_path_resolves_against_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "etc"
    folder.mkdir()
    write(
        folder,
        VALID
        + """
[bot]
state = "db/state.sqlite3"
templates = "tpl"

[[outputs]]
name = "mail"
kind = "mbox"
path = "out/mail.mbox"
""",
        name="config.toml",
    )
    monkeypatch.chdir(tmp_path)
    config = load_config("etc/config.toml")
    assert config.state == folder / "db" / "state.sqlite3"
    assert config.templates == folder / "tpl"
    mbox = config.outputs[1]
    assert isinstance(mbox, MboxOutput) and mbox.path == folder / "out" / "mail.mbox"


def test_defaults_and_durations(tmp_path: Path):
    config = load_config(
        write(
            tmp_path,
            """\
[http]
timeout = 90
retry_initial = "2.5min"
retry_max = "1d"

[[sources]]
name = "flatcar"
kind = "flatcar"
interval = " 2h "
lts_streams = ["lts-2024"]

[[sources]]
name = "ignition"
kind = "feed"
url = "https://github.com/coreos/ignition/releases.atom"
interval = "30sec"
version_pattern = 'v?(\\d+\\.\\d+\\.\\d+)'

"""
            + OUTPUT,
            name="ok.toml",
        )
    )
    assert config.http.timeout == 90.0
    assert config.http.retry_initial == 150.0
    assert config.http.retry_max == 86400.0
    flatcar, feed = narrow(config.sources[0], FlatcarSource), config.sources[1]
    assert flatcar.interval == 7200.0
    assert flatcar.base_url == DEFAULT_FLATCAR_BASE_URL
    assert flatcar.documents()[-1] == (
        "releases-lts-2024.json",
        DEFAULT_FLATCAR_BASE_URL + "releases-lts-2024.json",
    )
    assert feed.kind == "feed"
    assert feed.project == "ignition"  # defaults to the name
    assert feed.stream == "releases"
    assert feed.interval == 30.0
    assert feed.version_pattern == r"v?(\d+\.\d+\.\d+)"
    assert feed.documents() == [("feed", "https://github.com/coreos/ignition/releases.atom")]
    assert config.log_level == "info"
    assert config.deliver_interval == 10.0


# --------------------------------------------------------------------------------------------------
# Errors: file, key path, what was expected
# --------------------------------------------------------------------------------------------------

# (id, TOML text, key path, fragments of what was expected)
CASES: list[tuple[str, str, str, tuple[str, ...]]] = [
    (
        "unknown-top-level-key",
        'surces = "x"\n' + VALID,
        "surces",
        ("unknown key 'surces'", "known keys here:", "sources"),
    ),
    (
        "unknown-bot-key",
        '[bot]\nlog_levle = "debug"\n\n' + VALID,
        "bot.log_levle",
        ("unknown key 'log_levle'", "log_level"),
    ),
    (
        "bad-log-level",
        '[bot]\nlog_level = "verbose"\n\n' + VALID,
        "bot.log_level",
        ("expected one of 'debug', 'info', 'warning', 'error'", "'verbose'"),
    ),
    (
        "bot-not-a-table",
        'bot = "x"\n' + VALID,
        "bot",
        ("expected a table", "str 'x'"),
    ),
    (
        "unknown-http-key",
        "[http]\ntimeuot = 5\n\n" + VALID,
        "http.timeuot",
        ("unknown key 'timeuot'", "timeout"),
    ),
    (
        "source-key-typo",
        SOURCE + 'chanels = ["stable"]\n\n' + OUTPUT,
        "sources[0].chanels",
        ("unknown key 'chanels'", "channels"),
    ),
    (
        "unknown-source-kind",
        '[[sources]]\nname = "x"\nkind = "rss"\n\n' + OUTPUT,
        "sources[0].kind",
        ("expected one of 'flatcar', 'feed'", "'rss'"),
    ),
    (
        "source-without-kind",
        '[[sources]]\nname = "x"\n\n' + OUTPUT,
        "sources[0].kind",
        ("missing; expected one of 'flatcar', 'feed'",),
    ),
    (
        "bad-source-name",
        '[[sources]]\nname = "my source"\nkind = "flatcar"\n\n' + OUTPUT,
        "sources[0].name",
        ("expected letters, digits", "'my source'"),
    ),
    (
        "bad-channel-name",
        SOURCE + 'channels = ["stable", "stabel"]\n\n' + OUTPUT,
        "sources[0].channels[1]",
        ("expected one of 'alpha', 'beta', 'stable', 'lts', 'edge'", "got 'stabel'"),
    ),
    (
        "channel-not-a-string",
        SOURCE + 'channels = ["stable", 3]\n\n' + OUTPUT,
        "sources[0].channels[1]",
        ("expected a string", "got 3"),
    ),
    (
        "channels-not-a-list",
        SOURCE + 'channels = "stable"\n\n' + OUTPUT,
        "sources[0].channels",
        ("expected a list of strings", "str 'stable'"),
    ),
    (
        "nothing-to-watch",
        SOURCE + "channels = []\n\n" + OUTPUT,
        "sources[0].channels",
        ("no channels and no lts_streams",),
    ),
    (
        "duration-with-words",
        SOURCE + 'interval = "15 minutes"\n\n' + OUTPUT,
        "sources[0].interval",
        ("expected a duration", '"15m"', "got '15 minutes'"),
    ),
    (
        "negative-duration-string",
        SOURCE + 'interval = "-5m"\n\n' + OUTPUT,
        "sources[0].interval",
        ("expected a duration", "got '-5m'"),
    ),
    (
        "interval-below-minimum",
        SOURCE + "interval = 5\n\n" + OUTPUT,
        "sources[0].interval",
        ("must be at least 10 seconds", "got 5"),
    ),
    (
        "interval-below-minimum-as-string",
        SOURCE + 'interval = "9s"\n\n' + OUTPUT,
        "sources[0].interval",
        ("must be at least 10 seconds", "got 9"),
    ),
    (
        "interval-nan",
        SOURCE + "interval = nan\n\n" + OUTPUT,
        "sources[0].interval",
        ("expected a duration", "got nan"),
    ),
    (
        "interval-inf",
        SOURCE + "interval = inf\n\n" + OUTPUT,
        "sources[0].interval",
        ("expected a duration", "got inf"),
    ),
    (
        "interval-absurdly-long",
        SOURCE + 'interval = "99999999999d"\n\n' + OUTPUT,
        "sources[0].interval",
        ("must be at most", "365 days"),
    ),
    (
        "interval-bool",
        SOURCE + "interval = true\n\n" + OUTPUT,
        "sources[0].interval",
        ("expected a duration", "got True"),
    ),
    (
        "timeout-zero",
        "[http]\ntimeout = 0\n\n" + VALID,
        "http.timeout",
        ("must be at least 1 seconds", "got 0"),
    ),
    (
        "deliver-interval-below-minimum",
        '[bot]\ndeliver_interval = "0.5s"\n\n' + VALID,
        "bot.deliver_interval",
        ("must be at least 1 seconds", "got 0.5"),
    ),
    (
        "negative-integer",
        SOURCE + "announce_on_first_run = -1\n\n" + OUTPUT,
        "sources[0].announce_on_first_run",
        ("expected an integer ≥ 0", "got -1"),
    ),
    (
        "zero-integer",
        "[http]\nconcurrency = 0\n\n" + VALID,
        "http.concurrency",
        ("expected an integer ≥ 1", "got 0"),
    ),
    (
        "bool-integer",
        "[http]\nconcurrency = true\n\n" + VALID,
        "http.concurrency",
        ("expected an integer ≥ 1", "got True"),
    ),
    (
        "bool-integer-with-minimum-zero",
        SOURCE + "announce_on_first_run = false\n\n" + OUTPUT,
        "sources[0].announce_on_first_run",
        ("expected an integer ≥ 0", "got False"),
    ),
    (
        "float-integer",
        "[http]\nmax_bytes = 1.5\n\n" + VALID,
        "http.max_bytes",
        ("expected an integer ≥ 1024", "float 1.5"),
    ),
    (
        "max-bytes-too-small",
        "[http]\nmax_bytes = 100\n\n" + VALID,
        "http.max_bytes",
        ("expected an integer ≥ 1024", "got 100"),
    ),
    (
        "ftp-base-url",
        SOURCE + 'base_url = "ftp://x"\n\n' + OUTPUT,
        "sources[0].base_url",
        ("expected an http:// or https:// URL", "'ftp://x'"),
    ),
    (
        "schemeless-base-url",
        SOURCE + 'base_url = "www.flatcar.org/releases-json/"\n\n' + OUTPUT,
        "sources[0].base_url",
        ("expected an http:// or https:// URL",),
    ),
    (
        "bad-version-pattern",
        '[[sources]]\nname = "ign"\nkind = "feed"\nurl = "https://example.org/releases.atom"\n'
        'version_pattern = "v(\\\\d+"\n\n' + OUTPUT,
        "sources[0].version_pattern",
        ("not a valid regular expression", "missing )"),
    ),
    (
        "feed-without-url",
        '[[sources]]\nname = "ign"\nkind = "feed"\n\n' + OUTPUT,
        "sources[0].url",
        ("missing; expected a string",),
    ),
    (
        "feed-with-non-http-url",
        '[[sources]]\nname = "ign"\nkind = "feed"\nurl = "file:///etc/passwd"\n\n' + OUTPUT,
        "sources[0].url",
        ("expected an http:// or https:// URL", "'file:///etc/passwd'"),
    ),
    (
        "feed-with-flatcar-key",
        '[[sources]]\nname = "ign"\nkind = "feed"\nurl = "https://example.org/a.atom"\n'
        'channels = ["stable"]\n\n' + OUTPUT,
        "sources[0].channels",
        ("unknown key 'channels'", "url"),
    ),
    (
        "duplicate-source-names",
        SOURCE + "\n" + SOURCE + "\n" + OUTPUT,
        "sources[1].name",
        ("duplicate name 'flatcar'",),
    ),
    (
        "duplicate-output-names",
        SOURCE + "\n" + OUTPUT + "\n" + OUTPUT,
        "outputs[1].name",
        ("duplicate name 'console'",),
    ),
    (
        "no-sources",
        OUTPUT,
        "sources",
        ("no sources configured", "[[sources]]"),
    ),
    (
        "sources-as-a-table",
        '[sources]\nname = "flatcar"\n\n' + OUTPUT,
        "sources",
        ("expected an array of tables ([[sources]])",),
    ),
    (
        "no-outputs",
        SOURCE,
        "outputs",
        ("no outputs configured", "[[outputs]]"),
    ),
    (
        "filter-unknown-source",
        VALID + '[outputs.filter]\nsources = ["flatcar", "nosuch"]\n',
        "outputs[0].filter.sources[1]",
        ("expected one of 'flatcar'", "got 'nosuch'"),
    ),
    (
        "filter-unknown-source-first",
        VALID + '[outputs.filter]\nsources = ["nosuch"]\n',
        "outputs[0].filter.sources[0]",
        ("expected one of 'flatcar'", "got 'nosuch'"),
    ),
    (
        "filter-unknown-event-kind",
        VALID + '[outputs.filter]\nkinds = ["deprecations"]\n',
        "outputs[0].filter.kinds[0]",
        ("expected one of 'release', 'promotion', 'deprecation', 'roadmap'", "got 'deprecations'"),
    ),
    (
        "filter-unknown-key",
        VALID + '[outputs.filter]\nchannel = ["stable"]\n',
        "outputs[0].filter.channel",
        ("unknown key 'channel'", "channels"),
    ),
    (
        "unknown-output-kind",
        SOURCE + '\n[[outputs]]\nname = "chat"\nkind = "xmpp"\n',
        "outputs[0].kind",
        ("expected one of 'console', 'mbox'", "got 'xmpp'"),
    ),
    (
        "mbox-without-path",
        SOURCE + '\n[[outputs]]\nname = "mail"\nkind = "mbox"\n',
        "outputs[0].path",
        ("missing; expected a string",),
    ),
    (
        "console-with-mbox-key",
        SOURCE + '\n[[outputs]]\nname = "c"\nkind = "console"\npath = "x.mbox"\n',
        "outputs[0].path",
        ("unknown key 'path'",),
    ),
    (
        "bad-lts-stream",
        SOURCE + 'lts_streams = ["lts-2024", "2023"]\n\n' + OUTPUT,
        "sources[0].lts_streams[1]",
        ('expected a name like "lts-2024"', "got '2023'"),
    ),
    (
        "bad-release-link-placeholder",
        SOURCE + 'release_link = "https://example.org/{release}"\n\n' + OUTPUT,
        "sources[0].release_link",
        ("bad placeholder 'release'", "{version}, {channel}, {stream}"),
    ),
    (
        "unbalanced-release-link-brace",
        SOURCE + 'release_link = "https://example.org/{version"\n\n' + OUTPUT,
        "sources[0].release_link",
        ("bad placeholder", "{version}, {channel}, {stream}"),
    ),
]


@pytest.mark.parametrize(("text", "key", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_config_errors_name_file_key_and_expectation(
    tmp_path: Path, text: str, key: str, expected: tuple[str, ...]
):
    path = write(tmp_path, text)
    error = load_error(path)
    message = str(error)
    assert message.startswith(f"{path}: {key}: "), message
    assert error.path == str(path)
    assert error.key == key
    for fragment in expected:
        assert fragment in error.detail, (fragment, message)


def test_invalid_toml_names_file_and_line(tmp_path: Path):
    path = write(tmp_path, '[bot]\nlog_level = "info"\nstate = \n')
    error = load_error(path)
    message = str(error)
    assert message.startswith(f"{path}: invalid TOML: ")
    assert "line 3" in message
    assert error.key is None


def test_invalid_toml_duplicate_key_names_line(tmp_path: Path):
    path = write(tmp_path, VALID + '\n[[sources]]\nname = "a"\nname = "b"\n')
    message = str(load_error(path))
    assert message.startswith(f"{path}: invalid TOML: ")
    assert "line 11" in message


def test_missing_file(tmp_path: Path):
    path = tmp_path / "nope.toml"
    error = load_error(path)
    assert str(error).startswith(f"{path}: cannot read config file: ")
    assert "No such file or directory" in str(error)


def test_directory_instead_of_file(tmp_path: Path):
    error = load_error(tmp_path)
    assert str(error).startswith(f"{tmp_path}: cannot read config file: ")


def test_non_utf8_file(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_bytes(VALID.encode() + b'\n# caf\xe9 in latin-1\n[bot]\nlog_level = "info"\n')
    error = load_error(path)
    assert str(error).startswith(f"{path}: not UTF-8 text: ")
    assert "0xe9" in str(error)


def test_config_error_is_a_value_error(tmp_path: Path):
    with pytest.raises(ValueError):
        load_config(write(tmp_path, OUTPUT))


def test_unknown_key_checked_in_every_source(tmp_path: Path):
    path = write(tmp_path, SOURCE + '\n[[sources]]\nname = "b"\nkind = "flatcar"\nprojct = "B"\n\n' + OUTPUT)
    assert str(load_error(path)).startswith(f"{path}: sources[1].projct: unknown key 'projct'")


def test_parse_config_takes_a_dict(tmp_path: Path):
    data = {"sources": [{"name": "f", "kind": "flatcar", "channels": ["edge"]}], "outputs": []}
    with pytest.raises(ConfigError, match=r"^/x/y\.toml: outputs: no outputs configured"):
        parse_config(data, path=Path("/x/y.toml"))
    data["outputs"] = [{"name": "c", "kind": "console"}]
    config = parse_config(data, path=Path("/x/y.toml"))
    assert narrow(config.sources[0], FlatcarSource).channels == ("edge",)
    assert config.state == Path("/x/state/release-bot.sqlite3")


# --------------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------------


def test_masked_shows_env_names_not_values(monkeypatch: pytest.MonkeyPatch):
    raw: dict[str, Any] = {
        "irc": {"password_env": "RB_TEST_PASSWORD", "token": "hunter2-token", "nick": "release-bot"},
        "outputs": [{"name": "mail", "smtp_secret": "s3cr3t", "api_tokens": ["tok-a", "tok-b"]}],
    }
    monkeypatch.delenv("RB_TEST_PASSWORD", raising=False)
    unset: dict[str, Any] = narrow(masked(raw), dict)
    assert unset["irc"]["password_env"] == "RB_TEST_PASSWORD (NOT SET)"
    assert unset["irc"]["token"] == "***"
    assert unset["irc"]["nick"] == "release-bot"
    assert unset["outputs"][0]["name"] == "mail"
    assert unset["outputs"][0]["smtp_secret"] == "***"
    assert unset["outputs"][0]["api_tokens"] == ["***", "***"]

    monkeypatch.setenv("RB_TEST_PASSWORD", "the-real-password")
    is_set: dict[str, Any] = narrow(masked(raw), dict)
    assert is_set["irc"]["password_env"] == "RB_TEST_PASSWORD (set)"
    dumped = json.dumps(is_set)
    for secret in ("the-real-password", "hunter2-token", "s3cr3t", "tok-a", "tok-b"):
        assert secret not in dumped
    # the input is not modified
    assert raw["irc"]["token"] == "hunter2-token"


# --------------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------------


def _m(
    route: Filter, source: str = "flatcar", channel: str = "stable", stream: str = "", kind: str = "release"
):
    return route.matches(source=source, channel=channel, stream=stream or channel, kind=kind)


def test_empty_route_matches_everything():
    route = Filter()
    assert _m(route)
    assert _m(route, source="ignition", channel="releases", kind="promotion")
    assert _m(route, channel="lts", stream="lts-2023")


def test_route_by_source():
    route = Filter(sources=("flatcar",))
    assert _m(route)
    assert not _m(route, source="ignition", channel="releases")


def test_route_by_channel():
    route = Filter(channels=("stable", "beta"))
    assert _m(route, channel="stable")
    assert _m(route, channel="beta")
    assert not _m(route, channel="alpha")
    assert not _m(route, channel="lts", stream="lts-2024")


def test_route_by_lts_stream():
    one = Filter(channels=("lts-2024",))
    assert _m(one, channel="lts", stream="lts-2024")
    assert not _m(one, channel="lts", stream="lts-2023")
    assert not _m(one, channel="stable")
    every = Filter(channels=("lts",))
    assert _m(every, channel="lts", stream="lts-2024")
    assert _m(every, channel="lts", stream="lts-2023")
    assert _m(every, channel="lts", stream="lts")
    assert not _m(every, channel="stable")


def test_route_by_feed_stream():
    route = Filter(channels=("releases",))
    assert _m(route, source="ignition", channel="releases")
    assert not _m(route, channel="stable")


def test_route_by_kind():
    route = Filter(kinds=("promotion",))
    assert _m(route, kind="promotion")
    assert not _m(route, kind="release")


def test_route_conditions_combine():
    route = Filter(sources=("flatcar",), channels=("lts",), kinds=("release",))
    assert _m(route, channel="lts", stream="lts-2024")
    assert not _m(route, source="other", channel="lts", stream="lts-2024")
    assert not _m(route, channel="lts", stream="lts-2024", kind="promotion")
    assert not _m(route, channel="beta")


# --------------------------------------------------------------------------------------------------
# The check-config verb
# --------------------------------------------------------------------------------------------------


def test_cli_check_config_reports_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = write(tmp_path, SOURCE + 'chanels = ["stable"]\n\n' + OUTPUT)
    assert cli.main(["-c", str(bad), "check-config"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"release-bot: error: {bad}: sources[0].chanels: unknown key 'chanels'")
    assert err.endswith("\n")


def test_cli_check_config_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    missing = tmp_path / "missing.toml"
    assert cli.main(["-c", str(missing), "check-config"]) == 2
    assert capsys.readouterr().err.startswith(f"release-bot: error: {missing}: cannot read config file")


def test_cli_check_config_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["-c", str(EXAMPLE), "check-config"]) == 0
    out, err = capsys.readouterr()
    assert "error" not in err
    assert f"# {EXAMPLE}: OK (1 source(s), 2 output(s))" in out
    assert "https://www.flatcar.org/releases-json/releases-stable.json" in out
    dump = json.loads(out[out.index("\n{") + 1 :])
    assert dump["sources"][0]["name"] == "flatcar"
    assert dump["sources"][0]["channels"] == ["alpha", "beta", "stable", "lts"]
    assert dump["outputs"][1]["filter"]["kinds"] == ["release", "promotion"]
    # nothing is written relative to the cwd
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------
# Typed objects: one dataclass per kind, the public table reader, no import cycle
# --------------------------------------------------------------------------------------------------

ALL_KINDS = """\
[[sources]]
name = "flatcar"
kind = "flatcar"

[[sources]]
name = "ignition"
kind = "feed"
url = "https://github.com/coreos/ignition/releases.atom"

[[sources]]
name = "board"
kind = "github_project"
project_number = 7

[[sources]]
name = "issues"
kind = "github_issues"

[[sources]]
name = "plans"
kind = "roadmap_feed"
url = "https://example.org/plans.atom"

[[outputs]]
name = "console"
kind = "console"

[[outputs]]
name = "box"
kind = "mbox"
path = "out.mbox"
from = "bot <bot@example.org>"

[[outputs]]
name = "list"
kind = "mail"
host = "smtp.example.org"
from = "bot <bot@example.org>"
to = "list@example.org"

[[outputs]]
name = "net"
kind = "irc"
host = "irc.example.org"
[[outputs.channels]]
name = "#c"
"""


def test_each_kind_is_its_own_dataclass(tmp_path: Path):
    config = load_config(write(tmp_path, ALL_KINDS, name="config.toml"))
    flatcar, feed, board, issues, plans = config.sources
    assert isinstance(flatcar, FlatcarSource) and flatcar.release_link.endswith("{version}")
    assert isinstance(feed, FeedSource) and (feed.stream, feed.version_pattern) == ("releases", None)
    assert isinstance(board, GithubProjectSource) and board.project_number == 7
    assert isinstance(issues, GithubIssuesSource) and issues.max_pages == 5  # its own default
    assert isinstance(plans, RoadmapFeedSource) and plans.url == "https://example.org/plans.atom"
    assert [s.kind for s in config.sources] == [
        "flatcar",
        "feed",
        "github_project",
        "github_issues",
        "roadmap_feed",
    ]
    assert [isinstance(s, RoadmapSource) for s in config.sources] == [False, False, True, True, True]
    assert [s.is_roadmap for s in config.sources] == [False, False, True, True, True]
    # a kind carries only its own keys
    assert (
        not hasattr(feed, "release_link") and not hasattr(flatcar, "url") and not hasattr(plans, "token_env")
    )
    assert board.statuses == () and issues.statuses == () and plans.statuses == ()

    console, box, mail, irc = config.outputs
    assert isinstance(console, ConsoleOutput) and console.filter == Filter()
    assert isinstance(box, MboxOutput) and (box.path, box.sender) == (
        tmp_path / "out.mbox",
        "bot <bot@example.org>",
    )
    assert isinstance(mail, MailOutput) and isinstance(mail.mail, MailConfig) and mail.mail.port == 587
    assert isinstance(irc, IrcOutput) and [c.name for c in irc.channels] == ["#c"]
    assert [o.kind for o in config.outputs] == ["console", "mbox", "mail", "irc"]
    assert not any(hasattr(o, "options") for o in config.outputs)


def test_a_kind_specific_key_on_another_kind_is_an_unknown_key(tmp_path: Path):
    text = VALID.replace('kind = "flatcar"\n', 'kind = "flatcar"\nstream = "x"\n')
    error = load_error(write(tmp_path, text))
    assert error.key == "sources[0].stream" and "unknown key" in error.detail


def test_table_reader_is_typed_and_names_the_key():
    table = Table(
        {"n": 3, "s": "x", "d": "2m", "b": True, "l": ["a"], "c": "two", "t": {"k": 1}},
        file="f.toml",
        where="outputs[1]",
    )
    assert table.integer("n") == 3 and table.string("s") == "x" and table.duration("d") == 120.0
    assert table.boolean("b", False) is True and table.str_list("l") == ("a",)
    choices: tuple[Literal["one", "two"], ...] = ("one", "two")
    assert table.choice("c", choices) == "two"
    assert table.optional_string("absent") is None and table.integer("absent2", 5) == 5
    with pytest.raises(ConfigError) as info:
        table.string("n")
    assert str(info.value) == "f.toml: outputs[1].n: expected a string, got int 3"
    with pytest.raises(ConfigError) as info:
        table.integer("b")
    assert str(info.value) == "f.toml: outputs[1].b: expected an integer ≥ 0, got True"
    with pytest.raises(ConfigError) as info:
        table.string("missing")
    assert str(info.value) == "f.toml: outputs[1].missing: missing; expected a string"
    with pytest.raises(ConfigError) as info:
        table.finish()  # "t" was never asked for
    assert str(info.value).startswith("f.toml: outputs[1].t: unknown key 't'")
    inner = table.table("t")
    with pytest.raises(ConfigError) as info:
        inner.choice("k", choices)
    assert str(info.value) == "f.toml: outputs[1].t.k: expected one of 'one', 'two', got int 1"


def _bot_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every `bot` import in a file, at any depth (lazy imports count)."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bot":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.split(".")[0] == "bot"]
    return found


def test_config_depends_on_no_other_part_of_the_bot():
    allowed = {"bot.errors", "bot.model", "bot.channels", "bot.paths"}
    package = ROOT / "bot" / "config"
    for path in sorted(package.glob("*.py")):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 450, path
        for module, _name in _bot_imports(path):
            assert module in allowed or module.startswith("bot.config"), (path.name, module)
            # inside the package, modules import modules, never the package: no cycle through __init__
            assert module != "bot.config" or path.name == "__init__.py", (path.name, module)


def test_irc_config_uses_only_public_config_names():
    imports = _bot_imports(ROOT / "bot" / "irc" / "config.py")
    from_config = [(m, n) for m, n in imports if m.startswith("bot.config")]
    assert from_config and all(m == "bot.config" and not n.startswith("_") for m, n in from_config)
    import bot.config

    assert all(n in bot.config.__all__ for _, n in from_config)
